"""`glance bench TASK --photos`: the whole-photo pipeline (find each hand, then read it) end to end, per real
source, on photos whose hands people or a peer boxed and labelled.

For each photo the found objects are matched to the true boxes (greedy by the detector's score, IoU ≥ 0.5):
- `found`: share of true objects found;
- `found_right`: share of true objects found *and* read right (a reader's "unsure" counts as wrong);
- `false_per_photo`: found objects that match no true box, per photo;
- `ms_per_photo`: wall time of the whole pipeline per photo, batch 1, on this machine.
A source the detector trained on is scored on the part its training held out (the same cut `glance bench` uses);
the reader's own training is named beside it, as photos it learnt from read better than new ones.
"""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from ..data.readers import read_dataset
from ..errors import GlanceError
from ..metrics.detection import iou_matrix
from ..output import print_rows
from ..runs.store import atomic_write_text
from ..tasks import Task, get
from .evaluate import load_eval_samples
from .pipeline import Pipeline
from .sources import task_sources, trained_split


class _LabelledBoxes:
    """A stand-in detection task for the box readers: each box keeps the reader's label index (a hand whose
    gesture the reader does not know gets len(labels): it can be found, never read right)."""

    def __init__(self, detector: Any, reader: Task) -> None:
        self.detector, self.reader = detector, reader
        self.make_target = detector.make_target

    def class_index(self, label: str) -> int:
        try:
            return int(self.reader.parse_target({"label": label}))
        except (GlanceError, TypeError, ValueError):
            return len(self.reader.labels)


def score_photos(pipe: Pipeline, items: list[Any], targets: list[np.ndarray]) -> dict[str, float]:
    """Run the pipeline photo by photo and match (see module docstring)."""
    reader = pipe.task
    n_true = found = right = false = 0
    t0 = time.perf_counter()
    for item, target in zip(items, targets):
        truth = target[target[:, 4] >= 0]
        frame = pipe.predict(item)
        objects = sorted(frame.objects, key=lambda o: -o.score)  # type: ignore[union-attr]
        taken = np.zeros(len(truth), bool)
        for o in objects:
            ious = iou_matrix(np.asarray([o.box]), truth[:, :4])[0] if len(truth) else np.zeros(0)
            ious[taken] = 0
            j = int(np.argmax(ious)) if len(ious) else -1
            if j < 0 or ious[j] < 0.5:
                false += 1
                continue
            taken[j] = True
            found += 1
            k = int(truth[j, 4])
            right += int(k < len(reader.labels) and o.label == reader.labels[k])
        n_true += len(truth)
    ms = (time.perf_counter() - t0) * 1000 / max(1, len(items))
    return {"found": found / max(1, n_true), "found_right": right / max(1, n_true),
            "false_per_photo": false / max(1, len(items)), "ms_per_photo": round(ms, 1),
            "photos": len(items), "objects": n_true}


def photo_bench(task: Task, weights: str | None = None, out: str | Path | None = None) -> dict[str, Any]:
    if not task.detector:
        raise GlanceError(f"--photos is for tasks that find hands first (gestures, hand_keypoints); {task.name} "
                          "reads whole images")
    pipe = Pipeline(task, weights)
    det = get(task.detector)
    holder = _LabelledBoxes(det, task)
    results: dict[str, Any] = {}
    for src in task_sources(det):
        try:
            samples = read_dataset(src.path, holder)  # type: ignore[arg-type]
        except GlanceError:
            continue  # not a box-labelled source
        split = trained_split(pipe.detector.meta, src.path)
        part = "all (the detector never trained on it)"
        if split is not None:
            held = load_eval_samples(det, src.path, "test", int(split["seed"]), split.get("val_frac"),
                                     split.get("test_frac"), bool(split.get("grouped", False)))
            keep = {str(Path(i).resolve()) for i in held.items}
            samples = samples.subset([i for i, it in enumerate(samples.items) if str(Path(it).resolve()) in keep])
            part = "the test part the detector's training held out"
        if len(samples) == 0:
            continue
        reader_split = trained_split(pipe.readers[0].meta, src.path)
        results[src.name] = {"part": part, "reader_trained_on_part": reader_split is not None,
                             **score_photos(pipe, samples.items, samples.targets)}
    if not results:
        raise GlanceError(f"no box-labelled real source of {det.name} found under the shared data root")
    worst = min(results, key=lambda n: results[n]["found_right"])
    result = {"task": task.name, "detector": str(pipe.detector.weights), "reader": str(pipe.readers[0].weights),
              "sources": results, "worst_source": {"name": worst, "found_right": results[worst]["found_right"]},
              "note": "found: true hands found at IoU 0.5; found_right: found and read right; false_per_photo: "
                      "found hands matching no true box (sources with MediaPipe boxes kept only the larger of two "
                      "hands, so a second hand found there counts as false)"}
    out_path = Path(out) if out else Path("runs") / task.name / "bench_photos.json"
    atomic_write_text(out_path, json.dumps(result, indent=2))
    rows = [{"source": n, "part": r["part"].split(" (")[0], "photos": str(r["photos"]), "found": f"{r['found']:.3f}",
             "found right": f"{r['found_right']:.3f}", "false/photo": f"{r['false_per_photo']:.2f}",
             "ms/photo": f"{r['ms_per_photo']:.0f}"} for n, r in results.items()]
    print_rows(rows, f"glance bench {task.name} --photos: whole photos, find then read (worst: {worst})")
    print(f"wrote {out_path}")
    return result
