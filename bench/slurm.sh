#!/usr/bin/env bash
# Figures for the Slurm executor (issue 16), on the local one-node cluster
# (bash .ci/slurm/start-local-slurm.sh; SLURM_LOCAL_CPUS=8 runs 8 jobs at
# once). Not a test: it prints figures. Slurm's calls are counted through a
# PATH shim, as in tests/integration/slurm.rs.
#
#   bench/slurm.sh            # N=1000 experiments
#   N=200 bench/slurm.sh
#   PARTS=1 bench/slurm.sh    # only some of the parts below (2 needs 1)
#
# 1. `run --executor slurm --detach` of N trivial experiments: sbatch calls,
#    wall time until it returns (submission included), against the peer way
#    (one `sbatch` per experiment, as submitit and Snakemake profiles do)
#    and the floor (one bare `sbatch --array` of `true`).
# 2. `attach` of those N jobs with `COOL_RUNNER_SLURM_POLL=1`: squeue calls
#    per poll, and the delay from each job's done file to its log document.
# 3. The same run attached with the default backoff (10, 20, 40, 60 s):
#    squeue calls, and what that is per hour in the steady state.
# 4. Runner overhead per experiment beyond Slurm's own scheduling: 40
#    trivial experiments through cool-runner against a bare array of 40
#    `true` jobs, each waited for until Slurm says every task is over.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v sbatch >/dev/null || { echo "no sbatch: start the cluster (bash .ci/slurm/start-local-slurm.sh)"; exit 1; }
cargo build --release --quiet --bin cool-runner
BIN=$(pwd)/target/release/cool-runner
N=${N:-1000}
PARTS=${PARTS:-1234}
WORK=$(mktemp -d)
trap 'scancel --name=bench-peer >/dev/null 2>&1 || true; rm -rf "$WORK"' EXIT
now() { date +%s.%N; }

mkdir -p "$WORK/shim"
for name in sbatch squeue scontrol scancel sacct; do
    real=$(command -v "$name" || true)
    [ -n "$real" ] || continue
    printf '#!/bin/sh\necho "%s $*" >> %s/calls.log\nexec %s "$@"\n' "$name" "$WORK" "$real" > "$WORK/shim/$name"
    chmod +x "$WORK/shim/$name"
done
calls() { grep -c "^$1 " "$WORK/calls.log" 2>/dev/null || true; }
reset_calls() { : > "$WORK/calls.log"; }

cd "$WORK"
{
    printf 'Global: {queue: null}\nModule: "true"\nYamlLog: log.yaml\n'
    for ((i = 0; i < N; i++)); do printf -- '---\nName: e%d\n' "$i"; done
} > many.yaml

wait_for_name() { # until squeue lists no live job of this name
    while [ -n "$(squeue -h --name="$1" -o %i 2>/dev/null | head -n 1)" ]; do sleep 0.2; done
}

if [[ $PARTS == *1* ]]; then
echo "== 1. submitting $N experiments"
reset_calls
t0=$(now)
PATH="$WORK/shim:$PATH" "$BIN" run --exp many.yaml --executor slurm --detach > /dev/null 2> detach.err
t1=$(now)
echo "sbatch calls: $(calls sbatch) (MaxArraySize $(scontrol show config | awk '/^MaxArraySize/ {print $3}'))"
name=$(grep -o 'attach cr-[0-9-]*' detach.err | head -n 1 | cut -d' ' -f2)
t2=$(now)
for ((i = 0; i < 50; i++)); do sbatch --parsable --hold --job-name=bench-peer --wrap true > /dev/null; done
t3=$(now)
scancel --name=bench-peer
sbatch --parsable --hold --job-name=bench-peer --array=0-$((N - 1)) --wrap true > /dev/null
t4=$(now)
scancel --name=bench-peer
awk -v n="$N" -v a="$t0" -v b="$t1" -v c="$t2" -v d="$t3" -v e="$t4" 'BEGIN {
    ours = b - a; peer = (d - c) / 50 * n; floor = e - d;
    printf "run --detach (expand, %d run dirs, code snapshot, arrays): %.2f s\n", n, ours;
    printf "one sbatch per experiment (50 timed, scaled to %d):    %.2f s  (%.1fx ours)\n", n, peer, peer / ours;
    printf "one bare sbatch --array of %d:                          %.3f s\n", n, floor;
}'

fi
if [[ $PARTS == *2* ]]; then
echo "== 2. attach with a 1 s poll"
reset_calls
t0=$(now)
PATH="$WORK/shim:$PATH" COOL_RUNNER_SLURM_POLL=1 "$BIN" attach "$name" > /dev/null 2> attach.err || true
t1=$(now)
awk -v a="$t0" -v b="$t1" -v q="$(calls squeue)" -v s="$(calls scontrol)" -v x="$(calls sacct)" 'BEGIN {
    t = b - a; polls = int(t / 1) + 1;
    printf "attach: %.1f s, %d squeue calls for at most %d polls (%.2f per poll), %d scontrol, %d sacct\n", t, q, polls, q / polls, s, x;
}'
python3 - "$WORK" <<'EOF'
import glob, json, os, sys, datetime, statistics
work = sys.argv[1]
docs = {}
doc = {}
for line in open(os.path.join(work, "log.yaml")):
    if line.startswith("---"):
        if doc: docs[doc.get("RUN_DIR")] = doc
        doc = {}
    elif ": " in line and not line.startswith(" "):
        k, v = line.rstrip("\n").split(": ", 1)
        doc[k] = v.strip('"')
if doc: docs[doc.get("RUN_DIR")] = doc
delays = []
for run_dir, d in docs.items():
    done = os.path.join(work, run_dir, "done.json")
    if not os.path.exists(done) or "FINISHED_AT" not in d: continue
    logged = datetime.datetime.fromisoformat(d["FINISHED_AT"]).timestamp()
    delays.append(logged - os.path.getmtime(done))
delays.sort()
if delays:
    print("done file -> log document: n=%d median %.2f s, p95 %.2f s, max %.2f s" % (
        len(delays), statistics.median(delays), delays[int(len(delays) * 0.95) - 1], delays[-1]))
EOF

fi
if [[ $PARTS == *3* ]]; then
echo "== 3. default backoff (10, 20, 40, 60 s): squeue calls"
{
    printf 'Global: {queue: null}\nModule: sleep 95\nYamlLog: slow.yaml\n'
    for ((i = 0; i < 8; i++)); do printf -- '---\nName: s%d\n' "$i"; done
} > slow.yaml
reset_calls
t0=$(now)
PATH="$WORK/shim:$PATH" "$BIN" run --exp slow.yaml --executor slurm > /dev/null 2>&1 || true
t1=$(now)
awk -v a="$t0" -v b="$t1" -v q="$(calls squeue)" 'BEGIN {
    printf "8 jobs of 95 s: %.0f s, %d squeue calls (10+20+40+60... s apart; steady state 60 per hour)\n", b - a, q;
}'

fi
if [[ $PARTS == *4* ]]; then
echo "== 4. overhead per experiment beyond Slurm's scheduling (40 trivial jobs)"
{
    printf 'Global: {queue: null}\nModule: "true"\n'
    for ((i = 0; i < 40; i++)); do printf -- '---\nName: t%d\n' "$i"; done
} > few.yaml
t0=$(now)
COOL_RUNNER_SLURM_POLL=0.2 "$BIN" run --exp few.yaml --executor slurm --no-store > /dev/null 2>&1
t1=$(now)
sbatch --parsable --job-name=bench-peer --array=0-39 --output=/dev/null --wrap true > /dev/null
wait_for_name bench-peer
t2=$(now)
awk -v a="$t0" -v b="$t1" -v c="$t2" 'BEGIN {
    ours = b - a; bare = c - b;
    printf "cool-runner: %.2f s, bare array: %.2f s, ratio %.2f, overhead %.3f s per experiment\n", ours, bare, ours / bare, (ours - bare) / 40;
}'
fi
