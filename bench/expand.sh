#!/usr/bin/env bash
# Expansion benchmark (issue #2): `run --dry` on generated files of 1,000 and
# 10,000 experiments (plain values, nested mappings, arithmetic on own keys,
# E[-1], nested access, list indexing, f-strings), release build.
# Prints the best wall time of N runs for each size and the 10k/1k ratio.
#
#   bench/expand.sh [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-7}
cargo build --release --quiet
bin=target/release/cool-runner
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
for n in 1000 10000; do
    python3 bench/gen_workload.py "$n" --strings -o "$dir/w$n.yaml"
done
best() {
    local file=$1 best=999
    for _ in $(seq "$runs"); do
        local t0 t1
        t0=$(date +%s.%N)
        "$bin" run --exp "$file" --dry >"$dir/out.yaml" 2>/dev/null
        t1=$(date +%s.%N)
        best=$(python3 -c "print(min($best, $t1 - $t0))")
    done
    echo "$best"
}
t1k=$(best "$dir/w1000.yaml")
t10k=$(best "$dir/w10000.yaml")
docs=$(grep -c '^---$' "$dir/out.yaml")
python3 - "$t1k" "$t10k" "$docs" <<'PY'
import sys
t1k, t10k, docs = float(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3])
print(f"expand + print  1,000 experiments: {t1k*1000:7.1f} ms")
print(f"expand + print {docs:,} experiments: {t10k*1000:7.1f} ms  (target < 300 ms)")
print(f"10k / 1k ratio: {t10k/t1k:.1f}  (target <= 12)")
PY
