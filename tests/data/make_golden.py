#!/usr/bin/env python3
"""Writes the golden files the C++ tests compare against.

Run with Debian's python3 (python3-torch installed):
    /usr/bin/python3 tests/data/make_golden.py
Outputs (committed):
  canonical_json.jsonl  {"name", "input": JSON text, "expected": json.dumps(..., sort_keys=True,
                        separators=(",", ":"))} per line
  float_repr.tsv        float64 bits (hex) <TAB> repr(float)
  state_hash.json       sha256 of a small module's state dict (the seed recipe) and per tensor
"""
import hashlib
import json
import math
import os
import random
import struct

import torch

HERE = os.path.dirname(os.path.abspath(__file__))


def canonical(v):
    return json.dumps(v, sort_keys=True, separators=(",", ":"))


def canonical_cases():
    cases = {
        "empty_object": {},
        "nested_sorted": {"b": 1, "a": {"d": [1, 2, {"z": None, "y": True}], "c": False}},
        "floats": {"lr": 5e-05, "a": 0.0001, "b": 1e16, "c": 0.1, "d": 1.0, "e": 1e-7,
                   "f": 123456789.125, "g": 1e15, "h": -0.0, "i": 2.5e-308, "j": 1.7976931348623157e308},
        "ints": {"big": 18446744073709551615, "neg": -42, "zero": 0, "seed": 42},
        "ensure_ascii": {"s": "café ☕ 𝄞 \u0001 \u007f tab\t nl\n quote\" back\\ /"},
        "unicode_keys": {"é": 1, "z": 2, "A": 3, "𝄞": 4, "ä": 5},
        "paper_example": {"seed": 2024, "model": "distilbert-base-uncased",
                          "training": {"epochs": 3, "batch_size": 32, "lr": 5e-5},
                          "data": {"train_path": "data/train.csv", "val_path": "data/val.csv"}},
        "array_mixed": [1, 2.0, "x", None, False, [], {}],
        "specials": {"nan": float("nan"), "inf": float("inf"), "ninf": float("-inf")},
    }
    rows = []
    for name, v in cases.items():
        # The input is the same value as JSON text; non-finite floats use
        # Python's NaN/Infinity, which the C++ test maps separately.
        rows.append({"name": name, "input": json.dumps(v), "expected": canonical(v)})
    return rows


def float_cases():
    rng = random.Random(12345)
    vals = [0.1, 0.2, 0.3, 1.0, 2.0, 5e-05, 0.0001, 0.001, 1e-05, 1e16, 1e15, 9999999999999998.0,
            123.456, 1.5, 100.0, 1e100, 1e-100, 5e-324, 2.2250738585072014e-308,
            1.7976931348623157e308, 0.5, 3.14159, 2.718281828459045, 1e22, 1e21, 12345678901234567.0,
            0.30000000000000004, 1 / 3, 2 / 3, -1.25, -1e-6, 4.35, 0.07, 1e-4, 9.5e-5]
    for _ in range(300):
        kind = rng.randrange(3)
        if kind == 0:
            vals.append(rng.uniform(-1e3, 1e3))
        elif kind == 1:
            vals.append(10 ** rng.uniform(-30, 30))
        else:
            bits = rng.getrandbits(64)
            v = struct.unpack("<d", struct.pack("<Q", bits))[0]
            if math.isfinite(v):
                vals.append(v)
    return [(struct.unpack("<Q", struct.pack("<d", v))[0], repr(v)) for v in vals]


class Tiny(torch.nn.Module):
    """Mirrors the module in src/repro/state_hash_test.cc."""

    def __init__(self):
        super().__init__()
        self.emb = torch.nn.Embedding(5, 2)
        self.fc = torch.nn.Linear(4, 3)
        self.bn = torch.nn.BatchNorm1d(3)
        self.scale = torch.nn.Parameter(torch.zeros(2, 2, dtype=torch.float64))


def fill_like_cpp(model):
    # Exactly representable values so both languages hold identical bits:
    # element i of the k-th state tensor = ((7k + 3i) % 17 - 8) / 16.
    with torch.no_grad():
        for k, t in enumerate(model.state_dict().values()):
            flat = t.view(-1)
            for i in range(flat.numel()):
                v = ((7 * k + 3 * i) % 17 - 8)
                flat[i] = v if t.dtype == torch.int64 else v / 16.0


def state_hash_golden():
    m = Tiny()
    fill_like_cpp(m)
    h = hashlib.sha256()
    per = []
    for name, p in m.state_dict().items():
        b = p.detach().cpu().numpy().tobytes()
        h.update(b)
        per.append([name, hashlib.sha256(b).hexdigest()])
    return {"sha256": h.hexdigest(), "state_hash": h.hexdigest()[:16], "tensors": per}


def main():
    with open(os.path.join(HERE, "canonical_json.jsonl"), "w") as f:
        for row in canonical_cases():
            f.write(json.dumps(row) + "\n")
    with open(os.path.join(HERE, "float_repr.tsv"), "w") as f:
        for bits, r in float_cases():
            f.write("%016x\t%s\n" % (bits, r))
    with open(os.path.join(HERE, "state_hash.json"), "w") as f:
        json.dump(state_hash_golden(), f, indent=2)
        f.write("\n")
    print("torch", torch.__version__)


if __name__ == "__main__":
    main()
