#!/usr/bin/env bash
# Bad config files and overrides: exit 2, exactly one line on stderr naming
# the key or file:line, no stack trace, no abort.
source "$(dirname "$0")/lib.sh"

printf 'training:\n  lrr: 0.1\n' >typo.yaml
printf 'seed: 1\ntraining:\n  epochs: many\n' >type.yaml
printf 'model:\n  dropout: 1.5\n' >range.yaml
printf 'model:\n  arch: rnn\n' >choice.yaml
printf 'seed: 1\ntraining: [1, 2\n' >syntax.yaml
printf '{"seed": 1,\n "training": {"lr": }\n}\n' >syntax.json
printf '{"model": {"arch": 3}}' >jsontype.json
printf 'model: 5\n' >section.yaml
printf 'seed: -4\n' >seed.yaml
printf 'deterministic: maybe\n' >bool.yaml
printf 'training:\n  lr: 0.1\n  epochs: 2\n  lr: 0.2\n' >dup.yaml
printf '{"training": {"lr": 1e999}}' >huge.json
printf "runtime:\n  output_dir: \"out\\xff\"\n" >badutf8.yaml
mkdir -p adir
printf 'seed: 1\n' >unreadable.yaml
chmod 000 unreadable.yaml

# expected-substring | args...
cases=(
  "did you mean 'training.lr'|config training.lrr=0.1"
  "typo.yaml:2: unknown key 'training.lrr' (did you mean 'training.lr'?)|config -c typo.yaml"
  "type.yaml:3: key 'training.epochs': expected an integer|config -c type.yaml"
  "range.yaml:2: key 'model.dropout': 1.5 is out of range|config -c range.yaml"
  "choice.yaml:2: key 'model.arch': unknown choice \"rnn\" (expected one of bow|cnn|transformer)|config -c choice.yaml"
  "syntax.yaml:3|config -c syntax.yaml"
  "syntax.json:2:|config -c syntax.json"
  "jsontype.json: key 'model.arch': expected one of bow|cnn|transformer, got 3|config -c jsontype.json"
  "section.yaml:1: expected a mapping of keys under 'model'|config -c section.yaml"
  "seed.yaml:1: key 'seed': expected an integer in [0, 18446744073709551615]|config -c seed.yaml"
  "bool.yaml:1: key 'deterministic': expected true or false|config -c bool.yaml"
  "missing.yaml: config file not found|config -c missing.yaml"
  "adir: is a directory|config -c adir"
  "expected KEY=VALUE|config training.lr"
  "key 'training.batch_size': 0 is out of range [1, 1000000]|config training.batch_size=0"
  "key 'training.lr': expected a number, got \"fast\"|config training.lr=fast"
  "--seed: expected an integer in [0, 18446744073709551615], got \"-1\"|config --seed=-1"
  "--seed: expected an integer in [0, 18446744073709551615], got \"18446744073709551616\"|config --seed 18446744073709551616"
  "--deterministic: expected true or false|config --deterministic=perhaps"
  "'training' is a section|config training=3"
  "key 'model.num_heads': 3 does not divide model.embed_dim=64|config model.arch=transformer model.num_heads=3"
  "key 'tokenizer.ngrams': n-grams > 1 need model.arch=bow|config model.arch=cnn tokenizer.ngrams=2"
  "key 'model.hidden_dim': 0 (no hidden layer) is for model.arch=bow only; cnn needs at least 1|config model.arch=cnn model.hidden_dim=0"
  "million parameters besides its embedding table (limit 1500 million)|config model.embed_dim=65536 model.hidden_dim=65536"
  "did you mean 'runtime.num_workers'|train num_workers=2"
  "dup.yaml:4: duplicate key 'training.lr'|config -c dup.yaml"
  "huge.json:1: invalid JSON: number overflow|config -c huge.json"
  "key 'runtime.output_dir': not valid UTF-8|config -c badutf8.yaml"
  "needs about|train model.arch=transformer tokenizer.max_len=100000 runtime.output_dir=mem"
  "lower tokenizer.max_len|train model.arch=transformer tokenizer.max_len=100000 runtime.output_dir=mem"
)
if [ "$(id -u)" -ne 0 ]; then
  cases+=("unreadable.yaml: cannot open for reading|config -c unreadable.yaml")
fi

n=0
for c in "${cases[@]}"; do
  want=${c%%|*}
  read -r -a args <<<"${c#*|}"
  set +e
  "$ML_TRAIN" "${args[@]}" >out.txt 2>err.txt
  rc=$?
  set -e
  [ "$rc" -eq 2 ] || { cat err.txt; fail "exit $rc (want 2) for: ${args[*]}"; }
  lines=$(wc -l <err.txt)
  [ "$lines" -eq 1 ] || { cat err.txt; fail "$lines stderr lines (want 1) for: ${args[*]}"; }
  grep -qF -- "$want" err.txt || { cat err.txt; fail "stderr lacks '$want' for: ${args[*]}"; }
  if grep -qiE "terminate called|Aborted|Traceback|Exception raised from" err.txt; then
    fail "stack trace for: ${args[*]}"
  fi
  [ ! -s out.txt ] || { cat out.txt; fail "stdout not empty on error for: ${args[*]}"; }
  n=$((n + 1))
done
[ ! -e mem ] || fail "a refused config left an output directory"
echo "$n bad-input cases exit 2 with one clear line"
[ "$n" -ge 15 ] || fail "too few cases"
