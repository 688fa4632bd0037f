#!/bin/sh
# Example shell module: reads two values from the experiment (JSON) with
# only POSIX tools, writes results as YAML.
#   COOL_RUNNER_EXPERIMENT  the expanded experiment (JSON)
#   COOL_RUNNER_RESULTS     where to write results (YAML or JSON)
#   COOL_RUNNER_RUN_DIR     a directory of its own
set -eu
name=$(sed -n 's/^ *"Name": *"\(.*\)",*$/\1/p' "$COOL_RUNNER_EXPERIMENT" | head -n 1)
echo "hello from $name, arguments: $*"
ls "$COOL_RUNNER_RUN_DIR" > /dev/null
cat > "$COOL_RUNNER_RESULTS" <<RESULTS
SHELL_OK: true
WORDS: $(wc -w < "$COOL_RUNNER_EXPERIMENT")
RESULTS
