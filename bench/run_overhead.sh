#!/usr/bin/env bash
# Per-experiment overhead of `cool-runner run` and the delay from a queue
# file edit to the runner's report (issue 3). Not a test: it prints figures.
#
#   bench/run_overhead.sh [N]        # N experiments, default 1000
#   ROUNDS=9 bench/run_overhead.sh   # more interleaved rounds (default 5)
#
# In the same run it times
#   1. a bare loop that spawns and waits for /bin/true N times
#      (examples/spawn_true.rs: std::process::Command, nothing else);
#   2. `cool-runner run` on N experiments with `Module: /bin/true`, the
#      queue file and the YamlLog on (every take appends to the queue's
#      journal; records are group-committed with fsync), run directories,
#      stdout/stderr capture, plain progress lines to a file;
# and reports (2 - 1) / N. Then it measures edit → report latency: a
# runner works on a long experiment while this script appends documents
# to its queue file and times each until the "queue: ... (+1 added)" line.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-1000}
ROUNDS=${ROUNDS:-5}
SHARED=${SHARED:-$(pwd)/../shared}

cargo build --release --quiet --bin cool-runner --example spawn_true
BIN=$(pwd)/target/release/cool-runner
SPAWN=$(pwd)/target/release/examples/spawn_true
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

if [[ -f $SHARED/bench/gen_workload.py ]]; then
    python3 "$SHARED/bench/gen_workload.py" "$N" --module /bin/true \
        --queue "$WORK/queue.yaml" --log-dir "$WORK/logs" -o "$WORK/w.yaml"
else
    # The same shape without the shared generator: plain experiments.
    {
        printf 'Global: {queue: %s}\nModule: /bin/true\nYamlLog: %s/logs/log.yaml\nlr: 0.1\n' \
            "$WORK/queue.yaml" "$WORK"
        for ((i = 0; i < N; i++)); do printf -- '---\nName: e%d\nx: %d\n' "$i" "$i"; done
    } > "$WORK/w.yaml"
fi


echo "machine: $(nproc) cores, $(uname -sr), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "experiments: $N (Module /bin/true, queue file + YamlLog on, fsync included), $ROUNDS rounds"
# Interleaved rounds (bare, runner, bare, runner, ...) so that both see the
# same machine load; work directories are kept until the end, because
# deleting thousands of files makes ext4's next inode allocations slower.
for ((r = 0; r < ROUNDS; r++)); do
    bare=$("$SPAWN" "$N" /bin/true)
    mkdir -p "$WORK/r$r"
    sed "s|$WORK/|$WORK/r$r/|g" "$WORK/w.yaml" > "$WORK/r$r/w.yaml"
    cd "$WORK/r$r"
    t0=$(date +%s.%N)
    "$BIN" run --exp w.yaml > /dev/null 2> runner.err
    t1=$(date +%s.%N)
    cd - > /dev/null
    logged=$(cat "$WORK/r$r"/logs/*.yaml | grep -c '^STATUS: done' || true)
    echo "$bare $t0 $t1 $logged"
done > "$WORK/rounds.txt"
python3 - "$N" "$WORK/rounds.txt" <<'PY'
import statistics, sys
n = int(sys.argv[1])
rows = [line.split() for line in open(sys.argv[2])]
bares, runs, overheads = [], [], []
for bare, t0, t1, logged in rows:
    bare, run = float(bare), float(t1) - float(t0)
    bares.append(bare / n * 1000); runs.append(run / n * 1000); overheads.append((run - bare) / n * 1000)
    print(f"  round: bare {bare / n * 1000:.3f} ms/spawn, runner {run / n * 1000:.3f} ms/experiment ({logged} logged done), overhead {(run - bare) / n * 1000:.3f} ms")
print(f"bare spawn+wait loop : median {statistics.median(bares):.3f} ms per spawn")
print(f"cool-runner run      : median {statistics.median(runs):.3f} ms per experiment")
print(f"overhead             : median {statistics.median(overheads):.3f} ms per experiment above the bare spawn (target <= 1.5 ms)")
PY

# Edit -> report latency.
mkdir -p "$WORK/lat" && cd "$WORK/lat"
printf 'Global: {queue: q.yaml}\nModule: sleep 60\n---\nName: long\n' > e.yaml
python3 - "$BIN" <<'PY'
import os, select, statistics, subprocess, sys, time
proc = subprocess.Popen([sys.argv[1], "run", "--exp", "e.yaml", "--follow"],
                        stderr=subprocess.PIPE, stdout=subprocess.DEVNULL)
fd = proc.stderr.fileno()
os.set_blocking(fd, False)
buf = b""
def wait_for(text, timeout=5.0):
    global buf
    end = time.perf_counter() + timeout
    while True:
        if text in buf:
            at = buf.index(text) + len(text)
            buf = buf[at:]
            return time.perf_counter()
        left = end - time.perf_counter()
        if left <= 0:
            raise SystemExit(f"no report {text!r}")
        r, _, _ = select.select([fd], [], [], left)
        if r:
            buf += os.read(fd, 65536)
wait_for(b"start `long`")
delays = []
for i in range(30):
    time.sleep(0.1)
    t0 = time.perf_counter()
    with open("q.yaml", "a") as f:
        f.write(f"---\nName: added{i}\n")
    t1 = wait_for(b"added)")
    delays.append((t1 - t0) * 1000)
proc.send_signal(15)
proc.wait(timeout=10)
delays.sort()
print(f"edit -> report       : median {statistics.median(delays):.1f} ms, p90 {delays[int(len(delays) * 0.9)]:.1f} ms, max {max(delays):.1f} ms over {len(delays)} appends (target <= 100 ms)")
PY
