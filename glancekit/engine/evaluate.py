"""Evaluate a model on a labelled set: metrics, pictures, report.html. Used by `val` and after `train`."""
from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch
from torch import nn

from ..data.dataset import prepare
from ..data.readers import Samples, read_dataset, split_indices
from ..errors import GlanceError
from ..runs import report as rp
from ..runs.store import atomic_write_text, new_run_dir
from ..tasks import Task

Infer = Callable[[np.ndarray], np.ndarray]


def torch_infer(model: nn.Module, batch: int = 256) -> Infer:
    """Batch-wise, gradient-free forward pass over a numpy array of preprocessed inputs."""
    model.eval()

    def run(x: np.ndarray) -> np.ndarray:
        outs = []
        with torch.inference_mode():
            for i in range(0, len(x), batch):
                outs.append(model(torch.from_numpy(np.ascontiguousarray(x[i:i + batch]))).float().numpy())
        return np.concatenate(outs) if outs else np.zeros((0,))
    return run


def split_samples(task: Task, samples: Samples, seed: int, val_frac: float | None = None,
                  test_frac: float | None = None, grouped: bool = True) -> dict[str, Samples]:
    """train/val/test parts of one data set, reproducible from the seed and the fractions.

    `grouped` keeps the samples of one photo together (where the reader names groups). Runs record it
    in their split; runs made before it existed split per sample, and `grouped=False` cuts their parts.
    """
    vf = task.val_frac if val_frac is None else val_frac
    tf = task.test_frac if test_frac is None else test_frac
    parts = split_indices(samples.targets, vf, tf, seed, task.strata(samples.targets),
                          samples.groups if grouped else None)
    return {k: samples.subset(v) for k, v in parts.items()}


def load_eval_samples(task: Task, data: str | Path, split: str = "all", seed: int = 0,
                      val_frac: float | None = None, test_frac: float | None = None, grouped: bool = True) -> Samples:
    samples = read_dataset(data, task)
    if split == "all":
        return samples
    if split not in ("train", "val", "test"):
        raise GlanceError(f"split must be all, train, val or test, got '{split}'")
    part = split_samples(task, samples, seed, val_frac, test_frac, grouped)[split]
    if len(part) == 0:
        raise GlanceError(f"the {split} split of {data} is empty")
    return part


@dataclass
class Evaluation:
    metrics: dict[str, float]
    outputs: np.ndarray
    targets: np.ndarray
    inputs: np.ndarray


def evaluate_arrays(task: Task, infer: Infer, x: np.ndarray, y: np.ndarray, meta: dict[str, Any]) -> Evaluation:
    outputs = infer(x)
    metrics = dict(task.evaluate(outputs, y, meta))
    metrics.update(task.extra_metrics(outputs, y, infer, meta))
    return Evaluation(metrics, outputs, y, x)


def write_val_report(task: Task, ev: Evaluation, ids: list[str], meta: dict[str, Any], out_dir: Path,
                     infer: Infer, title: str, extra_sections: list[tuple[str, list]] | None = None) -> Path:
    """metrics.json + the task's pictures + report.html in `out_dir`."""
    out_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out_dir / "val_metrics.json", json.dumps(ev.metrics, indent=2))
    sections: list[tuple[str, list]] = list(extra_sections or [])
    sections.append(("Validation metrics", [ev.metrics]))
    sections += task.report(ev.outputs, ev.targets, ev.inputs, ids, meta, out_dir, infer=infer)
    return rp.write_report(out_dir / "report.html", title, sections)


def validate(task: Task, weights: str | Path | None, data: str | Path | Sequence[str | Path], split: str = "all",
             seed: int = 0, project: str = "runs", name: str | None = None, relabel: str | None = None,
             calibrate_out: str | Path | None = None, reject_rate: float | None = None
             ) -> tuple[Path, dict[str, float]]:
    """`glance val`: metrics and report for a labelled set, in a new runs/TASK/val* folder.

    `relabel`: grade against a person's corrections (label/relabel.py) instead of the data's labels;
    the split is still cut by the data's own labels, so it is the same images.
    `calibrate_out`: fit the task's calibrated values (thresholds, temperature) on this set and write the
    weights with them to this new file (the report then shows them); the given weights stay as they are.
    For weights whose values were fitted on other data or never fitted (a `last.pt`, a fine-tune).
    `reject_rate`: with `calibrate_out`, for a task that answers "unsure": the share of this set to reject.
    `data` may name several sets (a model trained on several sources): each is split on its own, as
    `glance train --data A --data B` split them, and the parts are scored together."""
    from ..tasks.base import TrustedThreshold
    from .checkpoint import build_from_checkpoint, load_checkpoint, resolve_weights, save_checkpoint
    if reject_rate is not None:
        if not isinstance(task, TrustedThreshold):
            raise GlanceError(f"--reject-rate is for tasks that can answer 'unsure'; {task.name} cannot")
        if calibrate_out is None:
            raise GlanceError("--reject-rate sets the threshold --calibrate fits: pass --calibrate OUT.pt too")
        if not 0 <= reject_rate < 1:
            raise GlanceError(f"--reject-rate is a share in [0, 1), got {reject_rate}")
    sets = [data] if isinstance(data, (str, Path)) else list(data)
    if not sets:
        raise GlanceError("name the data to score with --data")
    data = sets[0] if len(sets) == 1 else " + ".join(str(d) for d in sets)
    path = resolve_weights(task, weights)
    ckpt = load_checkpoint(path, task)
    _, model = build_from_checkpoint(ckpt)
    if calibrate_out is not None:
        calibrate_out = Path(calibrate_out)
        if calibrate_out.exists():
            raise GlanceError(f"{calibrate_out} already exists; name a new file for the calibrated weights")
        if split == "test" or any(str(d).startswith("synth:test") for d in sets):
            raise GlanceError("calibrating on the test part would grade the benchmark with values fitted on it; "
                              "use --split val, synth:val or other held-out data")
    samples = load_eval_samples(task, sets[0], split, seed)
    for more in sets[1:]:  # each set split on its own, as training split it
        samples = samples + load_eval_samples(task, more, split, seed)
    relabelled: dict[str, Any] = {}
    if relabel:
        from ..label.relabel import read_decisions
        from ..label.relabel import relabel as apply_decisions
        fixed, counts = apply_decisions({"eval": samples}, read_decisions(task, relabel))
        samples = fixed["eval"]
        relabelled = {"relabel": str(Path(relabel).resolve()), "labels_changed": counts["changed_eval"]}
    x, y = prepare(task, samples, "reading")
    infer = torch_infer(model)
    meta, calibration = ckpt["meta"], {}
    if calibrate_out is not None:
        calibration = task.calibrate(infer(x), y.numpy(), **(
            {"reject_rate": reject_rate, "on": f"{' + '.join(Path(str(d)).name for d in sets)} ({split})"}
            if reject_rate is not None else {}))
        if not calibration:
            raise GlanceError(f"{task.name} fits no calibrated values")
        meta = {**meta, **calibration, "calibrated_on": {"data": str(data), "split": split, "images": len(samples),
                                                         "from_weights": str(path)}}
        save_checkpoint(calibrate_out, task, model, ckpt["model_kwargs"], meta)
    ev = evaluate_arrays(task, infer, x, y.numpy(), meta)
    out_dir = new_run_dir(project, task.name, name or "val")
    atomic_write_text(out_dir / "run.json", json.dumps({
        "task": task.name, "kind": "val", "status": "done", "weights": str(path), "data": str(data),
        "split": split, "images": len(samples), "select_metric": task.select_metric,
        "best": ev.metrics.get(task.select_metric.removeprefix("val_")), "tags": ["val"],
        "started": time.time(), **relabelled,
        **({"calibrated_weights": str(calibrate_out), "calibration": calibration} if calibration else {})},
        indent=2))
    corrected = f", {relabelled['labels_changed']} labels corrected by {relabel}" if relabel else ""
    write_val_report(task, ev, samples.ids, meta, out_dir, infer,
                     f"glance val {task.name}: {data} ({split}, {len(samples)} images{corrected})")
    return out_dir, ev.metrics
