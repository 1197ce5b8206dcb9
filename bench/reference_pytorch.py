#!/usr/bin/python3
"""PyTorch (Python) reference implementation of ml-train's training recipe.

Used by the benchmark to compare speed and accuracy with the C++/LibTorch
binary on the same data, tokenizer, vocabulary, models and optimiser. It
mirrors, in order:

  src/data/reader.cc     JSONL (optionally gzip, detected from the content);
                         invalid UTF-8 is replaced byte by byte with U+FFFD
                         before the JSON is parsed.
  src/data/tokenizer.cc  word tokenizer (ASCII letters/digits and every byte
                         >= 0x80 are word bytes; . , ( ) ! ? ' are one-char
                         tokens; every other ASCII byte separates), optional
                         ASCII-only lowercasing, at most max_len tokens, then
                         word n-grams 2..N joined by a space; char tokenizer.
                         Vocab::build: 0=<pad>, 1=<unk>, then count >= min_freq
                         by count desc, token bytes asc, size <= max_vocab.
  src/data/dataset.cc    labels = sorted distinct training labels.
  src/data/loader.cc     bag layout (flat ids + offsets) for bow, padded
                         (B, T) + mask for cnn/transformer; an empty sample is
                         one <unk>.
  src/models/models.cc   bow / cnn / transformer.
  src/train/*.cc         Adam / AdamW / SGD(momentum), lr schedule, mean
                         cross-entropy per batch, evaluation in batches of 128
                         without shuffling (loss sum / N, accuracy, macro-F1).

Shuffling uses a seeded torch.randperm per epoch rather than ml-train's
splitmix64 streams: same amount and kind of work, not the same order.

Prints exactly one line of JSON on stdout at the end; everything else goes to
stderr. Stdlib + torch only. Run with Debian's /usr/bin/python3.
"""

import argparse
import codecs
import gzip
import hashlib
import json
import math
import os
import re
import sys
import time
from collections import Counter
from itertools import repeat

import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
DATA = os.path.join(ROOT, "data", "spamassassin")

PAD = 0
UNK = 1
EVAL_BATCH = 128  # kEvalBatch in trainer.cc


def log(*args):
    print(*args, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------
# Reading (reader.cc)
# --------------------------------------------------------------------------

def _replace_one_byte(exc):
    # sanitize_utf8: every byte that does not start a valid UTF-8 sequence
    # becomes one U+FFFD and decoding resumes at the next byte. Python's
    # "replace" handler would swallow a maximal invalid subpart instead.
    if isinstance(exc, UnicodeDecodeError):
        return ("\ufffd", exc.start + 1)
    raise exc


codecs.register_error("mltrain_replace", _replace_one_byte)


def read_maybe_gzip(path):
    if os.path.isdir(path):
        raise SystemExit(f"{path}: is a directory, expected a data file")
    if not os.path.exists(path):
        raise SystemExit(f"{path}: data file not found")
    with open(path, "rb") as f:
        raw = f.read()
    if raw[:2] == b"\x1f\x8b":  # gzopen decides from the content, not the name
        raw = gzip.decompress(raw)
    return raw


def field_as_label(v):
    # nlohmann: strings as they are, integers and booleans as dump().
    if isinstance(v, str):
        return v
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    return ""


def read_jsonl(path, text_field="text", label_field="label"):
    p = path[:-3] if path.endswith(".gz") else path
    if not (p.endswith(".jsonl") or p.endswith(".json") or p.endswith(".ndjson")):
        raise SystemExit(f"{path}: only JSONL data is supported by this reference script")
    # Decoding the whole file at once gives the same result as line by line:
    # '\n' is never part of a valid multi-byte sequence.
    text = read_maybe_gzip(path).decode("utf-8", errors="mltrain_replace")
    texts, labels = [], []
    loads = json.loads
    for lineno, row in enumerate(text.split("\n"), 1):
        if row.endswith("\r"):
            row = row[:-1]
        if not row.strip(" \t"):
            continue
        try:
            j = loads(row)
        except ValueError as e:
            raise SystemExit(f"{path}:{lineno}: invalid JSON: {e}")
        if not isinstance(j, dict):
            raise SystemExit(f"{path}:{lineno}: expected a JSON object per line")
        t = j.get(text_field)
        if not isinstance(t, str):
            raise SystemExit(f"{path}:{lineno}: field '{text_field}' missing or not a string")
        label = field_as_label(j.get(label_field))
        if not label:
            raise SystemExit(f"{path}:{lineno}: field '{label_field}' must be a non-empty "
                             "string or an integer")
        texts.append(t)
        labels.append(label)
    if not texts:
        raise SystemExit(f"{path}: no rows")
    return texts, labels


# --------------------------------------------------------------------------
# Tokenizer and vocabulary (tokenizer.cc)
# --------------------------------------------------------------------------

# Word bytes: ASCII letters, digits, every byte >= 0x80 (so multi-byte UTF-8
# characters stay inside words). Punctuation bytes are one-char tokens.
# Everything else (the remaining ASCII bytes) is a separator.
_WORD_RE = re.compile(rb"[0-9A-Za-z\x80-\xff]+|[.,()!?']")
_CHAR_WS_RE = re.compile(r"[ \t\n\r\f\v]+")
_ASCII_LOWER = {c: c + 32 for c in range(ord("A"), ord("Z") + 1)}


class Tokenizer:
    """Tokens are UTF-8 bytes objects, exactly the C++ std::string contents."""

    def __init__(self, kind="word", lowercase=True, max_len=1024, ngrams=1):
        if kind not in ("word", "char"):
            raise SystemExit(f"unknown tokenizer kind {kind!r}")
        self.kind = kind
        self.lowercase = lowercase
        self.max_len = max_len
        self.ngrams = ngrams

    def __call__(self, text):
        if self.kind == "char":
            return self._chars(text)
        b = text.encode("utf-8", "surrogatepass")
        if self.lowercase:
            b = b.lower()  # bytes.lower() is ASCII-only, like lower_ascii()
        toks = _WORD_RE.findall(b)
        if len(toks) > self.max_len:
            del toks[self.max_len:]
        if self.ngrams > 1:
            base = len(toks)
            join = b" ".join
            for g in range(2, self.ngrams + 1):
                toks.extend([join(toks[s:s + g]) for s in range(base - g + 1)])
        return toks

    def _chars(self, text):
        # Whitespace runs (the six ASCII whitespace bytes) become one " "
        # between characters; leading/trailing whitespace vanishes. The text
        # is valid UTF-8 here, so one token per Python character.
        s = _CHAR_WS_RE.sub(" ", text).strip(" ")
        if self.lowercase:
            s = s.translate(_ASCII_LOWER)
        s = s[:self.max_len]
        return [c.encode("utf-8", "surrogatepass") for c in s]


class Vocab:
    def __init__(self, tokens, counts):
        self.tokens = tokens
        self.counts = counts
        self.index = {t: i for i, t in enumerate(tokens)}

    @staticmethod
    def build(docs, min_freq, max_vocab):
        counts = Counter()
        for d in docs:
            counts.update(d)
        items = [(t, c) for t, c in counts.items() if c >= min_freq]
        # Count descending, then token bytes ascending (memcmp order).
        items.sort(key=lambda kv: (-kv[1], kv[0]))
        del items[max(0, max_vocab - 2):]
        return Vocab([b"<pad>", b"<unk>"] + [t for t, _ in items],
                     [0, 0] + [c for _, c in items])

    def __len__(self):
        return len(self.tokens)

    def encode(self, toks):
        return list(map(self.index.get, toks, repeat(UNK)))

    def to_bytes(self):
        return b"".join(t + b"\t" + str(c).encode() + b"\n"
                        for t, c in zip(self.tokens, self.counts))


# --------------------------------------------------------------------------
# Data preparation (dataset.cc) and batching (loader.cc)
# --------------------------------------------------------------------------

class Split:
    """Per-sample int64 id tensors (an empty text is one <unk>) + labels."""

    def __init__(self, name, ids, labels):
        self.name = name
        self.samples = [torch.tensor(x if x else [UNK], dtype=torch.int64) for x in ids]
        self.lengths = torch.tensor([len(s) for s in self.samples], dtype=torch.int64)
        self.labels = torch.tensor(labels, dtype=torch.int64)

    def __len__(self):
        return len(self.samples)


def prepare_data(args, tok):
    train_texts, train_labels = read_jsonl(args.train)
    val_texts, val_labels = read_jsonl(args.val)
    test = read_jsonl(args.test) if args.test else None
    label_names = sorted(set(train_labels))
    if len(label_names) < 2:
        raise SystemExit(f"{args.train}: needs at least two distinct labels")
    label_index = {n: i for i, n in enumerate(label_names)}

    def label_ids(path, labels):
        try:
            return [label_index[l] for l in labels]
        except KeyError as e:
            raise SystemExit(f"{path}: label {e} does not occur in the training split")

    train_tokens = [tok(t) for t in train_texts]
    vocab = Vocab.build(train_tokens, args.min_freq, args.max_vocab)
    train_ids = [vocab.encode(t) for t in train_tokens]
    del train_tokens
    n_tok = sum(len(x) for x in train_ids)
    n_unk = sum(x.count(UNK) for x in train_ids)
    splits = {"train": Split("train", train_ids, label_ids(args.train, train_labels))}
    splits["val"] = Split("val", [vocab.encode(tok(t)) for t in val_texts],
                          label_ids(args.val, val_labels))
    if test is not None:
        splits["test"] = Split("test", [vocab.encode(tok(t)) for t in test[0]],
                               label_ids(args.test, test[1]))
    stats = {"train_tokens": n_tok, "train_unk_rate": n_unk / n_tok if n_tok else 0.0}
    return vocab, label_names, splits, stats


class Batch:
    __slots__ = ("tokens", "offsets", "mask", "labels")


def make_batch(split, idx, bag, token_dropout=0.0, gen=None):
    samples = [split.samples[i] for i in idx.tolist()]
    if token_dropout > 0:
        kept = []
        for s in samples:
            keep = torch.rand(s.numel(), generator=gen) >= token_dropout
            k = s[keep]
            kept.append(k if k.numel() else s[:1])
        samples = kept
        lengths = torch.tensor([s.numel() for s in samples], dtype=torch.int64)
    else:
        lengths = split.lengths[idx]
    b = Batch()
    b.labels = split.labels[idx]
    if bag:
        b.tokens = torch.cat(samples)  # (N,)
        b.offsets = torch.zeros(len(samples), dtype=torch.int64)  # (B,) sample starts
        if len(samples) > 1:
            b.offsets[1:] = torch.cumsum(lengths[:-1], 0)
        b.mask = None
    else:
        b.tokens = nn.utils.rnn.pad_sequence(samples, batch_first=True,
                                             padding_value=PAD)  # (B, T)
        T = b.tokens.size(1)
        b.mask = torch.arange(T).unsqueeze(0) < lengths.unsqueeze(1)  # (B, T) bool
        b.offsets = None
    return b


# --------------------------------------------------------------------------
# Models (models.cc); modules are created in the same order as in C++.
# --------------------------------------------------------------------------

class BowClassifier(nn.Module):
    def __init__(self, a, vocab, classes):
        super().__init__()
        self.embed = nn.EmbeddingBag(vocab, a.embed_dim, mode="mean", sparse=a.sparse)
        self.fc1 = nn.Linear(a.embed_dim, a.hidden_dim)
        self.drop = nn.Dropout(a.dropout)
        self.fc2 = nn.Linear(a.hidden_dim, classes)

    def forward(self, b):
        x = self.embed(b.tokens, b.offsets)      # (B, E)
        x = self.drop(torch.relu(self.fc1(x)))   # (B, H)
        return self.fc2(x)                       # (B, C)


class CnnClassifier(nn.Module):
    def __init__(self, a, vocab, classes):
        super().__init__()
        self.embed = nn.Embedding(vocab, a.embed_dim, padding_idx=PAD)
        self.convs = nn.ModuleList()
        for l in range(a.num_layers):
            cin = a.embed_dim if l == 0 else a.hidden_dim
            self.convs.append(nn.Conv1d(cin, a.hidden_dim, 3, padding=1))
        self.drop = nn.Dropout(a.dropout)
        self.fc = nn.Linear(a.hidden_dim, classes)

    def forward(self, b):
        x = self.embed(b.tokens).transpose(1, 2)  # (B, E, T)
        for conv in self.convs:
            x = torch.relu(conv(x))               # (B, H, T)
        x = x.masked_fill(b.mask.logical_not().unsqueeze(1), -1e9)
        x = x.max(2).values                       # (B, H)
        return self.fc(self.drop(x))              # (B, C)


class TransformerClassifier(nn.Module):
    def __init__(self, a, vocab, classes):
        super().__init__()
        self.embed = nn.Embedding(vocab, a.embed_dim, padding_idx=PAD)
        self.pos = nn.Embedding(a.max_len, a.embed_dim)
        layer = nn.TransformerEncoderLayer(a.embed_dim, a.num_heads,
                                           dim_feedforward=a.hidden_dim,
                                           dropout=a.dropout)  # (T, B, E), post-norm, relu
        # The padded (T, B, E) path, as in LibTorch; batch_first=False also
        # keeps PyTorch's inference fast path (nested tensors) off.
        self.encoder = nn.TransformerEncoder(layer, a.num_layers, enable_nested_tensor=False)
        self.drop = nn.Dropout(a.dropout)
        self.fc = nn.Linear(a.embed_dim, classes)

    def forward(self, b):
        T = b.tokens.size(1)
        positions = torch.arange(T, dtype=torch.int64)                   # (T,)
        x = self.embed(b.tokens) + self.pos(positions).unsqueeze(0)     # (B, T, E)
        x = self.encoder(x.transpose(0, 1), src_key_padding_mask=b.mask.logical_not())
        x = x.transpose(0, 1)                                           # (B, T, E)
        m = b.mask.unsqueeze(2).to(x.dtype)                             # (B, T, 1)
        x = (x * m).sum(1) / m.sum(1).clamp_min(1.0)                    # (B, E)
        return self.fc(self.drop(x))                                    # (B, C)


def make_model(a, vocab, classes):
    if a.arch == "bow":
        return BowClassifier(a, vocab, classes)
    if a.arch == "cnn":
        return CnnClassifier(a, vocab, classes)
    return TransformerClassifier(a, vocab, classes)


# --------------------------------------------------------------------------
# Training (trainer.cc, schedule.cc)
# --------------------------------------------------------------------------

class Optimizers:
    """--sparse: the embedding table's optimizer (SparseAdam, or SGD / Adagrad,
    which take sparse gradients) beside the dense one, stepped together."""

    def __init__(self, opts):
        self.opts = opts
        self.param_groups = [g for o in opts for g in o.param_groups]

    def zero_grad(self):
        for o in self.opts:
            o.zero_grad()

    def step(self):
        for o in self.opts:
            o.step()


def make_optimizer(a, params, model=None):
    if a.sparse:
        table = [model.embed.weight]
        rest = [p for p in params if p is not model.embed.weight]
        if a.optimizer == "adam":
            return Optimizers([torch.optim.SparseAdam(table, lr=a.lr),
                               torch.optim.Adam(rest, lr=a.lr)])
        if a.optimizer == "adagrad":
            return torch.optim.Adagrad(params, lr=a.lr)
        return torch.optim.SGD(params, lr=a.lr)
    if a.optimizer == "adagrad":
        return torch.optim.Adagrad(params, lr=a.lr, weight_decay=a.weight_decay)
    if a.optimizer == "sgd":
        return torch.optim.SGD(params, lr=a.lr, momentum=a.momentum,
                               weight_decay=a.weight_decay)
    if a.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=a.lr, weight_decay=a.weight_decay)
    return torch.optim.Adam(params, lr=a.lr, weight_decay=a.weight_decay)


def learning_rate_at(a, step, total_steps, steps_per_epoch):
    base = a.lr
    if step < a.warmup_steps:
        return base * (step + 1) / a.warmup_steps
    span = float(max(1, total_steps - a.warmup_steps))
    progress = (step - a.warmup_steps) / span
    if a.scheduler == "linear":
        return base * max(0.0, 1.0 - progress)
    if a.scheduler == "cosine":
        return base * 0.5 * (1.0 + math.cos(math.pi * progress))
    if a.scheduler == "step":
        epoch = step // max(1, steps_per_epoch)
        return base * math.pow(a.gamma, epoch // a.step_size)
    return base


@torch.no_grad()
def evaluate(model, split, bag, num_classes):
    n = len(split)
    if n == 0:
        return {"loss": 0.0, "acc": 0.0, "f1": 0.0, "n": 0}
    model.eval()
    loss_sum = 0.0
    tp = torch.zeros(num_classes, dtype=torch.int64)
    fp = torch.zeros(num_classes, dtype=torch.int64)
    fn = torch.zeros(num_classes, dtype=torch.int64)
    order = torch.arange(n)
    for start in range(0, n, EVAL_BATCH):
        b = make_batch(split, order[start:start + EVAL_BATCH], bag)
        logits = model(b)  # (B, C)
        loss_sum += F.cross_entropy(logits, b.labels, reduction="sum").item()
        pred = logits.argmax(1)
        ok = pred == b.labels
        tp += torch.bincount(b.labels[ok], minlength=num_classes)
        fp += torch.bincount(pred[~ok], minlength=num_classes)
        fn += torch.bincount(b.labels[~ok], minlength=num_classes)
    model.train()
    correct = int(tp.sum())
    f1 = 0.0
    for c in range(num_classes):
        d = int(2 * tp[c] + fp[c] + fn[c])
        f1 += 2.0 * int(tp[c]) / d if d else 0.0
    return {"loss": loss_sum / n, "acc": correct / n, "f1": f1 / num_classes, "n": n}


# --------------------------------------------------------------------------
# CLI
# --------------------------------------------------------------------------

def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--arch", choices=["bow", "cnn", "transformer"], default="bow")
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=0.005)
    p.add_argument("--optimizer", choices=["sgd", "adam", "adamw", "adagrad"], default="adam")
    p.add_argument("--sparse", action="store_true",
                   help="bow: EmbeddingBag(sparse=True) with SparseAdam (adam), SGD or Adagrad "
                        "on its rows (model.sparse)")
    p.add_argument("--momentum", type=float, default=0.9, help="sgd only")
    p.add_argument("--weight-decay", type=float, default=0.0)
    p.add_argument("--grad-clip", type=float, default=0.0, help="max global L2 norm; 0 = off")
    p.add_argument("--scheduler", choices=["constant", "linear", "cosine", "step"],
                   default="constant")
    p.add_argument("--warmup-steps", type=int, default=0)
    p.add_argument("--step-size", type=int, default=1)
    p.add_argument("--gamma", type=float, default=0.5)
    p.add_argument("--token-dropout", type=float, default=0.0)
    p.add_argument("--tokenizer", choices=["word", "char"], default="word")
    p.add_argument("--no-lowercase", dest="lowercase", action="store_false")
    p.add_argument("--max-len", type=int, default=1024)
    p.add_argument("--min-freq", type=int, default=2)
    p.add_argument("--max-vocab", type=int, default=30000)
    p.add_argument("--ngrams", type=int, default=1)
    p.add_argument("--embed-dim", type=int, default=64)
    p.add_argument("--hidden-dim", type=int, default=64)
    p.add_argument("--num-layers", type=int, default=1)
    p.add_argument("--num-heads", type=int, default=2)
    p.add_argument("--dropout", type=float, default=0.1)
    p.add_argument("--threads", type=int, default=0, help="torch.set_num_threads when > 0")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--deterministic", action="store_true",
                   help="torch.use_deterministic_algorithms(True)")
    p.add_argument("--train", default=os.path.join(DATA, "train.jsonl.gz"))
    p.add_argument("--val", default=os.path.join(DATA, "val.jsonl.gz"))
    p.add_argument("--test", default=os.path.join(DATA, "test.jsonl.gz"),
                   help="'' = no test split")
    p.add_argument("--dump-vocab", metavar="PATH",
                   help="write the vocabulary as ml-train's vocab.txt (token<TAB>count)")
    p.add_argument("--check-tokenizer", metavar="FILE",
                   help="tokenize FILE with the tokenizer settings, print counts as JSON, exit")
    a = p.parse_args(argv)
    if a.max_len < 1 or a.ngrams < 1 or a.batch_size < 1 or a.epochs < 0:
        p.error("max-len, ngrams and batch-size must be >= 1, epochs >= 0")
    if a.arch == "transformer" and a.embed_dim % a.num_heads:
        p.error("embed-dim must be divisible by num-heads")
    return a


def check_tokenizer(a, tok):
    texts, labels = read_jsonl(a.check_tokenizer)
    h = hashlib.sha256()
    total = 0
    counts = Counter()
    for t in texts:
        toks = tok(t)
        total += len(toks)
        counts.update(toks)
        h.update(b"\n".join(toks))
        h.update(b"\x00")
    print(json.dumps({"file": a.check_tokenizer, "rows": len(texts), "tokens": total,
                      "distinct_tokens": len(counts),
                      "distinct_min_freq": sum(1 for c in counts.values() if c >= a.min_freq),
                      "labels": dict(sorted(Counter(labels).items())),
                      "token_stream_sha256": h.hexdigest()}))


def main(argv=None):
    t_main = time.perf_counter()
    a = parse_args(argv)
    if a.threads > 0:
        torch.set_num_threads(a.threads)
    tok = Tokenizer(a.tokenizer, a.lowercase, a.max_len, a.ngrams)
    if a.check_tokenizer:
        check_tokenizer(a, tok)
        return 0

    # Seeding first (seed_everything), then data, then model.
    if a.deterministic:
        torch.use_deterministic_algorithms(True)
    torch.manual_seed(a.seed)

    t0 = time.perf_counter()
    vocab, label_names, splits, stats = prepare_data(a, tok)
    load_seconds = time.perf_counter() - t0
    if a.dump_vocab:
        with open(a.dump_vocab, "wb") as f:
            f.write(vocab.to_bytes())
    train, val = splits["train"], splits["val"]
    test = splits.get("test")
    num_classes = len(label_names)
    log(f"{a.arch}, {len(train)} train / {len(val)} val"
        + (f" / {len(test)} test" if test is not None else "")
        + f", vocab {len(vocab)}, train_tokens {stats['train_tokens']}"
        f", unk_rate {stats['train_unk_rate']:.6f}, data {load_seconds:.2f}s"
        f", threads {torch.get_num_threads()}")

    bag = a.arch == "bow"
    model = make_model(a, len(vocab), num_classes)
    model.train()
    opt = make_optimizer(a, list(model.parameters()), model)
    steps_per_epoch = (len(train) + a.batch_size - 1) // a.batch_size
    total_steps = steps_per_epoch * a.epochs
    shuffle_gen = torch.Generator()
    drop_gen = torch.Generator()
    drop_gen.manual_seed(a.seed + 1)

    epoch_seconds, eval_seconds = [], []
    ev = None
    step = 0
    for epoch in range(a.epochs):
        t_ep = time.perf_counter()
        shuffle_gen.manual_seed(a.seed * 1000003 + epoch)
        order = torch.randperm(len(train), generator=shuffle_gen)
        loss_sum = 0.0
        for start in range(0, len(train), a.batch_size):
            b = make_batch(train, order[start:start + a.batch_size], bag,
                           a.token_dropout, drop_gen)
            lr = learning_rate_at(a, step, total_steps, steps_per_epoch)
            for g in opt.param_groups:
                g["lr"] = lr
            opt.zero_grad()
            logits = model(b)  # (B, C)
            loss = F.cross_entropy(logits, b.labels)
            loss_value = loss.item()
            if not math.isfinite(loss_value):
                log(f"training diverged: loss is {loss_value} at step {step + 1}")
                return 1
            loss.backward()
            if a.grad_clip > 0:
                nn.utils.clip_grad_norm_(model.parameters(), a.grad_clip)
            opt.step()
            step += 1
            loss_sum += loss_value
        epoch_seconds.append(time.perf_counter() - t_ep)

        t_ev = time.perf_counter()
        ev = evaluate(model, val, bag, num_classes)
        eval_seconds.append(time.perf_counter() - t_ev)
        log(f"epoch {epoch + 1}/{a.epochs}  train_loss {loss_sum / steps_per_epoch:.4f}"
            f"  val_loss {ev['loss']:.4f}  val_acc {ev['acc']:.4f}  val_f1 {ev['f1']:.4f}"
            f"  ({epoch_seconds[-1]:.2f}s + eval {eval_seconds[-1]:.2f}s)")

    if ev is None:
        ev = evaluate(model, val, bag, num_classes)
    te = evaluate(model, test, bag, num_classes) if test is not None else None
    if te is not None:
        log(f"test  acc {te['acc']:.4f}  f1 {te['f1']:.4f}  loss {te['loss']:.4f}")

    print(json.dumps({
        "impl": "pytorch",
        "arch": a.arch,
        "load_seconds": load_seconds,
        "epoch_seconds": epoch_seconds,
        "eval_seconds": eval_seconds,
        "total_seconds": time.perf_counter() - t_main,
        "val_acc": ev["acc"],
        "val_f1": ev["f1"],
        "test_acc": te["acc"] if te is not None else None,
        "vocab_size": len(vocab),
        "train_rows": len(train),
        "torch_version": torch.__version__,
        "threads": torch.get_num_threads(),
    }), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
