"""A pretend pipeline stage for experiments/pipeline.yaml (standard library only).

pretrain: writes a checkpoint file into its run directory and reports its path.
finetune: reads the checkpoint named by `init` and reports an accuracy that
depends on its learning rate.
evaluate: reads the checkpoint of the best fine-tuned model.
"""

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cool_runner  # noqa: E402

exp = cool_runner.load()
stage = exp.get("stage")
time.sleep(float(exp.get("seconds", 0.2)))
if stage == "pretrain":
    path = os.path.join(cool_runner.run_dir(), "pretrained.ckpt")
    with open(path, "w", encoding="utf-8") as f:
        f.write("weights of %s after %s epochs\n" % (exp.get("Name"), exp.get("epochs")))
    cool_runner.save(CHECKPOINT=os.path.abspath(path), LOSS=round(1.0 / (1 + exp.get("epochs", 1)), 4))
elif stage == "finetune":
    with open(exp["init"], encoding="utf-8") as f:
        f.read()
    lr = float(exp["lr"])
    acc = round(0.9 - abs(lr - 0.01) * 5, 4)
    path = os.path.join(cool_runner.run_dir(), "finetuned.ckpt")
    with open(path, "w", encoding="utf-8") as f:
        f.write("fine-tuned from %s with lr %s\n" % (exp["init"], lr))
    cool_runner.save(ACC=acc, CHECKPOINT=os.path.abspath(path))
elif stage == "evaluate":
    with open(exp["checkpoint"], encoding="utf-8") as f:
        f.read()
    cool_runner.save(TEST_ACC=round(float(exp["best_acc"]) - 0.01, 4))
else:
    sys.exit("unknown stage %r" % stage)
