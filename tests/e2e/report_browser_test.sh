#!/usr/bin/env bash
# Every report page kind (run, sweep, comparison, index) rendered in headless
# Chromium: no console error, and the SVG holds what the page promises
# (series per group, std bands, error bars, labelled axes, the divergence
# marker); the index's inline script sorts and filters.
#   report_browser_test.sh [SCREENSHOT_DIR]   also writes a PNG of each page
source "$(dirname "$0")/lib.sh"
shots=${1:-}
CHROMIUM=$(command -v chromium || true)
[ -n "$CHROMIUM" ] || fail "chromium not found (scripts/setup installs it)"

# dom PAGE OUT: the DOM after the page's scripts ran; fails on a console error.
dom() {
  "$CHROMIUM" --headless --no-sandbox --disable-gpu --disable-dev-shm-usage --enable-logging=stderr --v=0 \
    --virtual-time-budget=2000 --dump-dom "file://$1" >"$2" 2>"$2.log" || fail "chromium failed on $1"
  if grep -E 'CONSOLE|Uncaught' "$2.log"; then fail "console error in $1"; fi
}
shot() {
  [ -z "$shots" ] && return 0
  mkdir -p "$shots"
  "$CHROMIUM" --headless --no-sandbox --disable-gpu --disable-dev-shm-usage --hide-scrollbars --window-size=1200,"$3" \
    --screenshot="$shots/$2.png" "file://$1" >/dev/null 2>&1 || fail "screenshot of $1"
}

# The console check itself catches errors.
echo "<html><body><script>not_defined()</script></body></html>" >bad.html
if (dom "$WORK/bad.html" bad.dom) >/dev/null 2>&1; then fail "a console error went unnoticed"; fi

write_small_config
expect_rc 0 "$ML_TRAIN" sweep -c small.yaml --grid seed=1,2,3 --grid training.lr=0.002,0.005 \
  training.epochs=2
sweep_dir=$(ls -d "$WORK"/runs/sweeps/*)
expect_rc 0 "$ML_TRAIN" report "$sweep_dir" -o "$WORK/sweep.html"
run_id=$("$PYTHON" -c 'import json,sys; print(json.load(open(sys.argv[1]))["runs"][0]["run_id"])' \
  "$sweep_dir/sweep.json")
expect_rc 0 "$ML_TRAIN" report "$WORK/runs/$run_id" -o "$WORK/run.html"
# A verify failure (the self-test perturbation), compared.
expect_rc 1 "$ML_TRAIN" verify -c small.yaml --repeats 2 --perturb 5:fc2.weight training.epochs=2
vdir=$(ls -d "$WORK"/runs/verify/*/1)
expect_rc 0 "$ML_TRAIN" report "$vdir/r1" "$vdir/r2" -o "$WORK/compare.html"
expect_rc 0 "$ML_TRAIN" report "$WORK/runs" -o "$WORK/index.html"

for page in run sweep compare index; do dom "$WORK/$page.html" "$page.dom"; done

"$PYTHON" - "$WORK" <<'PY'
import html.parser, sys
work = sys.argv[1]

class Svg(html.parser.HTMLParser):
    """Counts what each chart holds."""
    def __init__(self):
        super().__init__()
        self.charts, self.cur, self.in_label = [], None, False
    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        cls = a.get("class", "")
        if tag == "svg" and "chart" in cls:
            self.cur = {"title": a.get("aria-label"), "series": 0, "band": 0, "errbar": 0,
                        "marker": 0, "axes": 0, "labels": []}
            self.charts.append(self.cur)
        elif self.cur is not None:
            for k in ("series", "band", "errbar", "marker"):
                if cls == k:
                    self.cur[k] += 1
            if cls.startswith("axis "):
                self.cur["axes"] += 1
            self.in_label = cls == "axis-label"
    def handle_endtag(self, tag):
        if tag == "svg":
            self.cur = None
    def handle_data(self, d):
        if self.in_label and self.cur is not None:
            self.cur["labels"].append(d)
            self.in_label = False

def charts(page):
    p = Svg()
    p.feed(open(f"{work}/{page}.dom").read())
    for c in p.charts:
        assert c["axes"] == 2 and len(c["labels"]) == 2 and all(c["labels"]), (page, c)
    return {c["title"]: c for c in p.charts}

run = charts("run")
assert run["Learning rate"]["series"] == 1, run.keys()
assert any(t.startswith("Training loss per step") and c["series"] == 2 for t, c in run.items())
assert run["Loss per epoch"]["series"] == 2  # train_loss, val_loss

sweep = charts("sweep")
acc = sweep["val_acc per epoch (mean \u00b1 std over seeds)"]
assert acc["series"] == 2 and acc["band"] == 2, acc
bars = sweep["final val_acc against training.lr (mean \u00b1 std)"]
assert bars["errbar"] == 2 and bars["series"] == 1, bars

cmp = charts("compare")
step = [c for t, c in cmp.items() if t.startswith("Training loss per step")][0]
assert step["series"] == 2 and step["marker"] == 1, step
text = open(f"{work}/compare.dom").read()
import re
m = re.search(r"B differs at (\d+)", text)
assert m and int(m.group(1)) > 5, "divergence not marked after the perturbed step"
assert "perturbation" in text, "cause not shown"

index = open(f"{work}/index.dom").read()
assert index.count("<tr") >= 7, "index rows"  # header + 6 sweep runs
assert "<th>seed</th>" in index and "<th>training.lr</th>" in index
print("pages ok:", {p: len(charts(p)) for p in ("run", "sweep", "compare", "index")})
PY

# The index's inline script: sort by val_acc (best first after two clicks)
# and filter by text.
sed 's#</body>#<script>\
var th=[].slice.call(document.querySelectorAll("table.index th")).filter(function(h){return h.textContent=="val_acc"})[0];\
th.click();th.click();\
var v=[].map.call(document.querySelectorAll("table.index tbody tr"),function(r){return parseFloat(r.cells[th.cellIndex].getAttribute("data-v"))});\
var f=document.getElementById("filter");f.value="0.005";f.dispatchEvent(new Event("input"));\
document.body.setAttribute("data-sorted",JSON.stringify(v));\
document.body.setAttribute("data-shown",document.getElementById("shown").textContent);\
</script></body>#' index.html >index_check.html
dom "$WORK/index_check.html" index_check.dom
"$PYTHON" - index_check.dom <<'PY'
import json, re, sys
d = open(sys.argv[1]).read()
v = json.loads(re.search(r'data-sorted="([^"]*)"', d).group(1).replace("&quot;", '"'))
assert len(v) == 6 and v == sorted(v, reverse=True), v
assert re.search(r'data-shown="3 of 3"', d), "filter"
print("sort and filter ok")
PY

# Metrics are the runs' own: an output directory with two runs of a loop
# that records val_mse (written here as a user program's Run would) and one
# classifier run. The index has a val_mse column whose header says lower is
# better, and one click sorts it ascending, the run without it last.
mkdir -p "$WORK/mixed"
cp -r "$WORK/runs/$run_id" "$WORK/mixed/"
"$PYTHON" - "$WORK/mixed" <<'PY'
import hashlib, json, os, sys
for seed, mse in ((1, 0.5), (2, 0.0123)):
    config = json.dumps({"seed": seed, "task": "regression"}, sort_keys=True, separators=(",", ":"))
    d = os.path.join(sys.argv[1], hashlib.sha1(config.encode()).hexdigest()[:8])
    os.makedirs(d)
    open(os.path.join(d, "config.json"), "w").write(config)
    json.dump({"status": "completed"}, open(os.path.join(d, "run.json"), "w"))
    json.dump({"val_mse": mse, "steps": 8, "state_sha256": "%064x" % seed,
               "state_hash": "%016x" % seed}, open(os.path.join(d, "summary.json"), "w"))
    open(os.path.join(d, "metrics.jsonl"), "w").write(
        json.dumps({"epoch": 1, "step": 8, "val_mse": mse, "train_loss": 2 * mse}) + "\n")
PY
expect_rc 0 "$ML_TRAIN" report "$WORK/mixed" -o mixed.html
sed 's#</body>#<script>\
var th=[].slice.call(document.querySelectorAll("table.index th")).filter(function(h){return h.textContent=="val_mse"})[0];\
th.click();\
var v=[].map.call(document.querySelectorAll("table.index tbody tr"),function(r){return r.cells[th.cellIndex].textContent});\
document.body.setAttribute("data-mse",JSON.stringify(v));\
document.body.setAttribute("data-mse-title",th.title);\
</script></body>#' mixed.html >mixed_check.html
dom "$WORK/mixed_check.html" mixed_check.dom
"$PYTHON" - mixed_check.dom <<'PY'
import json, re, sys
d = open(sys.argv[1]).read()
v = json.loads(re.search(r'data-mse="([^"]*)"', d).group(1).replace("&quot;", '"'))
assert v == ["0.01230", "0.5000", "-"], v
assert re.search(r'data-mse-title="lower is better \(from the name\)"', d), "direction tooltip"
assert re.search(r"<th[^>]*>val_acc</th>", d), "the classifier's metrics are columns too"
print("user metric column ok")
PY

shot "$WORK/run.html" run 1500
shot "$WORK/sweep.html" sweep 1250
shot "$WORK/compare.html" compare 1250
shot "$WORK/index.html" index 600
echo "report browser e2e ok"
