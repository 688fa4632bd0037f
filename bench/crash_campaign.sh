#!/usr/bin/env bash
# Crash campaign for the queue file (issue 10): kill -9 the runner at
# random moments while it works through short experiments, resume each
# time, and check what happened to every experiment. Not a test: it prints
# counts (all must be 0 but the kills).
#
#   bench/crash_campaign.sh                      # 100 kills, 2,000 experiments, 4 configurations
#   KILLS=30 N=500 bench/crash_campaign.sh
#   BIN=/work/cool-runner-before bench/crash_campaign.sh   # the old binary
#
# Configurations: -j 1 and -j 2, results store on and off. The module
# appends `start NAME` and `end NAME` to events.txt around a 10-30 ms
# sleep. Counted at the end (after a last run to completion):
#   lost          experiments never logged (running ones included)
#   run twice     experiments started twice that were not running (started,
#                 not yet logged) at a kill
#   dup docs      log documents of the same experiment beyond the first
#                 (`CACHED` ones included)
#   half docs     log documents that do not parse or lack STATUS
#   orphaned      experiments started but never logged, plus modules that
#                 were running at a kill and still wrote their end more
#                 than 5 ms after it (they outlived their runner; the
#                 runner now ends its modules when it dies)
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ -z ${BIN:-} ]]; then
    cargo build --release --quiet --bin cool-runner
    BIN=$(pwd)/target/release/cool-runner
fi
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
python3 bench/crash_campaign.py "$WORK" "$BIN" "${KILLS:-100}" "${N:-2000}" "${SEED:-1}"
