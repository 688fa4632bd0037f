#!/usr/bin/env bash
# Costs that must stay flat with the size of the work (issue 13). Not a
# test: it prints figures, side by side in one run, as ratios.
#
#   bench/scale.sh                       # all parts, this build
#   BEFORE=/path/to/old/cool-runner bench/scale.sh   # and an older binary
#   PARTS="dry store" SIZES="10000 100000 1000000" bench/scale.sh
#
# Parts:
#   dry          `run --dry` of generated files (gen_workload.py --strings):
#                wall time and peak RSS (/usr/bin/time -f %M) per size, and
#                the growth of the time from one size to the next.
#   fingerprint  N experiments (`Module: /bin/true`, store on) without a
#                `Fingerprint`, with one matching 1,000 files and one
#                matching 10,000: time per experiment, ratio to no glob,
#                store bytes per run.
#   store        N trivial experiments, in-memory queue: a bare spawn loop,
#                the runner with `--no-store` and with the store; the
#                runner's own cost per experiment (minus the bare loop),
#                the ratio store/no store, and bytes written per experiment
#                (/usr/bin/time %O: blocks written by the process, × 512).
#   filter       `filter` of a 100,000-document log (bench/gen_logs.py, 20,000
#                files of 5, collected into one) in YAML, CSV, JSON lines,
#                JSON and table (`--width 0`): wall time, CPU time and peak
#                RSS (the largest of the rounds), and each format's ratio to
#                YAML: of the best times, and the median of each round's
#                ratio (the rounds interleave the formats). With BEFORE, checks
#                that both binaries write the same bytes in every format
#                (`cmp`; a table may differ only past its first 1,000 rows).
set -euo pipefail
cd "$(dirname "$0")/.."
PARTS=${PARTS:-dry fingerprint store filter}
SIZES=${SIZES:-10000 100000}
N=${N:-2000}
FP_N=${FP_N:-200}
ROUNDS=${ROUNDS:-3}
BEFORE=${BEFORE:-}
GEN=$(pwd)/bench/gen_workload.py
[[ -f ../shared/bench/gen_workload.py ]] && GEN=$(cd ../shared/bench && pwd)/gen_workload.py

cargo build --release --quiet --bin cool-runner --example spawn_true
BIN=$(pwd)/target/release/cool-runner
SPAWN=$(pwd)/target/release/examples/spawn_true
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
bins=("$BIN")
[[ -n $BEFORE ]] && bins+=("$BEFORE")
label() { [[ $1 == "$BIN" ]] && echo after || echo before; }

echo "machine: $(nproc) cores, $(uname -sr), load $(cut -d' ' -f1-3 /proc/loadavg)"

# `measure OUT CMD...`: append "wall_s peak_kb blocks_out" of CMD to OUT.
measure() {
    local out=$1
    shift
    /usr/bin/time -o "$WORK/time.txt" -f "%e %M %O" "$@" > /dev/null 2> "$WORK/err.txt" || {
        cat "$WORK/err.txt" >&2
        return 1
    }
    tail -1 "$WORK/time.txt" >> "$out"
}

# Best (lowest wall time) line of a file of measure lines.
best() { sort -n "$1" | head -1; }

if [[ $PARTS == *dry* ]]; then
    echo
    echo "== run --dry (best of $ROUNDS, interleaved) =="
    for n in $SIZES; do
        python3 "$GEN" "$n" --strings -o "$WORK/w$n.yaml"
        for ((r = 0; r < ROUNDS; r++)); do
            for b in "${bins[@]}"; do
                measure "$WORK/dry-$(label "$b")-$n" "$b" run --exp "$WORK/w$n.yaml" --dry --seed 1
            done
        done
    done
    for b in "${bins[@]}"; do
        l=$(label "$b")
        prev=
        for n in $SIZES; do
            read -r t kb _ < <(best "$WORK/dry-$l-$n")
            growth=${prev:+$(python3 -c "print(f'x{$t/$prev:.1f} from the previous size')")}
            printf '%-6s %9d experiments: %7.2f s  peak %7.1f MB  %s\n' "$l" "$n" "$t" \
                "$(python3 -c "print($kb/1024)")" "${growth:-}"
            prev=$t
        done
    done
fi

if [[ $PARTS == *fingerprint* ]]; then
    echo
    echo "== Fingerprint: $FP_N experiments, store on (best of $ROUNDS) =="
    mkdir -p "$WORK/fp"
    python3 - "$WORK/fp" <<'PY'
import os, sys
root = sys.argv[1]
for count in (1000, 10000):
    d = os.path.join(root, f"src{count}")
    os.makedirs(d, exist_ok=True)
    for i in range(count):
        with open(os.path.join(d, f"f{i}.py"), "w") as f:
            f.write(f"# source file {i}\n" * 20)
PY
    for glob in none 1000 10000; do
        fp=""
        [[ $glob != none ]] && fp="Fingerprint: ['src$glob/*.py']"
        {
            printf 'Global: {}\nModule: /bin/true\n%s\n' "$fp"
            for ((i = 0; i < FP_N; i++)); do printf -- '---\nName: e%d\nx: %d\n' "$i" "$i"; done
        } > "$WORK/fp/w-$glob.yaml"
    done
    for ((r = 0; r < ROUNDS; r++)); do
        for glob in none 1000 10000; do
            for b in "${bins[@]}"; do
                l=$(label "$b")
                d="$WORK/fp/$l-$glob-$r"
                mkdir -p "$d"
                ln -sf "$WORK/fp/src1000" "$WORK/fp/src10000" "$d/"
                cd "$d"
                measure "$WORK/fp-$l-$glob" "$b" run --exp "$WORK/fp/w-$glob.yaml"
                du -cb .cool-runner/store.sqlite* | tail -1 | cut -f1 >> "$WORK/fpsize-$l-$glob"
                cd - > /dev/null
            done
        done
    done
    for b in "${bins[@]}"; do
        l=$(label "$b")
        read -r t0 _ < <(best "$WORK/fp-$l-none")
        for glob in none 1000 10000; do
            read -r t _ < <(best "$WORK/fp-$l-$glob")
            size=$(sort -n "$WORK/fpsize-$l-$glob" | head -1)
            python3 -c "
t, t0, n, size = $t, $t0, $FP_N, $size
print(f'$l   glob matching %-5s files: %6.2f ms per experiment  (x%.2f of no glob)  store %7.1f KB per run' % ('$glob', t / n * 1000, t / t0, size / n / 1024))"
        done
    done
fi

if [[ $PARTS == *store* ]]; then
    echo
    echo "== store: $N trivial experiments, in-memory queue (best of $ROUNDS, interleaved) =="
    {
        printf 'Global: {}\nModule: /bin/true\nlr: 0.1\nopt: {name: sgd, momentum: 0.9}\n'
        for ((i = 0; i < N; i++)); do printf -- '---\nName: e%d\nx: %d\n' "$i" "$i"; done
    } > "$WORK/store.yaml"
    for ((r = 0; r < ROUNDS; r++)); do
        "$SPAWN" "$N" /bin/true >> "$WORK/bare"
        for b in "${bins[@]}"; do
            l=$(label "$b")
            for mode in nostore store; do
                d="$WORK/st/$l-$mode-$r"
                mkdir -p "$d"
                cd "$d"
                args=(run --exp "$WORK/store.yaml")
                [[ $mode == nostore ]] && args+=(--no-store)
                measure "$WORK/st-$l-$mode" "$b" "${args[@]}"
                cd - > /dev/null
            done
        done
    done
    bare=$(sort -n "$WORK/bare" | head -1)
    for b in "${bins[@]}"; do
        l=$(label "$b")
        read -r tn _ on < <(best "$WORK/st-$l-nostore")
        read -r ts _ os < <(best "$WORK/st-$l-store")
        python3 -c "
n, bare, tn, ts, on, os = $N, $bare, $tn, $ts, $on, $os
own_n, own_s = (tn - bare) / n * 1000, (ts - bare) / n * 1000
print(f'$l   bare spawn %.3f ms; runner --no-store %.3f ms, store on %.3f ms per experiment above it: x%.2f' % (bare / n * 1000, own_n, own_s, own_s / own_n))
print(f'$l   written: store on %.1f KB, --no-store %.1f KB per experiment (store: %.1f KB)' % (os * 512 / n / 1024, on * 512 / n / 1024, (os - on) * 512 / n / 1024))"
    done
fi

if [[ $PARTS == *filter* ]]; then
    echo
    echo "== filter: 100,000 documents (best of $ROUNDS, interleaved) =="
    python3 bench/gen_logs.py "$WORK/logs" --files 20000 --docs 5 > /dev/null
    "$BIN" collect "$WORK/logs" --dest "$WORK/collected" > /dev/null 2>&1
    log=$(ls "$WORK"/collected/logs_*.yaml)
    echo "log: $(du -h "$log" | cut -f1), $(grep -c '^---$' "$log") documents"
    formats="yaml csv jsonl json table"
    if [[ -n $BEFORE ]]; then
        for f in $formats; do
            "$BIN" filter "$log" --format "$f" --width 0 > "$WORK/after.out" 2> /dev/null
            "$BEFORE" filter "$log" --format "$f" --width 0 > "$WORK/before.out" 2> /dev/null
            if cmp -s "$WORK/after.out" "$WORK/before.out"; then
                echo "$f: the same bytes as before"
            else
                echo "$f: DIFFERENT bytes from before"
            fi
        done
        rm -f "$WORK/after.out" "$WORK/before.out"
    fi
    for ((r = 0; r < ROUNDS; r++)); do
        for f in $formats; do
            for b in "${bins[@]}"; do
                /usr/bin/time -o "$WORK/time.txt" -f "%e %M %U %S" "$b" filter "$log" --format "$f" --width 0 > /dev/null 2>&1
                tail -1 "$WORK/time.txt" >> "$WORK/filter-$(label "$b")-$f"
            done
        done
    done
    # Best of the rounds, and the median over rounds of each round's ratio
    # to that round's YAML run (the runs of a round are next to each other,
    # so the pair shares the machine's load of the moment).
    for b in "${bins[@]}"; do
        l=$(label "$b")
        python3 - "$WORK" "$l" $formats <<'PY'
import statistics, sys
work, label, formats = sys.argv[1], sys.argv[2], sys.argv[3:]
runs = {f: [tuple(map(float, line.split())) for line in open(f"{work}/filter-{label}-{f}")] for f in formats}
best = {f: min(r) for f, r in runs.items()}
ty, _, uy, sy = best["yaml"]
for f in formats:
    t, kb, u, s = best[f]
    wall = statistics.median(r[0] / y[0] for r, y in zip(runs[f], runs["yaml"]))
    cpu = statistics.median((r[2] + r[3]) / (y[2] + y[3]) for r, y in zip(runs[f], runs["yaml"]))
    peak = max(r[1] for r in runs[f])
    print(f"{label}   {f:6s} best {t:5.2f} s (x{t / ty:.2f} of yaml), CPU {u + s:5.2f} s (x{(u + s) / (uy + sy):.2f}); "
          f"median of the rounds' ratios: wall x{wall:.2f}, CPU x{cpu:.2f}; peak {peak / 1024:6.1f} MB")
PY
    done
fi
