"""Tiny standard-library helper for cool-runner modules.

    import cool_runner
    exp = cool_runner.load()          # the expanded experiment, a dict
    ...
    cool_runner.save(ACC=0.93, LOSS=0.12)

`load()` reads the file named by COOL_RUNNER_EXPERIMENT (JSON); `save()`
merges its keyword arguments into the results file named by
COOL_RUNNER_RESULTS (written as JSON, which is valid YAML), so it may be
called several times (the last value of a key wins). `run_dir()` is the
experiment's own output directory. Outside cool-runner (no environment
variables), `load()` returns {} and `save()` prints the results, so a
module can be tried by hand.
"""

import json
import os
import sys

__all__ = ["load", "save", "run_dir"]


def load():
    """Return the expanded experiment as a dict ({} outside cool-runner)."""
    path = os.environ.get("COOL_RUNNER_EXPERIMENT")
    if not path:
        return {}
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def run_dir():
    """The experiment's own directory for outputs (the working directory outside cool-runner)."""
    return os.environ.get("COOL_RUNNER_RUN_DIR", ".")


def save(**results):
    """Merge `results` into the results file. Keys should be UPPER-CASE by convention."""
    path = os.environ.get("COOL_RUNNER_RESULTS")
    if not path:
        print("results:", json.dumps(results), file=sys.stderr)
        return
    current = {}
    if os.path.exists(path):
        try:
            with open(path, encoding="utf-8") as f:
                current = json.load(f) or {}
        except ValueError:
            current = {}
    current.update(results)
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(current, f, indent=2)
        f.write("\n")
    os.replace(tmp, path)
