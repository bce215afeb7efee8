"""`glance bench`: accuracy on the held-out split, latency (torch eager vs onnxruntime, batch 1 and 64,
median of repeated runs), parameters and file sizes → bench.json; `ship` puts a run's weights into the
package with their ONNX export and their card (TASK.json).
"""
from __future__ import annotations

import datetime as dt
import json
import os
import platform
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from ..data.dataset import prepare
from ..data.locations import data_root, default_backgrounds, default_data, portable_record
from ..data.synth import load_photos, parse_spec, synth_samples
from ..errors import GlanceError
from ..output import print_metrics, print_rows
from ..runs.store import atomic_write_text
from ..tasks import Task
from .checkpoint import (CALIBRATION_KEYS, WEIGHTS_DIR, build_from_checkpoint, file_sha256, load_checkpoint,
                         resolve_weights, write_checkpoint)
from .evaluate import evaluate_arrays, load_eval_samples, torch_infer
from .export import export
from .predict import onnx_session, onnx_source_sha
from .sources import figure_rows, headline, score_sources


def _bench_samples(task: Task, data: str | Path | None, split: str, seed: int, meta: dict[str, Any]
                   ) -> tuple[Any, str, str]:
    """The benchmark set: `data`, else the task's default. A real set is cut to exactly the part
    training held out (same seed and fractions as the run's split); a synthetic spec is rendered with
    its own seed stream (and the task's background photos when the shared data has them)."""
    spec_text = str(data) if data else task.default_data
    spec = parse_spec(spec_text)
    if spec is not None:
        photos = load_photos(default_backgrounds(task))
        samples = synth_samples(task, spec.split, spec.n or 1000, seed, photos)
        return samples, f"{spec_text} ({len(photos)} background photos)", spec.split
    data_path = Path(data) if data else default_data(task)
    sp = meta.get("split", {}) if isinstance(meta.get("split"), dict) else {}
    samples = load_eval_samples(task, data_path, split, int(sp.get("seed", seed)), sp.get("val_frac"),
                                sp.get("test_frac"), bool(sp.get("grouped", False)))
    return samples, str(data_path), split


def _run_peer(task: Task, name: str, samples: Any, targets: np.ndarray, ours: dict[str, float]) -> dict[str, Any]:
    """Run a peer model on exactly the benchmark images and score it with the same metrics; an image
    where the peer finds nothing counts as all points missed."""
    from ..data.images import load_image
    from .peers import get_peer
    fn = get_peer(task.name, name)
    images = [load_image(i) for i in samples.items]
    points, ms = fn(images)
    found = ~np.isnan(points[..., 0]).any(1)
    points = np.nan_to_num(points, nan=-1e4)
    moved = np.stack([task.preprocess_sample(im, p)[1] for im, p in zip(images, points)])  # model-input frame
    metrics = task.point_metrics(moved[..., :2], targets)  # type: ignore[attr-defined]
    return {"peer": name, "detected": float(found.mean()), "ms_per_image": ms, "metrics": metrics}


def metric_intervals(task: Task, outputs: np.ndarray, targets: np.ndarray, meta: dict[str, Any]
               ) -> dict[str, list[float]]:
    """95% bootstrap interval of every metric the task's evaluate returns (thresholds stay as shipped)."""
    from ..metrics import bootstrap_intervals
    if len(targets) < 2:
        return {}
    ci = bootstrap_intervals(lambda o, t: task.evaluate(o, t, meta), outputs, targets)
    return {k: [round(lo, 6), round(hi, 6)] for k, (lo, hi) in ci.items()}


def median_ms(fn: Callable[[], Any], repeats: int, warmup: int = 5) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return float(np.median(times) * 1000)


def bench(task: Task, weights: str | Path | None, data: str | Path | None, split: str = "test", seed: int = 0,
          repeats: int = 50, out: str | Path | None = None, update_card: bool = False,
          peer: str | None = None) -> dict[str, Any]:
    wpath = resolve_weights(task, weights)
    ckpt = load_checkpoint(wpath, task)
    _, model = build_from_checkpoint(ckpt)
    meta = ckpt["meta"]
    samples, data_path, split = _bench_samples(task, data, split, seed, meta)
    x, y = prepare(task, samples, "reading")
    infer = torch_infer(model)
    ev = evaluate_arrays(task, infer, x, y.numpy(), meta)
    ci = metric_intervals(task, ev.outputs, ev.targets, meta)
    peer_result = _run_peer(task, peer, samples, y.numpy(), ev.metrics) if peer else None
    # every real source of the task goes beside the default benchmark (renders, or the task's own real set)
    # and beside a `synth:...` spec; a user's own --data folder is the benchmark itself
    own_data = bool(data) and parse_spec(str(data)) is None
    by_source = {} if own_data else score_sources(task, infer, meta, metric_intervals)

    shape = (task.channels, *task.input_size)
    x1 = np.ascontiguousarray(x[:1]) if len(x) else np.zeros((1, *shape), np.float32)
    x64 = np.ascontiguousarray(np.resize(x, (64, *shape)).astype(np.float32))
    latency: dict[str, float] = {}
    with torch.inference_mode():
        t1, t64 = torch.from_numpy(x1), torch.from_numpy(x64)
        latency["torch_b1_ms"] = median_ms(lambda: model(t1), repeats)
        latency["torch_b64_ms"] = median_ms(lambda: model(t64), max(5, repeats // 5))
    onnx_path = wpath.with_suffix(".onnx")
    tmpdir = None
    sess = onnx_session(onnx_path) if onnx_path.is_file() else None  # opened once: checked, then timed
    if sess is None or onnx_source_sha(sess) != file_sha256(wpath):
        tmpdir = tempfile.mkdtemp(prefix="glance-bench-")
        onnx_path, _ = export(task, wpath, "onnx", Path(tmpdir) / "model.onnx")
        sess = None
    try:
        sess = sess or onnx_session(onnx_path)
        latency["onnx_b1_ms"] = median_ms(lambda: sess.run(None, {"input": x1}), repeats)
        latency["onnx_b64_ms"] = median_ms(lambda: sess.run(None, {"input": x64}), max(5, repeats // 5))
        onnx_out = np.concatenate([sess.run(None, {"input": x[i:i + 256]})[0] for i in range(0, len(x), 256)])
        onnx_metrics = task.evaluate(onnx_out, y.numpy(), meta)
        onnx_diff = float(np.abs(onnx_out - ev.outputs).max())
        onnx_size = onnx_path.stat().st_size
    finally:
        if tmpdir:
            shutil.rmtree(tmpdir, ignore_errors=True)
    result = {
        "task": task.name, "weights": str(wpath), "data": str(data_path), "split": split, "images": len(samples),
        "metrics": ev.metrics, "metrics_ci95": ci,
        "ci_note": "95% percentile bootstrap over the images (200 resamples; metrics/bootstrap.py)",
        **({"peer": peer_result} if peer_result else {}),
        **(by_source if by_source.get("sources") else
           {"sources": {}, "sources_note": "not run: the --data given is the benchmark" if own_data
            else f"none found under {data_root()}" if task.real_sources else "the task names no real source"}),
        "onnx_metrics": onnx_metrics, "onnx_max_abs_diff": onnx_diff,
        "latency_ms": latency, "latency_note": f"median of {repeats} runs (batch 64: {max(5, repeats // 5)}), "
                                               f"torch threads {torch.get_num_threads()}",
        "params": int(sum(p.numel() for p in model.parameters())),
        "weights_bytes": wpath.stat().st_size, "onnx_bytes": onnx_size,
        "machine": f"{platform.machine()} {os.cpu_count()} cpus, {platform.processor() or platform.platform()}",
        "date": dt.datetime.now().isoformat(timespec="seconds"),
    }
    out_path = Path(out) if out else Path("runs") / task.name / "bench.json"
    atomic_write_text(out_path, json.dumps(result, indent=2))
    if peer_result:
        print_metrics({f"{k} (ours / {peer})": f"{ev.metrics.get(k, float('nan')):.4f} / {v:.4f}"
                       for k, v in peer_result["metrics"].items()} |
                      {"peer found a hand": f"{peer_result['detected']:.3f}",
                       "peer ms per image": f"{peer_result['ms_per_image']:.1f}"},
                      f"peer {peer} on the same {len(samples)} images")
    if by_source.get("sources"):
        key, _ = headline(task)
        worst = by_source["worst_source"]
        print_rows(figure_rows(by_source["sources"], key), f"real sources, one by one (worst: {worst['name']}, "
                                                f"{key} {worst['value']:.4f}, among {worst['among']})")
    print_metrics({**ev.metrics, **{f"latency {k}": v for k, v in latency.items()}, "params": result["params"],
                   "weights KiB": round(result["weights_bytes"] / 1024, 1), "onnx KiB": round(onnx_size / 1024, 1),
                   "onnx max abs diff": onnx_diff},
                  f"glance bench {task.name}: {data_path} ({split}, {len(samples)} images)", ci)
    print(f"wrote {out_path}")
    if update_card:
        write_card(task, wpath, {"bench": result})
    return result


def write_card(task: Task, wpath: Path, extra: dict[str, Any]) -> Path:
    """TASK.json beside the weights: what it was trained on, its thresholds, its measured metrics."""
    card_path = wpath.with_suffix(".json")
    card: dict[str, Any] = json.loads(card_path.read_text()) if card_path.is_file() else {}
    ckpt = load_checkpoint(wpath, task)
    meta = ckpt["meta"]
    card.update({"task": task.name, "labels": list(task.labels),
                 "input": {"channels": task.channels, "height": task.input_size[0], "width": task.input_size[1],
                           "preprocess": " ".join((task.preprocess.__doc__ or "").split())},
                 "trained_on": {"data": meta.get("data"), "split": meta.get("split")},
                 "train_time_s": meta.get("train_time_s"), "best_epoch": meta.get("epoch"),
                 "calibration": {k: meta[k] for k in CALIBRATION_KEYS if k in meta},
                 "weights_sha256": file_sha256(wpath)})
    # a model put together from separately trained parts (fused gestures); mirror averaging added later
    for key in ("assembled_from", "flip_average_added"):
        if key in meta:
            card[key] = meta[key]
        else:
            card.pop(key, None)  # a card kept from older weights must not describe these with their story
    card["mirror_averaged"] = bool(ckpt["model_kwargs"].get("flip_average"))
    if card.get("held_out_sources", {}).get("weights_sha256") != card["weights_sha256"]:
        card.pop("held_out_sources", None)  # the audit of the recipe of other weights
    card.update(extra)
    # a card travels with the package: it names only what a user can find (data/locations.py)
    atomic_write_text(card_path, json.dumps(portable_record(card), indent=2, default=str))
    return card_path


def held_out_figures(task: Task, audit_run: Path) -> dict[str, Any]:
    """The card's record of a `glance audit TASK --by-source` run: per source, the figure of the recipe
    trained without it, and the worst of them (the headline: people the recipe never saw)."""
    from .sources import headline, worst_source
    path = audit_run / "by_source.json" if audit_run.is_dir() else audit_run
    if not path.is_file():
        raise GlanceError(f"--audit: {path} is not a leave-one-source-out run (glance audit {task.name} --by-source)")
    run_json = path.parent / "run.json"
    run = json.loads(run_json.read_text()) if run_json.is_file() else {}
    if run.get("task", task.name) != task.name or run.get("kind", "audit_by_source") != "audit_by_source":
        raise GlanceError(f"--audit: {path.parent} is not a glance audit {task.name} --by-source run")
    if run.get("status", "done") != "done":
        raise GlanceError(f"--audit: {path.parent} did not finish (status {run['status']}): not every source was held out")
    figures = json.loads(path.read_text())
    key, mode = headline(task)
    picked = worst_source(figures, key, mode)
    if picked is None:
        raise GlanceError(f"--audit: no held-out source in {path} has the {key} figure")
    sources = {n: {"images": f["images"], key: f["metrics"].get(key), "interval": f["metrics_ci95"].get(key),
                   "accuracy": f["metrics"].get("accuracy")} for n, f in figures.items()}
    return {"held_out_sources": {
        "what": f"each source scored by the recipe trained on the other sources (glance audit {task.name} "
                f"--by-source, {run.get('epochs', '?')} epochs); the worst is the headline",
        "metric": key, "sources": sources, "worst": {"name": picked[0], **sources[picked[0]]}}}


def ship(task: Task, weights: Path, data: str | Path | None, audit_run: Path | None = None) -> None:
    """Put weights into glancekit/weights/TASK.pt (their meta naming only what a user can find), export
    TASK.onnx, bench and write TASK.json. Shipping the shipped file again refreshes all three.
    `audit_run`: a leave-one-source-out run of the recipe that made the weights, whose figures the card
    then carries (checked before anything is written)."""
    held_out = held_out_figures(task, audit_run) if audit_run else {}
    ckpt = load_checkpoint(weights, task)
    target = WEIGHTS_DIR / f"{task.name}.pt"
    write_checkpoint(target, {**ckpt, "meta": portable_record(ckpt["meta"])})
    export(task, target, "onnx")
    bench(task, target, data, update_card=True, out=WEIGHTS_DIR.parent.parent / "runs" / task.name / "bench.json")
    if held_out:
        held_out["held_out_sources"]["weights_sha256"] = file_sha256(target)
        write_card(task, target, held_out)
    print(f"shipped {target} (+ .onnx, .json)")
