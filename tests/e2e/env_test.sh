#!/usr/bin/env bash
# `ml-train env` prints the environment manifest with every documented field.
source "$(dirname "$0")/lib.sh"
OPENBLAS_NUM_THREADS=1 "$ML_TRAIN" env >env.json
"$PYTHON" - env.json <<'PY'
import json, sys
e = json.load(open(sys.argv[1]))
for k in ["ml_train", "compiler", "cxx_stdlib", "libtorch", "blas", "threads", "cpu", "cuda", "os", "env_vars"]:
    assert k in e, k
assert e["ml_train"]["revision"], e["ml_train"]
assert e["libtorch"]["version"].count(".") >= 2
assert "build_config" in e["libtorch"] and len(e["libtorch"]["build_config"]) > 50
assert e["blas"]["loaded"] != "none mapped", e["blas"]
assert e["threads"]["intra_op"] >= 1
assert e["cpu"]["model"]
assert e["os"]["kernel"].startswith("Linux") and e["os"]["glibc"]
assert e["env_vars"]["OPENBLAS_NUM_THREADS"] == "1"
assert "CUBLAS_WORKSPACE_CONFIG" in e["env_vars"]
print("env ok: blas", e["blas"]["loaded"])
PY
