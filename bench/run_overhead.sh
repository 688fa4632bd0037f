#!/usr/bin/env bash
# Per-experiment overhead of `cool-runner run` and the delay from a queue
# file edit to the runner's report (issue 3). Not a test: it prints figures.
#
#   bench/run_overhead.sh [N]        # N experiments, default 1000
#
# In the same run it times
#   1. a bare loop that spawns and waits for /bin/true N times
#      (examples/spawn_true.rs: std::process::Command, nothing else);
#   2. `cool-runner run` on N experiments with `Module: /bin/true`, the
#      queue file and the YamlLog on (every take rewrites the queue file
#      with fsync; every record is appended with fsync), run directories,
#      stdout/stderr capture, plain progress lines to a file;
# and reports (2 - 1) / N. Then it measures edit → report latency: a
# runner works on a long experiment while this script appends documents
# to its queue file and times each until the "queue: ... (+1 added)" line.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-1000}
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

now() { python3 -c 'import time; print(time.perf_counter())'; }

echo "machine: $(nproc) cores, $(uname -sr)"
echo "experiments: $N (Module /bin/true, queue file + YamlLog on, fsync included)"
bare=$("$SPAWN" "$N" /bin/true)
cd "$WORK"
t0=$(date +%s.%N)
"$BIN" run --exp w.yaml > /dev/null 2> runner.err
t1=$(date +%s.%N)
cd - > /dev/null
bare_again=$("$SPAWN" "$N" /bin/true)
logged=$(grep -c '^STATUS: done' "$WORK"/logs/*.yaml || true)
python3 - "$N" "$bare" "$bare_again" "$t0" "$t1" "$logged" <<'PY'
import sys
n, bare1, bare2, t0, t1, logged = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5]), int(sys.argv[6])
bare = (bare1 + bare2) / 2
run = t1 - t0
print(f"bare spawn+wait loop : {bare:.3f} s total, {bare / n * 1000:.3f} ms per spawn (runs: {bare1:.3f}, {bare2:.3f})")
print(f"cool-runner run      : {run:.3f} s total, {run / n * 1000:.3f} ms per experiment ({logged} logged done)")
print(f"overhead             : {(run - bare) / n * 1000:.3f} ms per experiment above the bare spawn (target <= 1.5 ms)")
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
