"""What a reject threshold fitted on validation does to sources a model never saw, for digits (`not_a_digit`:
the task whose `rejection` scores generated non-digits), from the folds of a leave-one-source-out run.

    python tools/reject_rate_on_unseen_sources.py runs/digits/loso1207 [RATE ...]   (default 0.01 0.005 0.0025)

For each fold (the recipe trained without one source): the threshold that rejects RATE of that fold's own
validation samples, and at it the share of the held-out source rejected and of the task's generated
non-samples rejected (`task.rejection`, e.g. letters and scribbles for digits); then the validation share
a threshold would have to reject so that only 1% of the held-out source is. Last, which confidence score
separates the held-out source from the non-samples best: at the threshold that rejects 2% of the held-out
source, the share of each kind of non-sample rejected when the score is the top-1 probability (what the
product uses), the top-2 probability mass (an answer torn between two classes is not "none of these") or
the negative entropy.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from glancekit.data.dataset import prepare
from glancekit.engine.checkpoint import build_from_checkpoint, load_checkpoint
from glancekit.engine.evaluate import load_eval_samples, torch_infer
from glancekit.tasks import get
from glancekit.tasks.base import softmax


SCORES = {"top-1": lambda p: p.max(1), "top-2 mass": lambda p: np.sort(p, 1)[:, -2:].sum(1),
          "negative entropy": lambda p: (p * np.log(p + 1e-12)).sum(1)}


def main(run: Path, rates: list[float]) -> None:
    task = get(json.loads((run / "run.json").read_text())["task"])
    for name, fold in json.loads((run / "by_source.json").read_text()).items():
        ckpt = load_checkpoint(Path(fold["fold_run"]) / "weights" / "best.pt", task)
        _, model = build_from_checkpoint(ckpt)
        infer = torch_infer(model)
        val = [prepare(task, load_eval_samples(task, s["data_path"], "val", s["seed"], s["val_frac"],
                                               s["test_frac"], s["grouped"]), "validation")[0]
               for s in ckpt["meta"]["split"]["sources"]]
        val_conf = softmax(infer(np.concatenate(val))).max(1)
        held_p = softmax(infer(prepare(task, load_eval_samples(task, fold["data"]), name)[0]))
        held_conf = held_p.max(1)
        _, _, kinds, other_outputs = task.rejection(infer, ckpt["meta"])
        kinds = np.array(kinds)
        other_p = softmax(other_outputs)
        other_conf = other_p.max(1)
        cells = []
        for rate in rates:
            thr = np.quantile(val_conf, rate)
            kept = " ".join(f"{k} {np.mean(other_conf[kinds == k] < thr):.2f}" for k in sorted(set(kinds)))
            cells.append(f"validation {rate:.2%}: held-out {np.mean(held_conf < thr):.3f}, {kept}")
        need = np.mean(val_conf < np.quantile(held_conf, 0.01))
        print(f"{name}\n  " + "\n  ".join(cells) + f"\n  1% of the held-out source: validation {need:.4f}", flush=True)
        for score, f in SCORES.items():
            thr = np.quantile(f(held_p), 0.02)
            print(f"  {score} at 2% of the held-out source: " + " ".join(
                f"{k} {np.mean(f(other_p)[kinds == k] < thr):.3f}" for k in sorted(set(kinds))), flush=True)


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    main(Path(sys.argv[1]), [float(r) for r in sys.argv[2:]] or [0.01, 0.005, 0.0025])
