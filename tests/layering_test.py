#!/usr/bin/env python3
"""The dependency rule of docs/architecture.md, checked on the sources.

1. Every #include "..." in src/<layer>/ names a header of a layer that layer
   may use (public headers in include/mltrain/ belong to a layer too).
2. The torch-free libraries (mltrain_base, mltrain_experiment, as listed in
   CMakeLists.txt) include no LibTorch header, directly or through others:
   the compiler's own dependency list (-M) is checked.
3. Only src/run/control.cc reads an MLTRAIN_* environment variable.

usage: layering_test.py SOURCE_DIR CXX GENERATED_INCLUDE_DIR
"""
import os
import re
import subprocess
import sys

SRC, CXX, GENERATED = sys.argv[1:4]

PUBLIC = {
    "config.h": "core", "canonical_json.h": "core", "error.h": "core",
    "rng.h": "repro", "seed.h": "repro", "env.h": "repro", "state_hash.h": "repro",
    "probe.h": "repro",
    "data.h": "data", "loader.h": "data",
    "models.h": "models",
    "records.h": "run-records", "run.h": "run",
    "train.h": "train",
    "infer.h": "infer",
    "experiment.h": "experiment",
    "mltrain.h": "umbrella",
}
# Headers of src/run that need no LibTorch: what the experiment tools may use.
RUN_RECORDS = {"run/layout.h", "run/control.h", "run/record_files.h"}

ALLOWED = {
    "core": {"core"},
    "repro": {"core", "repro"},
    "data": {"core", "repro", "data"},
    "models": {"core", "repro", "data", "models"},
    "run": {"core", "repro", "run", "run-records"},
    "train": {"core", "repro", "data", "models", "run", "run-records", "train"},
    "infer": {"core", "repro", "data", "models", "run", "run-records", "infer"},
    "experiment": {"core", "run-records", "experiment"},
    "cli": {"core", "repro", "data", "models", "run", "run-records", "train", "infer", "experiment",
            "cli"},
}

INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)


def layer_of_header(h):
    if h.startswith("mltrain/"):
        return PUBLIC.get(h[len("mltrain/"):], "unknown public header")
    if h in RUN_RECORDS:
        return "run-records"
    top = h.split("/")[0]
    return top if top in ALLOWED else None  # None: not ours (build_info.h, fixtures.h)


failures = []
for layer in ALLOWED:
    d = os.path.join(SRC, "src", layer)
    if not os.path.isdir(d):
        failures.append(f"src/{layer}/ is missing")
        continue
    for name in sorted(os.listdir(d)):
        if not name.endswith((".cc", ".h")):
            continue
        text = open(os.path.join(d, name), encoding="utf-8").read()
        if name == "sentencepiece_plugin.cc":
            continue  # the plugin: Debian's sentencepiece only, loaded with dlopen
        own = "run-records" if f"{layer}/{name}" in RUN_RECORDS else layer
        for h in INCLUDE.findall(text):
            hl = layer_of_header(h)
            if hl is None or hl == own:
                continue
            allowed = ALLOWED[layer] if own != "run-records" else {"core", "run-records"}
            if hl not in allowed:
                failures.append(f"src/{layer}/{name}: includes \"{h}\" ({hl}), "
                                f"which {layer} may not use")

# Public headers follow the same rule.
for name in sorted(os.listdir(os.path.join(SRC, "include", "mltrain"))):
    own = PUBLIC.get(name)
    text = open(os.path.join(SRC, "include", "mltrain", name), encoding="utf-8").read()
    for h in INCLUDE.findall(text):
        hl = layer_of_header(h)
        if own == "umbrella" or hl is None or hl == own:
            continue
        base = "run" if own == "run-records" else own
        allowed = {"core", "run-records"} if own == "run-records" else ALLOWED[base]
        if hl not in allowed:
            failures.append(f"include/mltrain/{name}: includes \"{h}\" ({hl})")
        if not h.startswith("mltrain/"):
            failures.append(f"include/mltrain/{name}: a public header includes internal \"{h}\"")

# The torch-free libraries, from the build's own source lists.
cmake = open(os.path.join(SRC, "CMakeLists.txt"), encoding="utf-8").read()
torch_free = []
for target in ("mltrain_base", "mltrain_experiment"):
    m = re.search(r"add_library\(" + target + r" STATIC(.*?)\)", cmake, re.S)
    if not m:
        failures.append(f"CMakeLists.txt: no add_library({target} STATIC ...)")
        continue
    torch_free += m.group(1).split()
if not any(s.startswith("src/experiment/") for s in torch_free):
    failures.append("mltrain_experiment lists no src/experiment/ source")
for src in torch_free:
    cmd = [CXX, "-std=c++17", "-M", "-I", os.path.join(SRC, "include"), "-I",
           os.path.join(SRC, "src"), "-I", GENERATED, os.path.join(SRC, src)]
    deps = subprocess.run(cmd, capture_output=True, text=True)
    if deps.returncode != 0:
        failures.append(f"{src}: dependency scan failed: {deps.stderr.strip()[:300]}")
        continue
    torch = [d for d in deps.stdout.split() if re.search(r"/(torch|ATen|c10)/", d)]
    if torch:
        failures.append(f"{src}: compiled without LibTorch, yet includes {torch[0]}")

# One documented control mechanism.
for root, _, files in os.walk(os.path.join(SRC, "src")):
    for name in files:
        path = os.path.join(root, name)
        rel = os.path.relpath(path, SRC)
        if rel == os.path.join("src", "run", "control.cc") or not name.endswith((".cc", ".h")):
            continue
        if re.search(r'getenv\("MLTRAIN_', open(path, encoding="utf-8").read()):
            failures.append(f"{rel}: reads an MLTRAIN_* variable (only src/run/control.cc may)")

if failures:
    print("\n".join(failures))
    sys.exit(1)
print(f"layering ok: {len(torch_free)} torch-free sources, dependency rule holds")
