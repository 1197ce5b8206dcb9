#!/usr/bin/env python3
"""The dependency rule of docs/architecture.md, checked on the sources.

The rule is read from docs/architecture.md itself: its layer table (which
layers' public headers, and which layers' internal headers, each layer
includes) and its public-header table (the layer each include/mltrain/
header belongs to). So the document and the check cannot drift apart:

1. Every #include "..." in src/<layer>/ (tests beside the sources included)
   names a header of a layer the table allows; a layer's internal headers
   (src/<other>/...) only where the table says so. src/train, src/infer and
   src/cli include no internal header of another layer: they are clients of
   the public API, as a user's program is.
2. The table is the real include graph, not a wish: every layer it lists
   for a layer is used by that layer's sources (drop it from the table
   otherwise), and every include/mltrain/ header is in the header table.
3. examples/, bench/, tests/user_loop/ and tests/sparse/ include only public headers.
4. The torch-free libraries (mltrain_base, mltrain_experiment, as listed in
   CMakeLists.txt) include no LibTorch header, directly or through others:
   the compiler's own dependency list (-M) is checked.
5. The MLTRAIN_* environment variables are the two docs/control.md documents,
   each read in one place: MLTRAIN_CONTROL in src/run/control.cc, and
   MLTRAIN_KERNEL_PIN (the kernel pin's record across its re-execution) in
   src/repro/kernels.cc.

usage: layering_test.py SOURCE_DIR CXX GENERATED_INCLUDE_DIR
"""
import os
import re
import subprocess
import sys

SRC, CXX, GENERATED = sys.argv[1:4]
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)
failures = []


def table_rows(text, header):
    """Rows (lists of cells) of the markdown table whose header row starts with `header`."""
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if line.startswith(header):
            rows = []
            for row in lines[i + 2:]:
                if not row.startswith("|"):
                    break
                rows.append([c.strip() for c in row.strip().strip("|").split("|")])
            return rows
    failures.append(f"docs/architecture.md: no table starting '{header}'")
    return []


def names(cell):
    """`core`, `repro` -> {"core", "repro"}; '—' -> {}."""
    return set(re.findall(r"`([a-z_]+)`", cell))


doc = open(os.path.join(SRC, "docs", "architecture.md"), encoding="utf-8").read()
PUBLIC_OF, INTERNAL_OF = {}, {}
for row in table_rows(doc, "| layer | public headers of | internal headers of |"):
    layer = names(row[0])
    if len(layer) != 1:
        failures.append(f"docs/architecture.md: layer table row {row[0]!r} names no layer")
        continue
    (layer,) = layer
    PUBLIC_OF[layer] = names(row[1])
    INTERNAL_OF[layer] = names(row[2])
HEADER_LAYER = {}
for row in table_rows(doc, "| public header | layer |"):
    for h in re.findall(r"`mltrain/([a-z_]+\.h)`", row[0]):
        HEADER_LAYER[h] = row[1].strip("` ")

CLIENTS = {"train", "infer", "cli"}  # public API only, like a user's program
for layer in CLIENTS:
    if INTERNAL_OF.get(layer):
        failures.append(f"docs/architecture.md: {layer} may include internal headers of "
                        f"{sorted(INTERNAL_OF[layer])}; it must use the public API only")


def layer_of(h):
    """(layer, public) of an include, or None for a header that is not ours."""
    if h.startswith("mltrain/"):
        return HEADER_LAYER.get(h[len("mltrain/"):], "unknown public header"), True
    top = h.split("/")[0]
    return (top, False) if top in PUBLIC_OF else None


used_public = {layer: set() for layer in PUBLIC_OF}
used_internal = {layer: set() for layer in PUBLIC_OF}
for layer in sorted(PUBLIC_OF):
    d = os.path.join(SRC, "src", layer)
    if not os.path.isdir(d):
        failures.append(f"docs/architecture.md names layer {layer}, but src/{layer}/ is missing")
        continue
    for name in sorted(os.listdir(d)):
        if not name.endswith((".cc", ".h")) or name == "sentencepiece_plugin.cc":
            continue  # the plugin: Debian's sentencepiece only, loaded with dlopen
        test = name.endswith("_test.cc")
        for h in INCLUDE.findall(open(os.path.join(d, name), encoding="utf-8").read()):
            found = layer_of(h)
            if found is None or found[0] == layer:
                continue
            hl, public = found
            where = f"src/{layer}/{name}: includes \"{h}\""
            if hl not in PUBLIC_OF and public:
                failures.append(f"{where}: not in docs/architecture.md's header table")
            elif public and hl not in PUBLIC_OF[layer]:
                failures.append(f"{where} ({hl}), which {layer} may not use")
            elif not public and hl not in INTERNAL_OF[layer] and not (test and hl in PUBLIC_OF[layer]):
                failures.append(f"{where}: an internal header of {hl}; {layer} uses "
                                f"{'only public headers' if layer in CLIENTS else 'only the internals of ' + str(sorted(INTERNAL_OF[layer]))}")
            elif not test:
                (used_public if public else used_internal)[layer].add(hl)
for d in sorted(os.listdir(os.path.join(SRC, "src"))):
    if os.path.isdir(os.path.join(SRC, "src", d)) and d not in PUBLIC_OF:
        failures.append(f"src/{d}/ is not in docs/architecture.md's layer table")

# A public header's includes are its layer's uses too.
for name in sorted(os.listdir(os.path.join(SRC, "include", "mltrain"))):
    own = HEADER_LAYER.get(name)
    if own not in used_public:
        continue
    for h in INCLUDE.findall(open(os.path.join(SRC, "include", "mltrain", name),
                                  encoding="utf-8").read()):
        hl = HEADER_LAYER.get(h[len("mltrain/"):]) if h.startswith("mltrain/") else None
        if hl is not None and hl != own:
            used_public[own].add(hl)

# The table is the real graph: nothing listed that no source uses.
for layer in sorted(PUBLIC_OF):
    for kind, listed, used in (("public", PUBLIC_OF, used_public),
                               ("internal", INTERNAL_OF, used_internal)):
        for extra in sorted(listed[layer] - used[layer]):
            failures.append(f"docs/architecture.md: {layer} is listed as using {extra}'s {kind} "
                            f"headers, but no source of src/{layer}/ includes one (update the table)")

# Public headers follow the same rule, and include only public headers.
for name in sorted(os.listdir(os.path.join(SRC, "include", "mltrain"))):
    own = HEADER_LAYER.get(name)
    if own is None:
        failures.append(f"include/mltrain/{name}: not in docs/architecture.md's header table")
        continue
    for h in INCLUDE.findall(open(os.path.join(SRC, "include", "mltrain", name),
                                  encoding="utf-8").read()):
        if not h.startswith("mltrain/"):
            failures.append(f"include/mltrain/{name}: a public header includes internal \"{h}\"")
            continue
        hl = HEADER_LAYER.get(h[len("mltrain/"):], "unknown")
        if own != "umbrella" and hl != own and hl not in PUBLIC_OF.get(own, set()):
            failures.append(f"include/mltrain/{name} ({own}): includes \"{h}\" ({hl})")

# Programs of users: examples, benchmarks, the user loop of the tests.
for top in ("examples", "bench", os.path.join("tests", "user_loop"), os.path.join("tests", "sparse")):
    for root, _, files in os.walk(os.path.join(SRC, top)):
        for name in files:
            if not name.endswith((".cc", ".h")):
                continue
            path = os.path.join(root, name)
            for h in INCLUDE.findall(open(path, encoding="utf-8").read()):
                if not h.startswith("mltrain/") and not os.path.exists(os.path.join(root, h)):
                    failures.append(f"{os.path.relpath(path, SRC)}: includes internal \"{h}\" "
                                    "(a user's program has the public headers only)")

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

# One documented control mechanism, and the kernel pin's record.
READERS = {"MLTRAIN_CONTROL": os.path.join("src", "run", "control.cc"),
           "MLTRAIN_KERNEL_PIN": os.path.join("src", "repro", "kernels.cc")}
for root, _, files in os.walk(os.path.join(SRC, "src")):
    for name in files:
        path = os.path.join(root, name)
        rel = os.path.relpath(path, SRC)
        if not name.endswith((".cc", ".h")):
            continue
        for var in re.findall(r'getenv\("(MLTRAIN_\w*)', open(path, encoding="utf-8").read()):
            if READERS.get(var) != rel:
                failures.append(f"{rel}: reads {var} (docs/control.md: MLTRAIN_CONTROL only in "
                                "src/run/control.cc, MLTRAIN_KERNEL_PIN only in src/repro/kernels.cc)")

if failures:
    print("\n".join(failures))
    sys.exit(1)
print(f"layering ok: {len(PUBLIC_OF)} layers as docs/architecture.md draws them, "
      f"{len(HEADER_LAYER)} public headers, {len(torch_free)} torch-free sources")
