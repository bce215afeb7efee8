"""What a reject threshold fitted on validation does to sources a model never saw, for digits (`not_a_digit`:
the task whose `rejection` scores generated non-digits), from the folds of a leave-one-source-out run.

    python tools/reject_rate_on_unseen_sources.py runs/digits/loso1207 [RATE ...]   (default 0.01 0.005 0.0025)

For each fold (the recipe trained without one source) and each reject score (`scores`: the top probability
and the certainty the product can use, the top-2 mass, the largest logit, the energy): the threshold that
rejects RATE of that fold's own validation samples, and at it the share of the held-out source rejected and
answered right and of the task's generated non-samples rejected (`task.rejection`, e.g. letters and
scribbles for digits); then the validation share a threshold would have to reject so that only 1% of the
held-out source is, and the non-samples rejected at a threshold rejecting 2% of the held-out source (which
score separates unseen real samples from non-samples best, whatever the rate).
"""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Callable

import numpy as np

from glancekit.data.dataset import prepare
from glancekit.engine.checkpoint import build_from_checkpoint, load_checkpoint
from glancekit.engine.evaluate import load_eval_samples, torch_infer
from glancekit.tasks import get
from glancekit.tasks.base import softmax


def _logsumexp(z: np.ndarray) -> np.ndarray:
    m = z.max(1)
    return m + np.log(np.exp(z - m[:, None]).sum(1))


def scores(task: Any) -> dict[str, Callable[[np.ndarray], np.ndarray]]:
    """Each score takes the raw outputs (logits); higher means surer. The first two are the product's own
    (`TrustedThreshold.trust`: the top probability, and the certainty, 1 - entropy / log classes)."""
    return {"top-1": lambda z: task.trust(z, "top1"), "certainty": lambda z: task.trust(z, "certainty"),
            "top-2 mass": lambda z: np.sort(softmax(z), 1)[:, -2:].sum(1),
            "max logit": lambda z: z.max(1), "energy (logsumexp)": _logsumexp}


def main(run: Path, rates: list[float]) -> None:
    task = get(json.loads((run / "run.json").read_text())["task"])
    for name, fold in json.loads((run / "by_source.json").read_text()).items():
        ckpt = load_checkpoint(Path(fold["fold_run"]) / "weights" / "best.pt", task)
        _, model = build_from_checkpoint(ckpt)
        infer = torch_infer(model)
        val = [prepare(task, load_eval_samples(task, s["data_path"], "val", s["seed"], s["val_frac"],
                                               s["test_frac"], s["grouped"]), "validation")[0]
               for s in ckpt["meta"]["split"]["sources"]]
        val_p = infer(np.concatenate(val))
        held = prepare(task, load_eval_samples(task, fold["data"]), name)
        held_p = infer(held[0])
        held_right = held_p.argmax(1) == np.asarray(held[1])
        _, _, kinds, other_outputs = task.rejection(infer, ckpt["meta"])
        kinds = np.array(kinds)
        print(name, flush=True)
        for score, f in scores(task).items():
            val_s, held_s, other_s = f(val_p), f(held_p), f(other_outputs)
            for rate in rates:
                thr = np.quantile(val_s, rate)
                kept = held_s >= thr
                others = " ".join(f"{k} {np.mean(other_s[kinds == k] < thr):.3f}" for k in sorted(set(kinds)))
                print(f"  {score:16s} validation {rate:.2%}: held-out rejected {1 - kept.mean():.4f}, answered "
                      f"right {np.mean(kept & held_right):.4f}; {others}", flush=True)
            need = np.mean(val_s < np.quantile(held_s, 0.01))
            thr = np.quantile(held_s, 0.02)
            print(f"  {score:16s} 1% of the held-out source = validation {need:.4f}; at 2% of it: " + " ".join(
                f"{k} {np.mean(other_s[kinds == k] < thr):.3f}" for k in sorted(set(kinds))), flush=True)

if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    main(Path(sys.argv[1]), [float(r) for r in sys.argv[2:]] or [0.01, 0.005, 0.0025])
