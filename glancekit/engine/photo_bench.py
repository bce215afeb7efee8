"""`glance bench TASK --photos`: the whole-photo pipeline (find each object, then read it) end to end, per real
source of the task.

Sources with boxes (hands boxed and labelled by people or a peer): for each photo the found objects are matched to the true boxes (greedy by the detector's score, IoU ≥ 0.5):
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

from ..data.images import to_rgb
from ..data.readers import read_dataset
from ..errors import GlanceError
from ..metrics.detection import iou_matrix
from ..output import print_rows
from ..runs.store import atomic_write_text
from ..tasks import Task, get
from .pipeline import Pipeline
from .sources import NEVER_TRAINED, pick_worst, task_sources, trained_split, untrained_part


class _LabelledBoxes:
    """A stand-in detection task for the box readers: each box keeps the reader's label index (a hand whose
    gesture the reader does not know gets len(labels): it can be found, never read right)."""

    def __init__(self, detector: Any, reader: Task) -> None:
        self.detector, self.reader = detector, reader

    def __getattr__(self, name: str) -> Any:  # everything else (readers, make_target, name) is the detector's
        return getattr(self.detector, name)

    def class_index(self, label: str) -> int:
        try:
            return int(self.reader.parse_target({"label": label}))
        except (GlanceError, TypeError, ValueError):
            return len(self.reader.labels)


def match_boxes(boxes: np.ndarray, truth: np.ndarray) -> list[int]:
    """For each found box (most confident first), the index of the true box it finds (IoU ≥ 0.5, each true box
    found once, greedy), or -1 for a false one."""
    taken = np.zeros(len(truth), bool)
    matched = []
    for box in np.asarray(boxes, np.float64).reshape(-1, 4):
        ious = iou_matrix(box[None], truth[:, :4])[0] if len(truth) else np.zeros(0)
        ious[taken] = 0
        j = int(np.argmax(ious)) if len(ious) else -1
        if j < 0 or ious[j] < 0.5:
            matched.append(-1)
            continue
        taken[j] = True
        matched.append(j)
    return matched


def score_photos(pipe: Pipeline, items: list[Any], targets: list[np.ndarray]) -> dict[str, float]:
    """Run the pipeline photo by photo and match (see module docstring)."""
    reader = pipe.task
    n_true = found = right = false = 0
    t0 = time.perf_counter()
    for item, target in zip(items, targets):
        truth = target[target[:, 4] >= 0]
        objects = sorted(pipe.predict(item).objects, key=lambda o: -o.score)  # type: ignore[union-attr]
        for o, j in zip(objects, match_boxes(np.asarray([o.box for o in objects]), truth)):
            false += j < 0
            found += j >= 0
            right += int(j >= 0 and truth[j, 4] < len(reader.labels) and o.label == reader.labels[int(truth[j, 4])])
        n_true += len(truth)
    ms = (time.perf_counter() - t0) * 1000 / max(1, len(items))
    return {"found": found / max(1, n_true), "found_right": right / max(1, n_true),
            "false_per_photo": false / max(1, len(items)), "ms_per_photo": round(ms, 1),
            "photos": len(items), "objects": n_true}


def score_peer_boxes(peer: Any, items: list[Any], targets: list[np.ndarray]) -> dict[str, float]:
    """A peer detector on the same photos (`--peer`): share of true objects found, false ones per photo, ms."""
    from ..data.images import load_image
    n_true = found = false = 0
    boxes, ms = peer([load_image(i) for i in items])
    for b, target in zip(boxes, targets):
        truth = target[target[:, 4] >= 0]
        matched = match_boxes(b[:, :4], truth)
        found += sum(j >= 0 for j in matched)
        false += sum(j < 0 for j in matched)
        n_true += len(truth)
    return {"found": found / max(1, n_true), "false_per_photo": false / max(1, len(items)),
            "ms_per_photo": round(ms, 1)}


def score_one_object_photos(pipe: Pipeline, items: list[Any], targets: list[Any], seed: int = 0,
                            backgrounds: Any = (), scenes_per_photo: int = 4) -> dict[str, Any]:
    """Sources whose photos each show one object and say what it reads (a clock photo and its time):
    - `photos`: each photo as it is; found = the detector found anything, read by its most confident object;
      false_per_photo = objects found beyond one;
    - `scenes`: each photo pasted `scenes_per_photo` times into a 640x480 background (its longer side 1/5 to
      1/2 of the scene's width, at a seeded place), so the true box is known: found = an object at IoU ≥ 0.5,
      read by that object; false_per_photo = objects found that are not it."""
    import cv2

    from ..data.images import load_image
    from ..synth.common import background
    reader = pipe.task
    images = [load_image(i) for i in items]
    frames = [pipe.predict(im) for im in images]
    first = [f.objects[0] if f.objects else None for f in frames]  # type: ignore[union-attr]
    photo = {"found": float(np.mean([o is not None for o in first])),
             "false_per_photo": float(np.mean([max(0, len(f.objects) - 1) for f in frames])),  # type: ignore[union-attr]
             **reader.score_answers([o.answer if o else None for o in first], targets)}
    rng = np.random.default_rng(seed)
    answers, found, false = [], [], []
    for im in [im for im in images for _ in range(scenes_per_photo)]:
        rgb = to_rgb(im)
        scene = cv2.resize(background(rng, 640, backgrounds), (640, 480))
        h, w = rgb.shape[:2]
        s = rng.uniform(0.2, 0.5) * 640 / max(h, w)
        obj = cv2.resize(rgb, (max(8, round(w * s)), max(8, round(h * s))), interpolation=cv2.INTER_AREA)
        oy, ox = int(rng.integers(0, 480 - obj.shape[0] + 1)), int(rng.integers(0, 640 - obj.shape[1] + 1))
        scene[oy:oy + obj.shape[0], ox:ox + obj.shape[1]] = obj
        box = np.array([[ox, oy, ox + obj.shape[1], oy + obj.shape[0]]], float)
        objs = pipe.predict(scene).objects  # type: ignore[union-attr]
        ious = iou_matrix(np.asarray([o.box for o in objs]).reshape(-1, 4), box)[:, 0] if objs else np.zeros(0)
        hit = objs[int(np.argmax(ious))] if len(ious) and ious.max() >= 0.5 else None
        found.append(hit is not None)
        false.append(len(objs) - (hit is not None))
        answers.append(hit.answer if hit else None)
    scenes = {"found": float(np.mean(found)), "false_per_photo": float(np.mean(false)),
              **reader.score_answers(answers, [t for t in targets for _ in range(scenes_per_photo)])}
    return {"photos": len(items), "scenes_per_photo": scenes_per_photo, "photo": photo, "scenes": scenes}


def photo_bench(task: Task, weights: str | None = None, out: str | Path | None = None,
                peer: str | None = None) -> dict[str, Any]:
    if not task.detector:
        from ..tasks import names
        raise GlanceError(f"--photos is for tasks that find objects first "
                          f"({', '.join(n for n in names() if get(n).detector)}); {task.name} reads whole images")
    det = get(task.detector)
    if peer:
        from .peers import BOX_PEERS, get_peer
        peer_fn = get_peer(det.name, peer, BOX_PEERS)
        peer_fn([])  # no photos: only imports the peer, so a missing package is one line before any work
    pipe = Pipeline(task, weights)
    holder = _LabelledBoxes(det, task)
    results: dict[str, Any] = {}
    unseen: set[str] = set()  # sources neither the detector nor the reader trained on
    for src in task_sources(task):
        try:
            samples = read_dataset(src.path, holder)  # type: ignore[arg-type]
        except GlanceError:
            samples = None
        if samples is None:  # one object per photo, no boxes: photos as they are, and pasted into scenes
            from ..data.locations import default_backgrounds
            from ..data.synth import load_photos
            one = read_dataset(src.path, task)
            backgrounds = load_photos(default_backgrounds(det))[1::2]  # the half the detector's renders never use
            results[src.name] = {"kind": "one per photo", **score_one_object_photos(pipe, one.items, one.targets,
                                                                                  backgrounds=backgrounds)}
            continue
        try:
            held, part = untrained_part(det, pipe.detector.meta, src.path)
        except GlanceError as e:  # a source the detector trained on all of, or too small to have held any out
            print(f"skipped {src.name}: {e}")
            continue
        keep = {str(Path(i).resolve()) for i in held.items}
        samples = samples.subset([i for i, it in enumerate(samples.items) if str(Path(it).resolve()) in keep])
        if len(samples) == 0:
            continue
        reader_split = trained_split(pipe.readers[0].meta, src.path)
        if part == NEVER_TRAINED and reader_split is None:
            unseen.add(src.name)
        part = f"{part} (detector)"
        results[src.name] = {"kind": "boxes", "part": part, "reader_trained_on_part": reader_split is not None,
                             **score_photos(pipe, samples.items, samples.targets)}
        if peer:
            results[src.name]["peer"] = {"name": peer, **score_peer_boxes(peer_fn, samples.items, samples.targets)}
    if not results:
        raise GlanceError(f"no real source of {task.name} found under the shared data root")
    result = {"task": task.name, "detector": str(pipe.detector.weights), "reader": str(pipe.readers[0].weights),
              "sources": results,
              "note": "boxes: found = true objects found at IoU 0.5, found_right = found and read right, "
                      "false_per_photo = found objects matching no true box (sources with MediaPipe boxes kept only "
                      "the larger of two hands, so a second hand found there counts as false). One per photo: "
                      "photo = each photo as it is, read by its most confident object; scenes = each photo pasted "
                      "at 1/5-1/2 of a 640x480 background's width (4 places each), found at IoU 0.5 and read"
                      + ("; peer: the same photos through the peer's own detector (on sources whose boxes are "
                         "MediaPipe's, the mediapipe peer is scored against its own boxes)" if peer else "")}
    boxed = {n: r for n, r in results.items() if r["kind"] == "boxes"}
    if boxed:
        # The headline: the worst source neither model trained on, with enough photos to mean something.
        picked = pick_worst({n: r["found_right"] for n, r in boxed.items()},
                            {n: r["photos"] for n, r in boxed.items()}, unseen, "max")
        assert picked is not None  # boxed is not empty
        worst, among = picked
        result["worst_source"] = {"name": worst, "found_right": boxed[worst]["found_right"], "among": among}
        rows = [{"source": n, "part": r["part"].split(" (")[0], "photos": str(r["photos"]), "found": f"{r['found']:.3f}",
                 "found right": f"{r['found_right']:.3f}", "false/photo": f"{r['false_per_photo']:.2f}",
                 "ms/photo": f"{r['ms_per_photo']:.0f}",
                 **({f"{peer} found": f"{r['peer']['found']:.3f}", f"{peer} false/photo":
                     f"{r['peer']['false_per_photo']:.2f}", f"{peer} ms": f"{r['peer']['ms_per_photo']:.0f}"}
                    if peer else {})} for n, r in boxed.items()]
        print_rows(rows, f"glance bench {task.name} --photos: whole photos, find then read (worst: {worst})")
    for n, r in results.items():
        if r["kind"] == "one per photo":
            rows = [{"source": f"{n} ({what})",
                     "images": str(r["photos"] * (r["scenes_per_photo"] if what == "scenes" else 1)),
                     **{k: f"{v:.3f}" for k, v in r[what].items()}} for what in ("photo", "scenes")]
            print_rows(rows, f"glance bench {task.name} --photos: {n}, as photographed and pasted small into scenes")
    out_path = Path(out) if out else Path("runs") / task.name / "bench_photos.json"
    atomic_write_text(out_path, json.dumps(result, indent=2))
    print(f"wrote {out_path}")
    return result
