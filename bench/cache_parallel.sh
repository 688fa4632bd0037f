#!/usr/bin/env bash
# Figures for parallel slots and the result cache (issue 6). Not a test: it
# prints figures.
#
#   bench/cache_parallel.sh
#
# 1. `-j 2` against `-j 1` on 40 experiments whose module sleeps 0.5 s
#    (`--no-store`, so nothing is cached): wall times and their ratio.
# 2. One cache decision with 100,000 runs in the store
#    (examples/store_lookup.rs: identity + indexed look-up, 10,000 decisions,
#    half cached).
# 3. A fully cached re-run of 10,000 experiments (`Module: /bin/true`, a
#    YamlLog): the first run fills the store, the second is timed.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet --bin cool-runner --example store_lookup
BIN=$(pwd)/target/release/cool-runner
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
now() { date +%s.%N; }

cd "$WORK"
{
    printf 'Global: {repeat: 1}\nModule: sleep 0.5\n'
    for ((i = 0; i < 40; i++)); do printf -- '---\nName: s%d\n' "$i"; done
} > sleep.yaml
t0=$(now); "$BIN" run --exp sleep.yaml --no-store -j 1 > /dev/null 2>&1; t1=$(now)
"$BIN" run --exp sleep.yaml --no-store -j 2 > /dev/null 2>&1; t2=$(now)
awk -v a="$t0" -v b="$t1" -v c="$t2" 'BEGIN {
    j1 = b - a; j2 = c - b;
    printf "parallel: 40 x sleep 0.5: -j 1 %.2f s, -j 2 %.2f s, ratio %.3f\n", j1, j2, j2 / j1 }'

"$OLDPWD/target/release/examples/store_lookup" 100000 10000 2>/dev/null

{
    printf 'Global: {repeat: 1}\nModule: /bin/true\nYamlLog: logs/log.yaml\nlr: 0.1\n'
    for ((i = 0; i < 10000; i++)); do printf -- '---\nName: e%d\nx: %d\n' "$i" "$i"; done
} > many.yaml
t0=$(now); "$BIN" run --exp many.yaml -j 2 > /dev/null 2>&1; t1=$(now)
"$BIN" run --exp many.yaml > /dev/null 2> cached.err; t2=$(now)
tail -n 1 cached.err
awk -v a="$t0" -v b="$t1" -v c="$t2" 'BEGIN {
    printf "cache: 10,000 experiments: first run %.2f s, fully cached re-run %.2f s\n", b - a, c - b }'
