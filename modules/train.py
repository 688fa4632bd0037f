#!/usr/bin/env python3
"""Example module: a pretend training run that needs only python3.

Reads `lr`, `epochs` and `seed` from the experiment, "trains" for a few
steps (printing progress), saves a checkpoint into its run directory and
reports ACC and LOSS. Ctrl-C (SIGINT) is caught: it saves what it has and
exits with 130, as a real training script should.
"""

import math
import os
import random
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cool_runner  # noqa: E402


def main():
    exp = cool_runner.load()
    lr = float(exp.get("lr", 0.1))
    epochs = int(exp.get("epochs", 3))
    step_time = float(exp.get("step_time", 0.1))
    rng = random.Random(exp.get("seed", exp.get("RND_IDX", 0)))
    if "--fail" in sys.argv[1:]:
        print("error: asked to fail", file=sys.stderr)
        return 1
    loss = 2.0
    epoch = 0
    try:
        for epoch in range(epochs):
            time.sleep(step_time)
            loss *= math.exp(-lr * (1 + rng.random()))
            print(f"{exp.get('Name', 'train')}: epoch {epoch + 1}/{epochs} loss {loss:.4f}", flush=True)
    except KeyboardInterrupt:
        print("interrupted: saving what we have", file=sys.stderr)
        cool_runner.save(LOSS=round(loss, 4), EPOCHS_DONE=epoch)
        return 130
    with open(os.path.join(cool_runner.run_dir(), "checkpoint.txt"), "w") as f:
        f.write(f"loss={loss}\n")
    cool_runner.save(ACC=round(1 - loss / 4, 4), LOSS=round(loss, 4), EPOCHS_DONE=epochs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
