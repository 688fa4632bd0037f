#!/usr/bin/env bash
# Pipelines (issue 15). Not a test: it prints figures, side by side in one
# run, as ratios.
#
#   bench/pipeline.sh                  # ROUNDS=5
#
# 1. `run --dry` of 10,000 experiments of which half read a result of the
#    one before them (`x: parse E[-1].X`), beside the same 10,000 with a
#    plain key instead (today's expansion): best wall time of ROUNDS,
#    interleaved, and the ratio.
# 2. A diamond (A → B, A → C, B + C → D) of 1-second modules with `-j 2`:
#    wall time (about 3 s: B and C side by side; one at a time would be 4 s),
#    beside three such modules one after the other (the plain cost of the
#    diamond's critical path: Python's start and the runner included).
# 3. Deciding readiness as the queue grows: a parent that sleeps 3 s, N
#    experiments that wait for it, then N independent `/bin/true` ones
#    that run in the other slot while the N wait (every start skips the
#    waiting ones in the queue file), for N = 1,000 and 10,000. The plain
#    cost: the same file with the N reading a constant instead (the same
#    2N + 1 module launches). The figure is the runner's CPU time (user +
#    sys, modules included, the same in both) per waiting experiment:
#    (with - without) / N, which should not grow with N.
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-5}

cargo build --release --quiet --bin cool-runner
BIN=$(pwd)/target/release/cool-runner
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
echo "machine: $(nproc) cores, $(uname -sr), load $(cut -d' ' -f1-3 /proc/loadavg)"

# `wall CMD...` in the work directory: seconds, from bash's clock.
wall() {
    local start end
    start=$EPOCHREALTIME
    (cd "$WORK" && "$@" > /dev/null 2> "$WORK/err.txt") || {
        cat "$WORK/err.txt" >&2
        return 1
    }
    end=$EPOCHREALTIME
    python3 -c "print(f'{$end - $start:.3f}')"
}

python3 - "$WORK" <<'EOF'
import sys
work = sys.argv[1]
head = "Global: {repeat: 1}\nModule: /bin/true\nYamlLog: log.yaml\nlr: 0.1\n"
with open(f"{work}/chain.yaml", "w") as f, open(f"{work}/plain.yaml", "w") as g:
    f.write(head)
    g.write(head)
    for i in range(5000):
        f.write(f"---\nName: a{i}\nseed: {i}\n---\nName: b{i}\nx: parse E[-1].X\nlr: parse E[-1].lr * 2\n")
        g.write(f"---\nName: a{i}\nseed: {i}\n---\nName: b{i}\nx: {i}\nlr: parse E[-1].lr * 2\n")
EOF

echo
echo "== 1. run --dry of 10,000 experiments, half waiting for the one before (best of $ROUNDS) =="
best_chain=999; best_plain=999
for _ in $(seq "$ROUNDS"); do
    t=$(wall "$BIN" run --exp chain.yaml --dry --no-store); best_chain=$(python3 -c "print(min($best_chain, $t))")
    t=$(wall "$BIN" run --exp plain.yaml --dry --no-store); best_plain=$(python3 -c "print(min($best_plain, $t))")
done
python3 -c "print(f'half waiting: {$best_chain:.3f} s   plain: {$best_plain:.3f} s   ratio {$best_chain / $best_plain:.2f} (goal <= 1.5)')"

echo
echo "== 2. diamond A -> B, A -> C, B + C -> D of 1-second modules, -j 2 =="
cat > "$WORK/sleep.py" <<'EOF'
import json, os, time
time.sleep(1)
json.dump({"X": 1}, open(os.environ["COOL_RUNNER_RESULTS"], "w"))
EOF
cat > "$WORK/diamond.yaml" <<'EOF'
Global: {repeat: 1}
Module: python3 sleep.py
---
Name: a
---
Name: b
x: parse E["a"].X
---
Name: c
x: parse E["a"].X + 1
---
Name: d
x: parse E["b"].X + E["c"].X
EOF
cat > "$WORK/three.yaml" <<'EOF'
Global: {repeat: 1}
Module: python3 sleep.py
---
Name: a
---
Name: b
---
Name: c
EOF
for _ in 1 2 3; do
    d=$(wall "$BIN" run --exp diamond.yaml -j 2 --no-store)
    t=$(wall "$BIN" run --exp three.yaml -j 1 --no-store)
    echo "diamond -j 2: $d s; plain cost of its critical path (3 such modules one after the other): $t s; ratio $(python3 -c "print(f'{$d / $t:.2f}')") (one at a time would be 4/3)"
done

echo
echo "== 3. readiness as the queue grows (queue file, -j 2; CPU seconds, modules included) =="
cat > "$WORK/parent.py" <<'EOF'
import json, os, time
time.sleep(3)
json.dump({"X": 1}, open(os.environ["COOL_RUNNER_RESULTS"], "w"))
EOF
cat > "$WORK/gen.py" <<'EOF'
import sys
work, n = sys.argv[1], int(sys.argv[2])
head = "Global: {repeat: 1, queue: q.yaml}\nModule: /bin/true\n---\nName: parent\nModule: python3 parent.py\n"
with open(f"{work}/wait{n}.yaml", "w") as f, open(f"{work}/free{n}.yaml", "w") as g:
    f.write(head)
    g.write(head)
    for i in range(n):
        f.write(f"---\nName: w{i}\nx: parse E[\"parent\"].X\n")
        g.write(f"---\nName: w{i}\nx: 1\n")
    for i in range(n):
        f.write(f"---\nName: f{i}\n")
        g.write(f"---\nName: f{i}\n")
EOF
cpu() { # file: "wall cpu"
    (cd "$WORK" && rm -f q.yaml && /usr/bin/time -o time.txt -f "%e %U %S" "$BIN" run --exp "$1" -j 2 --no-store > /dev/null 2> err.txt) || {
        cat "$WORK/err.txt" >&2
        return 1
    }
    awk 'END { printf "%s %.3f", $1, $2 + $3 }' "$WORK/time.txt"
}
for n in 1000 10000; do
    python3 "$WORK/gen.py" "$WORK" "$n"
    read -r wwall wcpu <<< "$(cpu "wait$n.yaml")"
    read -r fwall fcpu <<< "$(cpu "free$n.yaml")"
    python3 -c "
n = $n
print(f'N = {n:>6}: {n} waiting: $wwall s wall, $wcpu s CPU; none waiting: $fwall s, $fcpu s CPU; per waiting experiment {($wcpu - $fcpu) / n * 1000:.3f} ms CPU')"
done
