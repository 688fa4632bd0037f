#!/usr/bin/env bash
# Sweeps (issue 14). Not a test: it prints figures, side by side in one run,
# as ratios.
#
#   bench/sweep.sh                     # SIZES="10000 100000", ROUNDS=3
#   SIZES="10000 100000 1000000" ROUNDS=5 bench/sweep.sh
#
# 1. `run --dry` of N experiments from one `Sweep` (a 100 × N/100 grid with
#    expressions that read the swept keys), and of the same N experiments
#    written out as N documents (the plain cost of the same work): best wall
#    time and its peak RSS (/usr/bin/time), the growth from one size to the
#    next, and sweep/written.
# 2. The refusal of a 10,000,000-point sweep (over the default limit of
#    1,000,000): median wall time of 21 runs, beside the median of
#    `cool-runner --version` (process start alone).
set -euo pipefail
cd "$(dirname "$0")/.."
SIZES=${SIZES:-10000 100000}
ROUNDS=${ROUNDS:-3}

cargo build --release --quiet --bin cool-runner
BIN=$(pwd)/target/release/cool-runner
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
echo "machine: $(nproc) cores, $(uname -sr), load $(cut -d' ' -f1-3 /proc/loadavg)"

head='Global: {repeat: 1, max_experiments: 10000000}
Module: echo
model: {depth: 20, width: 16}
'
sweep_file() { # N
    printf '%s---\nSweep:\n  grid:\n    lr: {range: [0, 1, 0.01]}\n    seed: {range: [0, %d]}\nName: parse f"p-{lr}-{seed}"\nwd: parse lr * 0.1\nrun: parse seed + SWEEP_IDX\n' \
        "$head" $(($1 / 100))
}
written_file() { # N: the same experiments, one document each
    python3 - "$1" <<'EOF'
import sys
n = int(sys.argv[1])
print("Global: {repeat: 1, max_experiments: 10000000}\nModule: echo\nmodel: {depth: 20, width: 16}")
for i in range(n):
    lr, seed = i // (n // 100), i % (n // 100)
    lr = f"{lr / 100}"
    print(f"---\nlr: {lr}\nseed: {seed}\nName: parse f\"p-{{lr}}-{{seed}}\"\nwd: parse lr * 0.1\nrun: parse seed + {i}")
EOF
}

# `measure CMD...`: "wall_s peak_kb" of CMD.
measure() {
    /usr/bin/time -o "$WORK/time.txt" -f "%e %M" "$@" > /dev/null 2> "$WORK/err.txt" || {
        cat "$WORK/err.txt" >&2
        return 1
    }
    tail -1 "$WORK/time.txt"
}

echo
echo "== run --dry --seed 1 (best of $ROUNDS, interleaved) =="
printf '%10s  %22s  %22s  %12s\n' experiments "one Sweep: s, MB" "written out: s, MB" sweep/written
prev=""
for n in $SIZES; do
    sweep_file "$n" > "$WORK/s$n.yaml"
    written_file "$n" > "$WORK/w$n.yaml"
    : > "$WORK/s.txt"
    : > "$WORK/w.txt"
    for _ in $(seq "$ROUNDS"); do
        measure "$BIN" run --exp "$WORK/s$n.yaml" --dry --seed 1 --no-store >> "$WORK/s.txt"
        measure "$BIN" run --exp "$WORK/w$n.yaml" --dry --seed 1 --no-store >> "$WORK/w.txt"
    done
    read -r st sk < <(sort -n "$WORK/s.txt" | head -1)
    read -r wt wk < <(sort -n "$WORK/w.txt" | head -1)
    # Same experiments either way (names, values, order).
    "$BIN" run --exp "$WORK/s$n.yaml" --dry --seed 1 --no-store 2> /dev/null | grep -v -e '^SWEEP_IDX' -e '^RND_IDX' > "$WORK/s.out"
    "$BIN" run --exp "$WORK/w$n.yaml" --dry --seed 1 --no-store 2> /dev/null | grep -v -e '^RND_IDX' > "$WORK/w.out"
    same=$(cmp -s "$WORK/s.out" "$WORK/w.out" && echo "same output" || echo "OUTPUT DIFFERS")
    growth=""
    [[ -n $prev ]] && growth=$(python3 -c "print(f'   ×{$st / $prev:.1f} for ×10')")
    printf '%10s  %12s s %6.0f MB  %12s s %6.0f MB  %11s  %s%s\n' "$n" "$st" "$((sk / 1024))" "$wt" "$((wk / 1024))" \
        "$(python3 -c "print(f'{$st / max($wt, 0.001):.2f}')")" "$same" "$growth"
    prev=$st
done

echo
echo "== refusal of 10,000,000 points (median of 21 runs) =="
printf '%sModule: echo\n---\nName: huge\nSweep:\n  grid:\n    a: {range: [0, 10000]}\n    b: {range: [0, 1000]}\n' \
    'Global: {}
' > "$WORK/huge.yaml"
median_ms() { # CMD...: median wall time in ms (exit status ignored)
    for _ in $(seq 21); do
        local start end
        start=$(date +%s%N)
        "$@" > /dev/null 2>&1 || true
        end=$(date +%s%N)
        echo $(((end - start) / 1000))
    done | sort -n | sed -n 11p | python3 -c "print(f'{int(input()) / 1000:.1f}')"
}
"$BIN" run --exp "$WORK/huge.yaml" 2>&1 | tail -1 || true
refuse=$(median_ms "$BIN" run --exp "$WORK/huge.yaml")
start=$(median_ms "$BIN" --version)
echo "refused in ${refuse} ms; \`cool-runner --version\` ${start} ms (process start)"
# CPU time is steadier than wall time on a loaded machine (perf, when there).
if command -v perf > /dev/null; then
    cpu_ms() { perf stat -r 21 -x, -e task-clock "$@" 2>&1 > /dev/null | grep task-clock | cut -d, -f1; }
    echo "CPU (perf task-clock, mean of 21): refusal $(cpu_ms "$BIN" run --exp "$WORK/huge.yaml") ms; \`--version\` $(cpu_ms "$BIN" --version) ms"
fi
