#!/usr/bin/env python3
"""The seeds' claim on a GPU: what `deterministic` costs and buys on CUDA.

    python3 bench/cuda_determinism.py [--archs cnn,transformer] [--steps 150] [--device cuda]

ml-train's own trainer runs on the CPU, so this measures the same recipes
with PyTorch (bench/reference_pytorch.py's tokenizer, data and models, the
bench/run recipes) on the device, for each arch:
- ms per training step with torch.use_deterministic_algorithms(True) +
  cudnn.deterministic + cudnn.benchmark off + CUBLAS_WORKSPACE_CONFIG, and
  without them (cudnn.benchmark on), alternating, medians;
- whether two runs of each mode end with the same weights (sha256 of the
  state dict) and the same per-step losses;
- the first op without a deterministic CUDA kernel, when there is one (the
  error PyTorch raises in strict mode; the timing then uses warn_only).
Prints one JSON object per arch.
"""
import argparse
import hashlib
import importlib.util
import json
import os
import statistics
import sys
import time

os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # before CUDA starts
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
spec = importlib.util.spec_from_file_location("ref", os.path.join(HERE, "reference_pytorch.py"))
R = importlib.util.module_from_spec(spec)
spec.loader.exec_module(R)

RECIPES = {  # bench/run's recipes
    "bow": ["--arch", "bow", "--max-len", "1024", "--lr", "0.005"],
    "cnn": ["--arch", "cnn", "--max-len", "512", "--lr", "0.002"],
    "transformer": ["--arch", "transformer", "--max-len", "256", "--lr", "0.001",
                    "--hidden-dim", "128", "--num-layers", "2"],
}


def transformer_forward(self, b):  # the reference's forward, positions on the batch's device
    T = b.tokens.size(1)
    positions = torch.arange(T, dtype=torch.int64, device=b.tokens.device)
    x = self.embed(b.tokens) + self.pos(positions).unsqueeze(0)
    x = self.encoder(x.transpose(0, 1), src_key_padding_mask=b.mask.logical_not())
    x = x.transpose(0, 1)
    m = b.mask.unsqueeze(2).to(x.dtype)
    x = (x * m).sum(1) / m.sum(1).clamp_min(1.0)
    return self.fc(self.drop(x))


R.TransformerClassifier.forward = transformer_forward


def set_mode(deterministic, warn_only=False):
    torch.use_deterministic_algorithms(deterministic, warn_only=warn_only)
    torch.backends.cudnn.deterministic = deterministic
    torch.backends.cudnn.benchmark = not deterministic


def to(b, dev):
    for k in ("tokens", "offsets", "mask", "labels"):
        v = getattr(b, k, None)
        if v is not None:
            setattr(b, k, v.to(dev, non_blocking=True))
    return b


def train(a, data, dev, steps, deterministic, warn_only=False):
    set_mode(deterministic, warn_only)
    vocab, classes, train_split = data
    torch.manual_seed(a.seed)
    torch.cuda.manual_seed_all(a.seed) if dev.type == "cuda" else None
    model = R.make_model(a, len(vocab), classes).to(dev)
    model.train()
    opt = R.make_optimizer(a, list(model.parameters()))
    gen = torch.Generator()
    gen.manual_seed(a.seed)
    order = torch.randperm(len(train_split), generator=gen)
    bag = a.arch == "bow"
    batches = [R.make_batch(train_split, order[(i * a.batch_size) % len(train_split):][:a.batch_size], bag)
               for i in range(steps)]
    batches = [to(b, dev) for b in batches]
    times, losses = [], []
    for i, b in enumerate(batches):
        if dev.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        opt.zero_grad()
        loss = F.cross_entropy(model(b), b.labels)
        loss.backward()
        opt.step()
        if dev.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
        losses.append(loss.item())
    h = hashlib.sha256()
    for k, v in model.state_dict().items():
        h.update(k.encode())
        h.update(v.detach().cpu().contiguous().numpy().tobytes())
    warm = times[len(times) // 5:]  # without the first steps (allocator, cudnn autotuning)
    return {"ms": 1000 * statistics.median(warm), "sha256": h.hexdigest()[:16],
            "losses": hashlib.sha256(json.dumps(losses).encode()).hexdigest()[:16]}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--archs", default="cnn,transformer")
    ap.add_argument("--steps", type=int, default=150)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    o = ap.parse_args()
    dev = torch.device(o.device)
    env = {"torch": torch.__version__, "device": torch.cuda.get_device_name(0) if dev.type == "cuda" else "cpu",
           "cuda": torch.version.cuda, "cudnn": torch.backends.cudnn.version() if dev.type == "cuda" else None}
    print(json.dumps(env), flush=True)
    for arch in o.archs.split(","):
        a = R.parse_args(RECIPES[arch])
        tok = R.Tokenizer(a.tokenizer, a.lowercase, a.max_len, a.ngrams)
        vocab, labels, splits, _ = R.prepare_data(a, tok)
        data = (vocab, len(labels), splits["train"])
        first_op = None
        try:
            train(a, data, dev, 3, True)
        except RuntimeError as e:
            first_op = str(e).splitlines()[0][:300]
        strict_ok = first_op is None
        runs = {True: [], False: []}
        for _ in range(o.repeats):
            for det in (False, True):  # alternate
                runs[det].append(train(a, data, dev, o.steps, det, warn_only=not strict_ok))
        out = {"arch": arch, "steps": o.steps, "batch_size": a.batch_size,
               "first_op_without_deterministic_kernel": first_op}
        for det, name in ((True, "deterministic"), (False, "default")):
            rs = runs[det]
            out[name] = {"ms_per_step": round(statistics.median(r["ms"] for r in rs), 3),
                         "bit_exact_reruns": len({r["sha256"] for r in rs}) == 1
                         and len({r["losses"] for r in rs}) == 1,
                         "state_sha256": sorted({r["sha256"] for r in rs})}
        out["speed_deterministic_over_default"] = round(
            out["default"]["ms_per_step"] / out["deterministic"]["ms_per_step"], 3)
        print(json.dumps(out), flush=True)


if __name__ == "__main__":
    sys.exit(main())
