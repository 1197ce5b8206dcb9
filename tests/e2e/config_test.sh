#!/usr/bin/env bash
# G1: the canonical JSON is byte-identical to Python's json.dumps and
# run_id = sha1(canonical)[:8]; runtime.* never changes it.
source "$(dirname "$0")/lib.sh"

"$ML_TRAIN" config --seed 7 --json >a.json
"$ML_TRAIN" config --seed 7 runtime.num_workers=3 runtime.output_dir=/elsewhere --json >b.json
"$ML_TRAIN" config --schema >schema.json

"$PYTHON" - a.json b.json schema.json <<'PY'
import hashlib, json, sys
a = json.load(open(sys.argv[1]))
b = json.load(open(sys.argv[2]))
schema = json.load(open(sys.argv[3]))
cfg = json.loads(json.dumps(a["config"]))
assert cfg["seed"] == 7, cfg["seed"]
del cfg["runtime"]
# Keys marked "x-identity: when set" count only when they differ from their default.
for section, s in schema["properties"].items():
    for key, p in s.get("properties", {}).items():
        if p.get("x-identity") == "when set" and cfg[section][key] == p["default"]:
            del cfg[section][key]
assert a["identity"] == cfg, (a["identity"], cfg)
want = json.dumps(cfg, sort_keys=True, separators=(",", ":"))
assert a["canonical"] == want, (a["canonical"], want)
assert a["run_id"] == hashlib.sha1(want.encode()).hexdigest()[:8]
assert b["canonical"] == a["canonical"] and b["run_id"] == a["run_id"]
assert b["config"]["runtime"]["num_workers"] == 3
print("canonical ok:", a["run_id"])
PY

# Any identity key changes the run id; the YAML view shows the resolved values.
"$ML_TRAIN" config --json >d1.json
"$ML_TRAIN" config training.lr=0.006 --json >d2.json
id1=$(json_get d1.json run_id)
id2=$(json_get d2.json run_id)
[ "$id1" != "$id2" ] || fail "training.lr did not change run_id"
"$ML_TRAIN" config --deterministic >plain.txt
grep -q "^deterministic: true" plain.txt || fail "--deterministic not in resolved YAML"
grep -q "^run_id: [0-9a-f]\{8\}$" plain.txt || fail "no run_id line"

# A YAML file and the same values as a JSON file give the same identity.
printf 'seed: 3\ntraining:\n  lr: 0.001\n' >c.yaml
printf '{"seed": 3, "training": {"lr": 0.001}}' >c.json
"$ML_TRAIN" config -c c.yaml --json >y.json
"$ML_TRAIN" config -c c.json --json >j.json
y=$(json_get y.json run_id)
j=$(json_get j.json run_id)
[ "$y" = "$j" ] || fail "YAML and JSON configs differ: $y vs $j"
echo "config e2e ok"
