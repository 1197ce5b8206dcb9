# Helpers of the fault-injection suite (on top of the end-to-end helpers).
# Every case must end with exit 0 (the result is legitimately usable) or with
# exit 1, 2, 130 or 143 and exactly one error line on stderr naming what is
# wrong: never a crash, an internal error, a json.exception, an orphan
# process, or a completed result that changed.
source "$(dirname "${BASH_SOURCE[0]}")/../e2e/lib.sh"

CASES=0

# outcome NAME CMD...: runs CMD (stdout, stderr in $WORK/out.txt, err.txt)
# and checks the rules above. Sets RC.
outcome() {
  local name=$1
  shift
  set +e
  "$@" >"$WORK/out.txt" 2>"$WORK/err.txt"
  RC=$?
  set -e
  case $RC in
    0 | 1 | 2 | 130 | 143) ;;
    *) cat "$WORK/err.txt" >&2; fail "$name: exit $RC (a crash?)" ;;
  esac
  if grep -qE "internal error|json\.exception|terminate called|Aborted|Segmentation|AddressSanitizer|runtime error:" "$WORK/err.txt"; then
    cat "$WORK/err.txt" >&2
    fail "$name: crashed or leaked an internal error"
  fi
  if [ "$RC" -ne 0 ]; then
    local errors
    errors=$(grep -c "^ml-train: error: " "$WORK/err.txt" || true)
    [ "$errors" -eq 1 ] || { cat "$WORK/err.txt" >&2; fail "$name: $errors error lines (want 1)"; }
    local other
    other=$(grep -vcE "^ml-train: (error|warning|stopping|self-test)|^(epoch|run|  )" "$WORK/err.txt" || true)
    [ "$other" -eq 0 ] || { cat "$WORK/err.txt" >&2; fail "$name: unexpected stderr lines"; }
  fi
  CASES=$((CASES + 1))
}

# No ml-train process started under $WORK is left running.
no_orphans() {
  sleep 0.3
  if pgrep -f "ml-train.*$WORK" >/dev/null; then
    pgrep -fa "ml-train.*$WORK" >&2
    pkill -9 -f "ml-train.*$WORK" || true
    fail "$1: orphan processes left running"
  fi
}

# sha256 of a completed run's result files (empty when there are none).
result_of() {
  { cat "$1/summary.json" "$1/model.pt" 2>/dev/null || true; } | sha256sum | cut -c1-64
}

# Runs CMD in the background, lets it run DELAY seconds, sends SIGNAL,
# waits. Sets RC to its exit status.
interrupt() {
  local delay=$1 sig=$2
  shift 2
  "$@" >"$WORK/out.txt" 2>"$WORK/err.txt" &
  local pid=$!
  sleep "$delay"
  kill "-$sig" "$pid" 2>/dev/null || true
  set +e
  wait "$pid"
  RC=$?
  set -e
}
