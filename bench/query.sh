#!/usr/bin/env bash
# Benchmark of `collect` and `filter` (issue 4); not a timed test.
#
#   bench/query.sh [WORKDIR]        (default: a fresh temporary directory)
#
# Generates 20,000 log files of 5 documents each in nested directories
# (100,000 documents, bench/gen_logs.py), builds the release binary, then
# measures in the same run:
#   * `collect` of the whole tree (wall time and peak RSS, /usr/bin/time);
#   * `filter` with two filters and two sorts over the collected log;
#   * `filter --group-by` over it;
#   * the minimal Python equivalents (bench/py_collect.py, bench/py_filter.py:
#     os.walk + yaml.safe_load_all + dump, lambda filter + sort) and the
#     speed ratio. PY_YAML_C=1 makes the Python side use libyaml's C loader.
# Each Rust figure is the best of 3 runs (the machine is shared), with the
# CPU time of one more run; the Python figures are single runs (they take
# minutes). SKIP_PYTHON=1 skips
# them.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
work=${1:-$(mktemp -d)}
mkdir -p "$work"
cd "$work"

python3 -c 'import yaml' 2>/dev/null || pip install pyyaml
cargo build --release --quiet --manifest-path "$repo/Cargo.toml"
bin=$repo/target/release/cool-runner
[ -x /usr/bin/time ] || { apt-get update -qq && apt-get install -y -qq time; }

if [ ! -d data ]; then
    python3 "$repo/bench/gen_logs.py" data --files 20000 --docs 5
fi
cat data/*/*/*.yaml > /dev/null  # warm the page cache, as for every run below

# best-of-3 wall time of a command; prints seconds
best() {
    local best=
    for _ in 1 2 3; do
        local start end t
        start=$(date +%s.%N)
        "$@" > /dev/null 2>&1
        end=$(date +%s.%N)
        t=$(echo "$end - $start" | bc -l)
        if [ -z "$best" ] || (( $(echo "$t < $best" | bc -l) )); then best=$t; fi
    done
    printf '%.3f' "$best"
}

# CPU seconds (user + sys) of one run: unlike wall time, it does not
# depend on what else the shared machine is doing.
cpu() {
    /usr/bin/time -o "$work/cpu.txt" -f '%U %S' "$@" > /dev/null 2>&1
    awk '{printf "%.2f", $1 + $2}' "$work/cpu.txt"
}

rm -rf out && mkdir out
collect_s=$(best "$bin" collect data --dest out)
"$bin" collect data --dest out/last > /dev/null 2>&1
log=$(ls out/last/logs_*.yaml)
/usr/bin/time -o out/time.txt -f '%M' "$bin" collect data --dest out/mem > /dev/null 2>&1
peak_kb=$(tail -1 out/time.txt)
docs=$(grep -c '^---$' "$log")

filter_args=(filter "$log"
    --filter '"ACC" in exp && exp.ACC > 0.9'
    --filter 'exp.sparsity >= 0.5'
    --sort exp.TIME_ELAPSED --sort exp.Name)
filter_s=$(best "$bin" "${filter_args[@]}")
kept=$("$bin" "${filter_args[@]}" 2>/dev/null | grep -c '^---$')
group_s=$(best "$bin" filter "$log" --group-by Name lr sparsity --agg ACC,LOSS --agg-stats)
groups=$("$bin" filter "$log" --group-by Name lr sparsity --agg ACC,LOSS 2>/dev/null | tail -n +3 | wc -l)

echo "load average: $(cut -d' ' -f1-3 /proc/loadavg) (2 cores, shared)"
echo "documents collected: $docs; kept by the filter: $kept; groups: $groups"
collect_cpu=$(cpu "$bin" collect data --dest out/cpu)
filter_cpu=$(cpu "$bin" "${filter_args[@]}")
group_cpu=$(cpu "$bin" filter "$log" --group-by Name lr sparsity --agg ACC,LOSS --agg-stats)
echo "collect  (20,000 files, 100,000 documents): ${collect_s} s (CPU ${collect_cpu} s), peak RSS $((peak_kb / 1024)) MB"
echo "filter   (2 filters, 2 sorts):              ${filter_s} s (CPU ${filter_cpu} s)"
echo "group-by (Name lr sparsity, ACC and LOSS):  ${group_s} s (CPU ${group_cpu} s)"

echo "load average before the Python runs: $(cut -d' ' -f1-3 /proc/loadavg)"
if [ "${SKIP_PYTHON:-}" != 1 ]; then
    start=$(date +%s.%N)
    python3 "$repo/bench/py_collect.py" data py_logs.yaml > /dev/null
    py_collect_s=$(echo "$(date +%s.%N) - $start" | bc -l)
    start=$(date +%s.%N)
    python3 "$repo/bench/py_filter.py" "$log" > /dev/null 2>&1
    py_filter_s=$(echo "$(date +%s.%N) - $start" | bc -l)
    printf 'python collect: %.1f s (%.0fx slower)\n' "$py_collect_s" "$(echo "$py_collect_s / $collect_s" | bc -l)"
    printf 'python filter:  %.1f s (%.0fx slower)\n' "$py_filter_s" "$(echo "$py_filter_s / $filter_s" | bc -l)"
fi
