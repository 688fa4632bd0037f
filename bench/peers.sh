#!/usr/bin/env bash
# cool-runner side by side with the tools a researcher would use instead:
# GNU parallel, Hydra, Python + PyYAML (libyaml's C loader), pandas, jq.
# Same workloads, interleaved rounds, one run; prints a table with ratios.
# Not a test: it prints figures (README "Compared with other tools").
#
#   bench/peers.sh                          # default sizes, ~10 minutes
#
# Hydra costs about 0.1 s of CPU per job and per composed config, so by
# default it runs 100 points and composes 100 configs (per-experiment
# figures); HYDRA_RUN_N=1000 HYDRA_COMPOSE_N=10000 give the full sizes
# (about 50 minutes more per round on a loaded 2-core machine).
#   BIN=/path/to/cool-runner SPAWN=/path/to/spawn_true bench/peers.sh
#   PARTS="run dry query" ROUNDS=3 N_RUN=1000 HYDRA_RUN_N=1000 \
#     N_DRY=10000 HYDRA_COMPOSE_N=10000 LOG_FILES=20000 PY_ROUNDS=1 bench/peers.sh
#
# 1. run: N_RUN trivial experiments (/bin/true), each round in this order:
#    a bare spawn+wait loop (examples/spawn_true.rs), the same loop in
#    Python (subprocess.run), `cool-runner run` (bench/gen_workload.py
#    --module /bin/true: queue file, YamlLog and results store on, as by
#    default), `parallel -j1 --joblog`, and Hydra `--multirun` of an app
#    whose job runs /bin/true (HYDRA_RUN_N points: its own run directory,
#    .hydra/ config files and log per job). Figures are per experiment; the
#    overhead is above the bare spawn loop.
# 2. dry: `cool-runner run --dry` of N_DRY experiments (gen_workload.py
#    --strings) against Hydra's compose API called once per experiment with
#    the same values as overrides (arithmetic through registered resolvers,
#    f-strings as string interpolation, E[-1] computed in Python from the
#    previous config), resolved and written as YAML.
# 3. query: 100,000 log documents (gen_logs.py LOG_FILES files x 5 docs,
#    `cool-runner collect`): a filter and a sort with `cool-runner filter`
#    (YAML out, and JSON lines out), Python + PyYAML's CSafeLoader/CSafeDumper
#    (bench/py_filter.py, PY_ROUNDS rounds: it is slow), pandas and jq on the
#    same documents as JSON lines (`cool-runner filter --format jsonl`);
#    then `--group-by Name lr sparsity --agg ACC,LOSS --agg-stats` against
#    pandas' groupby (both write CSV).
#
# Every command is timed with /usr/bin/time: wall time and CPU time
# (user + sys, children included). On a shared machine the CPU time is the
# steadier figure; medians over the rounds are reported.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
PARTS=${PARTS:-"run dry query"}
ROUNDS=${ROUNDS:-3}
N_RUN=${N_RUN:-1000}
HYDRA_RUN_N=${HYDRA_RUN_N:-100}
N_DRY=${N_DRY:-10000}
HYDRA_COMPOSE_N=${HYDRA_COMPOSE_N:-100}
LOG_FILES=${LOG_FILES:-20000}
PY_ROUNDS=${PY_ROUNDS:-1}

# --- tools -------------------------------------------------------------
need_apt=()
[[ $(parallel --version 2> /dev/null) == *"GNU parallel"* ]] || need_apt+=(parallel)
command -v jq > /dev/null || need_apt+=(jq)
[ -x /usr/bin/time ] || need_apt+=(time)
if ((${#need_apt[@]})); then
    if [ "$(id -u)" = 0 ]; then
        apt-get update -qq && apt-get install -y -qq "${need_apt[@]}" > /dev/null
    else
        echo "missing: ${need_apt[*]} (apt-get install -y ${need_apt[*]} as root)" >&2
        exit 1
    fi
fi
python3 -c 'import hydra, pandas, yaml' 2> /dev/null || pip install -q hydra-core pandas pyyaml
python3 -c 'import yaml, sys; sys.exit(0 if yaml.__with_libyaml__ else 1)' \
    || { echo "PyYAML is built without libyaml (no CSafeLoader): install libyaml-dev, then pip install --force-reinstall --no-binary pyyaml pyyaml" >&2; exit 1; }

if [ -z "${BIN:-}" ]; then
    cargo build --release --quiet --bin cool-runner --example spawn_true
    BIN=$repo/target/release/cool-runner
fi
SPAWN=${SPAWN:-$(dirname "$BIN")/examples/spawn_true}
if [ ! -x "$SPAWN" ]; then
    cargo build --release --quiet --example spawn_true
    SPAWN=$repo/target/release/examples/spawn_true
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
results=$work/results.txt
: > "$results"

# measure PART LABEL N OUTFILE CMD...: one timed run; appends
# "PART|LABEL|N|wall|cpu|rss_kb" to the results.
measure() {
    local part=$1 label=$2 n=$3 out=$4
    shift 4
    if ! /usr/bin/time -o "$work/t.txt" -f '%e %U %S %M' "$@" > "$out" 2> "$work/err.txt"; then
        echo "failed: $label: $*" >&2
        tail -5 "$work/err.txt" >&2
        exit 1
    fi
    tail -1 "$work/t.txt" | awk -v p="$part" -v l="$label" -v n="$n" \
        '{printf "%s|%s|%s|%s|%.3f|%s\n", p, l, n, $1, $2 + $3, $4}' >> "$results"
}

echo "machine: $(nproc) cores, $(uname -sr), load $(cut -d' ' -f1-3 /proc/loadavg) at start, $(date -u '+%d %b %Y %H:%M UTC')"
echo "tools: $("$BIN" --version), $(parallel --version | head -1), jq $(jq --version), Python $(python3 -c 'import sys, hydra, pandas, yaml; print(sys.version.split()[0], "hydra-core", hydra.__version__, "pandas", pandas.__version__, "PyYAML", yaml.__version__, "libyaml" if yaml.__with_libyaml__ else "no libyaml")')"

# --- 1. running trivial experiments ------------------------------------
hydra_app() {
    mkdir -p "$work/hydra/conf"
    cat > "$work/hydra/conf/config.yaml" << 'EOF'
i: 0
lr: 0.1
epochs: 10
model_args: {depth: 20, width: 16}
EOF
    cat > "$work/hydra/app.py" << 'EOF'
import subprocess

import hydra


@hydra.main(config_path="conf", config_name="config", version_base=None)
def main(cfg):
    subprocess.run(["/bin/true"], check=True)


if __name__ == "__main__":
    main()
EOF
}

part_run() {
    hydra_app
    echo "run: $N_RUN experiments of /bin/true (Hydra: $HYDRA_RUN_N points), $ROUNDS interleaved rounds..."
    for ((r = 0; r < ROUNDS; r++)); do
        local d=$work/run/r$r
        mkdir -p "$d/cr" "$d/par"
        measure run "bare spawn loop (Rust)" "$N_RUN" /dev/null "$SPAWN" "$N_RUN" /bin/true
        measure run "bare spawn loop (Python subprocess)" "$N_RUN" /dev/null python3 -c \
            "import subprocess, sys
for _ in range(int(sys.argv[1])): subprocess.run(['/bin/true'], check=True)" "$N_RUN"
        python3 "$repo/bench/gen_workload.py" "$N_RUN" --module /bin/true \
            --queue "$d/cr/queue.yaml" --log-dir "$d/cr/logs" -o "$d/cr/w.yaml"
        (cd "$d/cr" && measure run "cool-runner run" "$N_RUN" /dev/null "$BIN" run --exp w.yaml)
        local done_n
        done_n=$(cat "$d"/cr/logs/*.yaml | grep -c '^STATUS: done' || true)
        [ "$done_n" = "$N_RUN" ] || { echo "cool-runner logged $done_n of $N_RUN" >&2; exit 1; }
        measure run "GNU parallel -j1 --joblog" "$N_RUN" /dev/null bash -c \
            'seq "$1" | parallel -j1 --joblog "$2" /bin/true' _ "$N_RUN" "$d/par/joblog"
        [ "$(($(wc -l < "$d/par/joblog") - 1))" = "$N_RUN" ] || { echo "parallel: short joblog" >&2; exit 1; }
        measure run "Hydra --multirun" "$HYDRA_RUN_N" /dev/null python3 "$work/hydra/app.py" \
            --multirun "i=range(0,$HYDRA_RUN_N)" "hydra.sweep.dir=$d/hydra"
        local jobs
        jobs=$(find "$d/hydra" -mindepth 1 -maxdepth 1 -type d | wc -l)
        [ "$jobs" = "$HYDRA_RUN_N" ] || { echo "Hydra ran $jobs of $HYDRA_RUN_N" >&2; exit 1; }
    done
}

# --- 2. expansion ------------------------------------------------------
hydra_compose_script() {
    mkdir -p "$work/compose/conf"
    # The default document of gen_workload.py, with the per-experiment
    # expressions as interpolations.
    cat > "$work/compose/conf/config.yaml" << 'EOF'
_dir: logs
Name: default
Repeat: 4
REP: 0
RND_IDX: 0
YamlLog: ${_dir}/${Name}/id${RND_IDX}/rep${REP}.yaml
Module: /bin/true
Desc: benchmark workload
precision: 32
epochs: 10
steps_per_epoch: 100
batch_size: 128
dataset: cifar10
model_args: {depth: 20, width: 16, l2: 1.0e-4, activation: relu}
optimizer: {name: sgd, momentum: 0.9, nesterov: true}
schedule: [30, 60, 90]
tags: [baseline, cifar]
lr: 0.1
wd: 1e-4
width_mult: 1.0
seed: 0
augment: true
nested:
  test: 0
  deeper: {k: 1, k2: '${mul:${.k},2}', tag: inner}
lr2: ${mul:${lr},2.0}
incremented: ${add:${nested.test},1}
first_epoch: ${schedule[0]}
scaled: ${mul:${width_mult},16.0}
sparsity: 0.5
prev_inc: 0
deep: 0
tag: ${Name}/rep${REP}/id${RND_IDX}
label: ${Name}_${REP}
EOF
    cat > "$work/compose/compose.py" << 'EOF'
"""Hydra's compose API once per experiment, the values of gen_workload.py
--strings as overrides; resolved and written as YAML on stdout."""
import random
import sys

from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

OmegaConf.register_new_resolver("mul", lambda a, b: a * b)
OmegaConf.register_new_resolver("add", lambda a, b: a + b)
n, conf = int(sys.argv[1]), sys.argv[2]
rng = random.Random(0)
out = sys.stdout
with initialize_config_dir(config_dir=conf, version_base=None):
    prev = None
    i = done = 0
    while done < n:
        lr = round(rng.choice([0.1, 0.05, 0.02, 0.01]) * (1 + (i % 7) / 10), 6)
        base = [f"Name=exp{i}", f"lr={lr}", f"wd={rng.choice(['1e-4', '5e-4', '2e-5'])}",
                f"width_mult={rng.choice([0.5, 1.0, 2.0])}", f"seed={rng.randrange(1 << 16)}",
                f"augment={rng.choice(['true', 'false'])}", f"nested.test={i}",
                f"nested.deeper.k={1 + i % 5}",
                f"schedule=[{10 + i % 3},{20 + i % 3},{30 + i % 3}]"]
        for rep in range(min(4, n - done)):
            over = base + [f"REP={rep}", f"RND_IDX={rng.randrange(100000, 999999)}"]
            if prev is not None:  # E[-1]: Hydra has no history; the caller keeps it
                over += [f"sparsity={0.5 * prev['sparsity'] + 0.45}",
                         f"prev_inc={prev['incremented'] + 1}",
                         f"deep={prev['nested']['deeper']['k'] + i}"]
            cfg = compose(config_name="config", overrides=over)
            prev = OmegaConf.to_container(cfg, resolve=True)
            out.write("---\n")
            out.write(OmegaConf.to_yaml(prev))
            done += 1
        i += 1
EOF
}

part_dry() {
    hydra_compose_script
    python3 "$repo/bench/gen_workload.py" "$N_DRY" --strings -o "$work/w_dry.yaml"
    echo "dry: $N_DRY experiments expanded (Hydra: $HYDRA_COMPOSE_N composed), $ROUNDS interleaved rounds..."
    for ((r = 0; r < ROUNDS; r++)); do
        measure dry "cool-runner run --dry" "$N_DRY" "$work/dry.yaml" \
            "$BIN" run --exp "$work/w_dry.yaml" --dry --seed 1
        measure dry "Hydra compose + to_yaml" "$HYDRA_COMPOSE_N" "$work/compose.yaml" \
            python3 "$work/compose/compose.py" "$HYDRA_COMPOSE_N" "$work/compose/conf"
    done
    local a b
    a=$(grep -c '^---$' "$work/dry.yaml")
    b=$(grep -c '^---$' "$work/compose.yaml")
    [ "$a" = "$N_DRY" ] && [ "$b" = "$HYDRA_COMPOSE_N" ] \
        || { echo "dry: $a and $b documents" >&2; exit 1; }
}

# --- 3. querying logs ----------------------------------------------------
query_scripts() {
    cat > "$work/pd_filter.py" << 'EOF'
import sys

import pandas as pd

df = pd.read_json(sys.argv[1], lines=True)
df = df[df["ACC"].notna() & (df["ACC"] > 0.9) & (df["sparsity"] >= 0.5)]
df = df.sort_values(["Name", "TIME_ELAPSED"], kind="stable")
df.to_json(sys.stdout, orient="records", lines=True)
print(f"{len(df)} documents", file=sys.stderr)
EOF
    cat > "$work/pd_group.py" << 'EOF'
import sys

import pandas as pd

df = pd.read_json(sys.argv[1], lines=True)
g = df.groupby(["Name", "lr", "sparsity"], dropna=False)[["ACC", "LOSS"]]
g.agg(["count", "mean", "std", "min", "max"]).to_csv(sys.stdout)
EOF
}

part_query() {
    query_scripts
    local q=$work/q
    mkdir -p "$q"
    echo "query: generating $LOG_FILES log files x 5 documents..."
    python3 "$repo/bench/gen_logs.py" "$q/data" --files "$LOG_FILES" --docs 5 > /dev/null
    "$BIN" collect "$q/data" --dest "$q/out" > /dev/null 2>&1
    local log
    log=$(ls "$q"/out/logs_*.yaml)
    "$BIN" filter "$log" --format jsonl > "$q/docs.jsonl" 2> /dev/null
    local docs
    docs=$(wc -l < "$q/docs.jsonl")
    echo "query: $docs documents ($(du -m "$log" | cut -f1) MB YAML, $(du -m "$q/docs.jsonl" | cut -f1) MB JSON lines), $ROUNDS interleaved rounds (Python + libyaml: $PY_ROUNDS)..."
    local filt=(--filter '"ACC" in exp && exp.ACC > 0.9' --filter 'exp.sparsity >= 0.5'
        --sort exp.TIME_ELAPSED --sort exp.Name)
    local jqprog='map(select(.ACC != null and .ACC > 0.9 and .sparsity >= 0.5)) | sort_by(.Name, .TIME_ELAPSED) | .[]'
    for ((r = 0; r < ROUNDS; r++)); do
        measure query "cool-runner filter (YAML out)" "$docs" "$q/cr.yaml" "$BIN" filter "$log" "${filt[@]}"
        measure query "cool-runner filter --format jsonl" "$docs" "$q/cr.jsonl" \
            "$BIN" filter "$log" "${filt[@]}" --format jsonl
        if ((r < PY_ROUNDS)); then
            measure query "Python + PyYAML CSafeLoader" "$docs" "$q/py.yaml" \
                env PY_YAML_C=1 python3 "$repo/bench/py_filter.py" "$log"
        fi
        measure query "pandas (JSON lines)" "$docs" "$q/pd.jsonl" python3 "$work/pd_filter.py" "$q/docs.jsonl"
        measure query "jq -s (JSON lines)" "$docs" "$q/jq.jsonl" jq -c -s "$jqprog" "$q/docs.jsonl"
        measure group "cool-runner filter --group-by --agg" "$docs" "$q/crg.csv" "$BIN" filter "$log" \
            --group-by Name lr sparsity --agg ACC,LOSS --agg-stats --format csv
        measure group "pandas groupby (JSON lines)" "$docs" "$q/pdg.csv" python3 "$work/pd_group.py" "$q/docs.jsonl"
    done
    # The same answer everywhere: as many documents kept, in the same order.
    local kept
    kept=$(wc -l < "$q/cr.jsonl")
    for f in "$q/pd.jsonl" "$q/jq.jsonl"; do
        [ "$(wc -l < "$f")" = "$kept" ] || { echo "$f: $(wc -l < "$f") documents, not $kept" >&2; exit 1; }
    done
    [ "$(grep -c '^---$' "$q/cr.yaml")" = "$kept" ] || { echo "YAML out differs" >&2; exit 1; }
    if ((PY_ROUNDS > 0)); then
        [ "$(grep -c '^---$' "$q/py.yaml")" = "$kept" ] || { echo "Python kept other documents" >&2; exit 1; }
    fi
    python3 - "$q/cr.jsonl" "$q/pd.jsonl" "$q/jq.jsonl" << 'EOF'
import json, sys
orders = [[(d["Name"], d["RND_IDX"], d["REP"]) for d in map(json.loads, open(p))] for p in sys.argv[1:]]
assert all(o == orders[0] for o in orders), "the tools kept or sorted documents differently"
EOF
    local groups pgroups
    groups=$(($(wc -l < "$q/crg.csv") - 1))
    pgroups=$(($(wc -l < "$q/pdg.csv") - 3))
    [ "$groups" = "$pgroups" ] || { echo "groups: cool-runner $groups, pandas $pgroups" >&2; exit 1; }
    echo "query: $kept documents kept by the filter in every tool, $groups groups"
}

for part in $PARTS; do "part_$part"; done
echo "load at the end: $(cut -d' ' -f1-3 /proc/loadavg)"

python3 - "$results" << 'EOF'
import statistics, sys
from collections import defaultdict

rows = defaultdict(list)
order = []
for line in open(sys.argv[1]):
    part, label, n, wall, cpu, rss = line.rstrip("\n").split("|")
    key = (part, label)
    if key not in rows:
        order.append(key)
    rows[key].append((int(n), float(wall), float(cpu), int(rss)))

def med(key, i):
    return statistics.median(r[i] for r in rows[key])

def per(key, i):  # ms per experiment
    return statistics.median(r[i] / r[0] * 1000 for r in rows[key])

parts = {p for p, _ in order}
if "run" in parts:
    bare = ("run", "bare spawn loop (Rust)")
    cr = ("run", "cool-runner run")
    bw, bc = per(bare, 1), per(bare, 2)
    ow, oc = per(cr, 1) - bw, per(cr, 2) - bc
    print("\n1. running trivial experiments (/bin/true), per experiment, median of rounds")
    print(f"| tool | n | wall ms | CPU ms | overhead above bare spawn: wall ms | CPU ms | overhead ÷ cool-runner's (wall, CPU) |")
    print("|---|---|---|---|---|---|---|")
    for key in order:
        if key[0] != "run":
            continue
        w, c = per(key, 1), per(key, 2)
        ratio = "" if key in (bare, cr) else f"×{(w - bw) / ow:.1f}, ×{(c - bc) / oc:.1f}"
        print(f"| {key[1]} | {rows[key][0][0]:,} | {w:.2f} | {c:.2f} | {w - bw:.2f} | {c - bc:.2f} | {ratio} |")

def table(part, ref, title):
    print(f"\n{title}")
    print("| tool | n | wall s | CPU s | ms per item: wall, CPU | peak RSS MB | ÷ cool-runner (wall, CPU) |")
    print("|---|---|---|---|---|---|---|")
    rw, rc = per((part, ref), 1), per((part, ref), 2)
    for key in order:
        if key[0] != part:
            continue
        w, c = per(key, 1), per(key, 2)
        n = rows[key][0][0]
        note = "" if key[1] == ref else f"×{w / rw:.1f}, ×{c / rc:.1f}"
        print(f"| {key[1]} | {n:,} | {med(key, 1):.2f} | {med(key, 2):.2f} | {w:.3f}, {c:.3f} | {med(key, 3) / 1024:.0f} | {note} |")
    if part == "dry":
        print("(ratios per experiment: the two sides may expand different numbers of experiments)")

if "dry" in parts:
    table("dry", "cool-runner run --dry", "2. expansion, median of rounds")
if "query" in parts:
    table("query", "cool-runner filter (YAML out)", "3. filter (2 filters, 2 sorts), median of rounds")
    table("group", "cool-runner filter --group-by --agg", "3b. group-by Name lr sparsity, ACC and LOSS stats")
EOF
