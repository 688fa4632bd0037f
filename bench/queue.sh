#!/usr/bin/env bash
# The queue file's cost per experiment at 1,000 and 100,000 pending, next
# to the in-memory queue, bytes written per experiment, and the time and
# peak memory of resuming 100,000 pending (issue 10). Not a test: it prints
# figures. Needs only python3 and /usr/bin/time (no farm-bench).
#
#   bench/queue.sh                          # K=1000 experiments per measure, 3 rounds
#   K=500 ROUNDS=5 bench/queue.sh
#   OLD=/work/cool-runner-before bench/queue.sh   # the old binary side by side
#
# How: a queue file holds K experiments (`Module: /bin/true`, expanded by
# `cool-runner run --dry` of gen_workload.py's workload), then one whose
# module fails, then P more (P = 1,000 or 100,000). `run --fail-fast
# --no-store` runs the K and stops at the failure, leaving P pending. The
# same file without the K gives the fixed costs (resume, start, the final
# write), so per experiment = (T(K) - T(0)) / K, at the head of a queue of
# P + 1 pending all along. The in-memory queue runs the same documents from
# an experiment file without `Global.queue`. Bytes are the runner's
# `/proc/<pid>/io` (`wchar`: bytes handed to write(), queue file, journal,
# log and run directories together) read when it exits, before it is
# reaped. Rounds are interleaved so that all variants see the same load.
set -euo pipefail
cd "$(dirname "$0")/.."
K=${K:-1000}
ROUNDS=${ROUNDS:-3}
OLD=${OLD:-}
OLD_K=${OLD_K:-100}
SHARED=${SHARED:-$(pwd)/../shared}
cargo build --release --quiet --bin cool-runner --example spawn_true
BIN=$(pwd)/target/release/cool-runner
SPAWN=$(pwd)/target/release/examples/spawn_true
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
echo "machine: $(nproc) cores, $(uname -sr), load $(cut -d' ' -f1-3 /proc/loadavg), $(df -T "$WORK" | awk 'NR==2{print $2}') in $WORK"
python3 "$SHARED/bench/gen_workload.py" $((100000 + K)) --module /bin/true \
    --queue q.yaml --log-dir logs -o "$WORK/w.yaml"
(cd "$WORK" && "$BIN" run --exp w.yaml --dry 2> /dev/null > expanded.yaml)
python3 bench/queue_bench.py "$WORK" "$BIN" "$SPAWN" "$K" "$ROUNDS" "$OLD" "$OLD_K"
