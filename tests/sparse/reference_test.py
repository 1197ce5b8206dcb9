#!/usr/bin/env python3
"""ml-train's sparse bow steps against PyTorch's own sparse recipe.

The same model (an EmbeddingBag of mean mode with sparse gradients, then one
linear layer), the same initial weights and the same batches go through
ml-train (tests/sparse/sparse_step.cc, model.sparse with FusedAdam's lazy
Adam, LibTorch's Adagrad or SGD) and through PyTorch
(nn.EmbeddingBag(sparse=True) with SparseAdam + Adam, Adagrad or SGD). After
several steps the weights must agree to float tolerance, and the rows no
batch touched must be exactly their initial values (the update is lazy).

Usage: reference_test.py PATH/TO/sparse_step
"""
import json
import subprocess
import sys

import torch

STEP = sys.argv[1]
torch.set_num_threads(1)


def batches(gen, rows, classes, steps, untouched):
    out = []
    for _ in range(steps):
        sizes = torch.randint(0, 7, (5,), generator=gen).tolist()  # empty bags too
        tokens, offsets = [], []
        for n in sizes:
            offsets.append(len(tokens))
            # Ids below `untouched` only, with repeats within and across bags.
            tokens += torch.randint(0, untouched, (n,), generator=gen).tolist()
        labels = torch.randint(0, classes, (len(sizes),), generator=gen).tolist()
        out.append({"tokens": tokens, "offsets": offsets, "labels": labels})
    return out


def pytorch(inp):
    rows, dim, classes, lr = inp["rows"], inp["dim"], inp["classes"], inp["lr"]
    embed = torch.nn.EmbeddingBag(rows, dim, mode="mean", sparse=True)
    fc = torch.nn.Linear(dim, classes)
    with torch.no_grad():
        embed.weight.copy_(torch.tensor(inp["embed"]).view(rows, dim))
        fc.weight.copy_(torch.tensor(inp["fc_weight"]).view(classes, dim))
        fc.bias.copy_(torch.tensor(inp["fc_bias"]))
    if inp["optimizer"] == "adam":
        opts = [torch.optim.SparseAdam([embed.weight], lr=lr),
                torch.optim.Adam(fc.parameters(), lr=lr)]
    elif inp["optimizer"] == "adagrad":
        opts = [torch.optim.Adagrad(list(embed.parameters()) + list(fc.parameters()), lr=lr)]
    else:
        opts = [torch.optim.SGD(list(embed.parameters()) + list(fc.parameters()), lr=lr)]
    losses = []
    for s in inp["steps"]:
        for o in opts:
            o.zero_grad()
        x = embed(torch.tensor(s["tokens"], dtype=torch.long),
                  torch.tensor(s["offsets"], dtype=torch.long))
        loss = torch.nn.functional.cross_entropy(fc(x), torch.tensor(s["labels"]))
        loss.backward()
        assert embed.weight.grad.is_sparse
        for o in opts:
            o.step()
        losses.append(loss.item())
    return {"embed": embed.weight.detach().view(-1), "fc_weight": fc.weight.detach().view(-1),
            "fc_bias": fc.bias.detach(), "losses": losses}


def check(optimizer, seed):
    gen = torch.Generator().manual_seed(seed)
    rows, dim, classes, untouched = 40, 12, 3, 30  # rows 30..39: never in a batch
    inp = {"optimizer": optimizer, "lr": 0.05, "rows": rows, "dim": dim, "classes": classes,
           "embed": torch.randn(rows * dim, generator=gen).tolist(),
           "fc_weight": (0.3 * torch.randn(classes * dim, generator=gen)).tolist(),
           "fc_bias": (0.1 * torch.randn(classes, generator=gen)).tolist(),
           "steps": batches(gen, rows, classes, 6, untouched)}
    got = json.loads(subprocess.run([STEP], input=json.dumps(inp), capture_output=True,
                                    text=True, check=True).stdout)
    ref = pytorch(inp)
    worst = 0.0
    for key in ("embed", "fc_weight", "fc_bias"):
        a, b = torch.tensor(got[key]), ref[key].float()
        diff = (a - b).abs().max().item()
        worst = max(worst, diff)
        if not torch.allclose(a, b, rtol=1e-5, atol=1e-6):
            sys.exit(f"FAIL {optimizer}: {key} differs from PyTorch's by up to {diff:g}")
    for a, b in zip(got["losses"], ref["losses"]):
        if abs(a - b) > 1e-5 * max(1.0, abs(b)):
            sys.exit(f"FAIL {optimizer}: losses {got['losses']} vs PyTorch's {ref['losses']}")
    initial = torch.tensor(inp["embed"]).view(rows, dim)
    final = torch.tensor(got["embed"]).view(rows, dim)
    if not torch.equal(final[untouched:], initial[untouched:]):
        sys.exit(f"FAIL {optimizer}: rows no batch touched moved")
    if torch.equal(final[:untouched], initial[:untouched]):
        sys.exit(f"FAIL {optimizer}: the touched rows did not move")
    exact = all(torch.equal(torch.tensor(got[k]), ref[k].float())
                for k in ("embed", "fc_weight", "fc_bias"))
    print(f"{optimizer} (seed {seed}): agrees with PyTorch, largest difference {worst:g}"
          f"{' (bit-identical)' if exact else ''}")


for opt in ("adam", "adagrad", "sgd"):
    for seed in (1, 2):
        check(opt, seed)
