"""`glance COMMAND TASK ...`: parse arguments, call one engine function, print the result.

User mistakes (GlanceError) become one red line on stderr and exit code 2; nothing else is caught.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any, Sequence

from .errors import GlanceError

os.environ.setdefault("PYTHONWARNINGS", "ignore")


# What an option means wherever a command does not say more (filled in by _parser; shown by -h and docs/cli.md).
COMMON_HELP = {
    "task": "the task: clock, clocks, digits, eyes, gestures, gestures_kp, hand_keypoints or hands",
    "paths": "image files or folders (searched recursively)",
    "weights": "weights file (default: the task's shipped weights)",
    "data": "labelled data in any layout the task's readers understand",
    "seed": "random seed (fixed, so the command can be repeated)",
    "project": "root folder of runs (default: runs)",
    "name": "run name (made unique under runs/TASK/)",
    "epochs": "epochs to train (default: the task's recipe)",
    "batch": "batch size",
    "optimizer": "optimizer",
    "weight_decay": "weight decay of the optimizer",
    "schedule": "learning-rate schedule: cosine with warm-up, plateau, or constant",
    "augment": "train without the task's augmentation",
    "val_frac": "share of a real set split off for validation (default: the task's)",
    "test_frac": "share of a real set held out for testing (default: the task's)",
    "workers": "DataLoader processes (renders synthetic data in parallel)",
    "logger": "also send metrics to this logger (its package must be installed)",
    "n": "how many images",
    "backend": "run the ONNX export, torch, or the ONNX export when it is up to date (auto)",
    "format": "export format",
    "split": "which part of the seeded train/val/test split to score",
    "repeats": "timed runs per latency figure (the median is reported)",
    "clusters": "k-means clusters (default: a few per class)",
    "pool": "folder of unlabelled images",
    "limit": "review at most N images",
    "tag": "only runs with this tag",
    "shard_size": "images per shard",
    "port": "port to listen on",
}


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="glance", description="glancekit: compact vision models — "
                                "train, validate, predict, export and benchmark.")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    t = sub.add_parser("train", help="train a model on labelled data (writes runs/TASK/NAME)")
    t.add_argument("task")
    t.add_argument("--data", action="append", help="training data: class folders, CSV file,label, IDX pair, ...; "
                   "repeat it to train on several sources, each split on its own (see --source-balance)")
    t.add_argument("--source-balance", dest="source_balance", type=float,
                   help="several --data sources: each one's share of an epoch is its size ** this (1: by size, "
                        "0: equal shares; default 0.5)")
    t.add_argument("--val-data", dest="val_data", help="separate validation set (default: split from --data)")
    t.add_argument("--config", help="YAML file with any option below; flags override it")
    t.add_argument("--epochs", type=int)
    t.add_argument("--time-budget", dest="time_budget", type=float,
                   help="minutes of training: after epoch 1 the epoch count is fitted to it (at most --epochs)")
    t.add_argument("--batch", type=int)
    t.add_argument("--lr", help="learning rate, or 'auto' for the LR finder")
    t.add_argument("--optimizer", choices=["adamw", "sgd"])
    t.add_argument("--weight-decay", dest="weight_decay", type=float)
    t.add_argument("--schedule", choices=["cosine", "plateau", "none"])
    t.add_argument("--patience", type=int, help="early stopping patience in epochs (0 = off)")
    t.add_argument("--ema", type=float, help="decay of a moving average of the weights that is validated and "
                   "saved instead of the raw ones (e.g. 0.99; 0 = off)")
    t.add_argument("--no-augment", dest="augment", action="store_const", const=False)
    t.add_argument("--seed", type=int, help="weights, augmentation and batch order (renders for synth data)")
    t.add_argument("--split-seed", dest="split_seed", type=int,
                   help="the train/val/test cut of a real set (default 0, whatever --seed is)")
    t.add_argument("--val-frac", dest="val_frac", type=float)
    t.add_argument("--test-frac", dest="test_frac", type=float)
    t.add_argument("--max-samples", dest="max_samples", type=int, help="use at most N training images")
    t.add_argument("--workers", type=int)
    t.add_argument("--name", help="run name (made unique under runs/TASK/)")
    t.add_argument("--project", help="root folder of runs (default: runs)")
    t.add_argument("--tag", dest="tags", action="append", help="tag the run (repeatable), e.g. valid_run")
    t.add_argument("--logger", choices=["mlflow", "tensorboard"])
    for flag in ("accelerator", "devices", "strategy", "precision"):
        t.add_argument(f"--{flag}", help=f"passed to lightning.Trainer ({flag})")
    t.add_argument("--num-nodes", dest="num_nodes", type=int, help="passed to lightning.Trainer")
    t.add_argument("--epoch-size", dest="epoch_size", type=int, help="with --data synth: fresh images per epoch")
    t.add_argument("--val-size", dest="val_size", type=int, help="with --data synth: rendered validation images")
    t.add_argument("--backgrounds", help="with --data synth: folder of photos to use as backgrounds")
    t.add_argument("--mix", help="with --data synth: a labelled real set split into train (joins every epoch), "
                                 "val (joins validation) and test (held out)")
    t.add_argument("--mix-repeat", dest="mix_repeat", type=int, help="times each real image appears per epoch")
    t.add_argument("--extra", help="labelled images that join training only, never val/test (e.g. the labels.csv "
                   "`glance label` wrote for a pool)")
    t.add_argument("--relabel", help="a person's corrections (the review.csv of glance audit after glance review): "
                   "their labels replace those of the train and val parts; test keeps the data's own")
    t.add_argument("--init", help="fine-tune: start from these weights ('shipped' = the package's own)")
    t.add_argument("--distill", metavar="TEACHER", help="also learn a frozen teacher's outputs on every training "
                   "batch (a weights file, e.g. mirror-averaged ones, or 'shipped')")
    t.add_argument("--distill-weight", dest="distill_weight", type=float,
                   help="the teacher's share of the loss, in (0, 1] (default 0.5; the labels get the rest)")

    sy = sub.add_parser("synth", help="render labelled synthetic images (clock, hands) into a folder with labels.csv")
    sy.add_argument("task")
    sy.add_argument("--out", required=True, help="output folder (images/ and labels.csv are written there)")
    sy.add_argument("--n", type=int, default=1000)
    sy.add_argument("--seed", type=int, default=0)
    sy.add_argument("--split", default="train", choices=["train", "val", "test"],
                    help="which style families: train/val use the training ones, test the held-out ones")
    sy.add_argument("--backgrounds", help="folder of photos to use as backgrounds")

    v = sub.add_parser("val", help="metrics and report for a labelled set")
    v.add_argument("task")
    v.add_argument("--data", required=True, action="append",
                   help="labelled data in any layout the task's readers understand; repeat it for weights trained "
                        "on several sets: each is split on its own, as glance train split them")
    v.add_argument("--weights")
    v.add_argument("--split", default="all", choices=["all", "train", "val", "test"],
                   help="evaluate only this part of the seeded split used by train (default: all)")
    v.add_argument("--seed", type=int, default=0)
    v.add_argument("--relabel", help="grade against a person's corrections (human rows of a labels file, e.g. the "
                   "review.csv of glance audit) instead of the data's own labels")
    v.add_argument("--calibrate", metavar="OUT.pt", help="fit the calibrated values (thresholds, temperature) on "
                   "this set and write the weights with them to a new file OUT.pt; --weights stays unchanged")
    v.add_argument("--reject-rate", dest="reject_rate", type=float, help="with --calibrate, for digits and "
                   "gestures: fit the threshold so this share of the set is answered 'unsure' (e.g. 0.01)")
    v.add_argument("--project", default="runs")
    v.add_argument("--name")

    pr = sub.add_parser("predict", help="predict images (files or folders)")
    pr.add_argument("task")
    pr.add_argument("paths", nargs="+")
    pr.add_argument("--weights")
    pr.add_argument("--out", help="write results to FILE.csv or FILE.json")
    pr.add_argument("--backend", choices=["auto", "onnx", "torch"], default="auto")
    pr.add_argument("--threshold", type=float, help="override the decision threshold shipped with the weights")
    pr.add_argument("--save-vis", dest="save_vis", metavar="DIR",
                    help="also save each image with its prediction drawn on it (keypoints: the skeleton)")
    pr.add_argument("--crop", action="store_true", help="tasks that find objects first (gestures, hand_keypoints, "
                    "clock): the images are crops of one object already; read each as it is")
    pr.add_argument("--detector-weights", dest="detector_weights", metavar="WEIGHTS",
                    help="tasks that find objects first: the detector's weights (hands, clocks; default: shipped)")
    pr.add_argument("--box-threshold", dest="box_threshold", type=float,
                    help="tasks that find objects first: the detector's score an object needs (default: the "
                         "threshold shipped with the detector's weights)")

    e = sub.add_parser("export", help="export to ONNX or TorchScript and check it against torch")
    e.add_argument("task")
    e.add_argument("--weights")
    e.add_argument("--format", choices=["onnx", "torchscript"], default="onnx")
    e.add_argument("--out", help="output file (default: next to the weights)")
    e.add_argument("--atol", type=float, default=1e-4, help="largest allowed difference from torch")

    b = sub.add_parser("bench", help="accuracy on the held-out split + latency, size; writes bench.json")
    b.add_argument("task")
    b.add_argument("--weights")
    b.add_argument("--data", help="labelled data (default: the task's set under the shared data root)")
    b.add_argument("--split", default="test", choices=["all", "train", "val", "test"])
    b.add_argument("--seed", type=int, default=0)
    b.add_argument("--repeats", type=int, default=50)
    b.add_argument("--out", default=None, help="bench.json path (default: runs/TASK/bench.json)")
    b.add_argument("--update-card", action="store_true", help="write the results into the weights' card (TASK.json)")
    b.add_argument("--peer", help="also run an optional peer model on the same images (hand_keypoints, and "
                   "gestures/hand_keypoints with --photos: mediapipe)")
    b.add_argument("--photos", action="store_true", help="tasks that find objects first: whole photos end to end, "
                   "per real source: objects found, found and read right, false ones per photo (bench_photos.json)")

    lb = sub.add_parser("label", help="propose labels for an unlabelled pool (embed, cluster, order by uncertainty)")
    lb.add_argument("task")
    lb.add_argument("--pool", required=True, help="folder of unlabelled images")
    lb.add_argument("--labels", help="labels CSV to create or update (default: POOL/labels.csv)")
    lb.add_argument("--weights", help="model for embeddings/proposals (default: shipped, else PCA of pixels)")
    lb.add_argument("--clusters", type=int)
    lb.add_argument("--seed", type=int, default=0)
    lb.add_argument("--review", action="store_true", help="review the proposals in the terminal right away")

    rv = sub.add_parser("review", help="review proposed labels in the terminal (saves after every key)")
    rv.add_argument("task")
    rv.add_argument("--pool", required=True)
    rv.add_argument("--labels", help="labels CSV (default: POOL/labels.csv)")
    rv.add_argument("--limit", type=int)

    r = sub.add_parser("runs", help="table of past runs")
    r.add_argument("task", nargs="?")
    r.add_argument("--tag")
    r.add_argument("--project", default="runs")

    pk = sub.add_parser("pack", help="convert a data set once into memory-mapped shards that load faster")
    pk.add_argument("task")
    pk.add_argument("--data", required=True, help="any layout the task's readers understand")
    pk.add_argument("--out", required=True, help="new (or empty) folder for the shards and manifest.json")
    pk.add_argument("--shard-size", dest="shard_size", type=int, default=4096)
    pk.add_argument("--workers", type=int, help="processes decoding in parallel (default: all cores)")
    pk.add_argument("--no-measure", dest="measure", action="store_false",
                    help="skip timing how fast packed and raw data load")

    rc = sub.add_parser("record", help="save labelled hand crops from a webcam or video file (headless on a file)")
    rc.add_argument("task")
    rc.add_argument("--label", required=True, help="the label every saved crop gets")
    rc.add_argument("--source", default="0", help="camera index (0) or a video file")
    rc.add_argument("--out", required=True, help="dataset folder: crops go to OUT/LABEL/, a log to OUT/record_log.csv")
    rc.add_argument("--box", help="x0,y0,x1,y1 of a fixed hand box in pixels or fractions (default: each frame's hand as "
                    "the hand finder sees it; a centred square where there is no finder)")
    rc.add_argument("--detector-weights", dest="detector_weights", metavar="WEIGHTS",
                    help="the hand finder's weights (default: the shipped hands detector)")
    rc.add_argument("--every", type=int, default=5, help="keep every N-th frame (default 5)")
    rc.add_argument("--max", dest="max_frames", type=int, help="stop after saving N crops")
    rc.add_argument("--weights", help="model whose guess is logged per crop (default: shipped, if any)")
    rc.add_argument("--no-preview", dest="preview", action="store_false", help="never open a preview window")

    mn = sub.add_parser("mine", help="confused class pairs + an unlabelled pool ranked for labelling")
    mn.add_argument("task")
    mn.add_argument("--data", required=True, help="labelled set the confusions are measured on")
    mn.add_argument("--pool", required=True, help="folder of unlabelled images to rank")
    mn.add_argument("--labels", help="labels file to write proposals into (default: POOL/labels.csv)")
    mn.add_argument("--weights")
    mn.add_argument("--top", type=int, default=3, help="how many confused pairs to name (default 3)")
    mn.add_argument("--limit", type=int, help="rank only the first N pool images")
    mn.add_argument("--project", default="runs")

    au = sub.add_parser("audit", help="cross-fit K models and list the images whose label is probably wrong; "
                        "--by-source: score each real source with the recipe trained on the others")
    au.add_argument("task")
    au.add_argument("--data", action="append", help="labelled set to audit (any readable layout); with --by-source, "
                    "repeat it once per source (default: the task's real sources under the shared data root)")
    au.add_argument("--by-source", dest="by_source", action="store_true",
                    help="leave one source out: train the recipe on all sources but one, score that one, for each")
    au.add_argument("--folds", type=int, default=5, help="models to cross-fit; each predicts the fold it never saw")
    au.add_argument("--epochs", type=int, help="epochs per model (default: the task's training recipe)")
    au.add_argument("--config", help="YAML file of training options (as for train)")
    au.add_argument("--seed", type=int, help="weights, augmentation and batch order")
    au.add_argument("--split-seed", dest="split_seed", type=int, help="how the folds are cut (default 0)")
    au.add_argument("--top", type=int, default=64, help="suspects shown in the report's grid")
    au.add_argument("--name", help="run name (made unique under runs/TASK/)")
    au.add_argument("--project", help="root folder of runs (default: runs)")

    sv = sub.add_parser("serve", help="local web app: draw, live camera, upload, label, runs (+ JSON API)")
    sv.add_argument("--host", default="127.0.0.1", help="address to listen on (default: loopback only)")
    sv.add_argument("--port", type=int, default=8000)
    sv.add_argument("--project", default="runs", help="runs folder shown on the Runs page")
    sv.add_argument("--drawings", default="drawings", help="folder where the Draw page saves drawings")
    sv.add_argument("--label", dest="label_task", help="task whose proposals the Label page reviews")
    sv.add_argument("--pool", help="image folder of those proposals (see glance label)")
    sv.add_argument("--labels", help="labels CSV (default: POOL/labels.csv)")
    sv.add_argument("--weights", action="append", default=[], metavar="TASK=PATH",
                    help="serve these weights for a task instead of the shipped ones (repeatable)")

    fl = sub.add_parser("flip", help="add test-time mirror averaging to trained weights (or --remove it)")
    fl.add_argument("task")
    fl.add_argument("--weights", required=True, help="trained weights (a run's best.pt, or shipped weights)")
    fl.add_argument("--out", required=True, help="new weights file to write (never the --weights file)")
    fl.add_argument("--remove", action="store_true",
                    help="the other way: write the bare net of mirror-averaged weights (one view, half the work)")

    fu = sub.add_parser("fuse", help="fuse the gestures image classifier and keypoint reader into one model")
    fu.add_argument("task", help="gestures (the only task with two readers)")
    fu.add_argument("--image", help="gestures image classifier weights, or a fused model whose image classifier "
                    "is taken (default: the shipped model)")
    fu.add_argument("--keypoints", help="hand_keypoints weights (default: shipped)")
    fu.add_argument("--reader", help="gestures_kp weights (default: shipped)")
    fu.add_argument("--val", type=int, default=1800, help="validation renders that pick the keypoint share")
    fu.add_argument("--n", type=int, default=1800, help="held-out-style test renders scored beside them")
    fu.add_argument("--flip", action="store_true", help="the fused model averages each image with its mirror image")
    fu.add_argument("--out", help="write the fused weights here (without it: only the table of scores)")

    s = sub.add_parser("ship", help="copy a run's best weights into the package with their card and ONNX")
    s.add_argument("task")
    s.add_argument("--weights", required=True)
    s.add_argument("--data", help="data to benchmark the card on (default: the task's shared set)")
    s.add_argument("--audit", help="a `glance audit TASK --by-source` run of the same recipe: the card then "
                                   "carries each source's figure when held out, and the worst")
    for command in sub.choices.values():
        for action in command._actions:
            if action.help is None and action.dest in COMMON_HELP:
                action.help = COMMON_HELP[action.dest]
    return p


def _at_least(low: int, **options: int | None) -> None:
    """Counts a user gives (`--top 0`, `--limit -1`) that mean nothing: one clear line."""
    for name, value in options.items():
        if value is not None and value < low:
            raise GlanceError(f"--{name.replace('_', '-')} must be at least {low}, got {value}")


def _cmd_train(a: argparse.Namespace) -> None:
    from dataclasses import fields

    from .config import TrainConfig
    from .engine.train import train
    from .tasks import get
    task = get(a.task)
    # every TrainConfig option that has a flag; None = flag not given
    overrides = {f.name: getattr(a, f.name) for f in fields(TrainConfig) if hasattr(a, f.name)}
    if overrides["devices"] is not None and str(overrides["devices"]).isdigit():
        overrides["devices"] = int(overrides["devices"])
    cfg = TrainConfig.resolve(task.train_defaults, a.config, overrides)
    train(a.task, cfg)


def _cmd_synth(a: argparse.Namespace) -> None:
    from .data.synth import write_synth
    from .tasks import get
    task = get(a.task)
    out, rate = write_synth(task, Path(a.out), a.n, a.seed, a.split, a.backgrounds)
    print(f"wrote {a.n} images and {out / 'labels.csv'} ({rate:.0f} images/s rendering, one core)")


def _cmd_val(a: argparse.Namespace) -> None:
    from .engine.evaluate import validate
    from .output import print_metrics
    from .tasks import get
    out_dir, metrics = validate(get(a.task), a.weights, a.data, a.split, a.seed, a.project, a.name, a.relabel,
                                a.calibrate, a.reject_rate)
    info = json.loads((out_dir / "run.json").read_text())
    changed = info.get("labels_changed")
    print_metrics(metrics, f"glance val {a.task}" + (f" ({changed} labels corrected by --relabel)" if a.relabel else ""))
    if a.calibrate:
        fitted = ", ".join(f"{k} {v}" for k, v in info["calibration"].items() if not k.endswith("_rule"))
        print(f"wrote {a.calibrate}: {fitted}")
    print(f"report: {out_dir / 'report.html'}")


def _cmd_predict(a: argparse.Namespace) -> None:
    from .data.images import list_images
    from .engine.predict import Predictor
    from .output import print_predictions, write_predictions
    from .tasks import get, names
    for flag, value in (("--threshold", a.threshold), ("--box-threshold", a.box_threshold)):
        if value is not None and not 0 <= value <= 1:
            raise GlanceError(f"{flag} is a confidence in [0, 1], got {value}")
    task = get(a.task)
    whole = bool(task.detector) and not a.crop
    finder_opts = [f for f, v in (("--box-threshold", a.box_threshold), ("--detector-weights", a.detector_weights))
                   if v is not None]
    if (a.crop or finder_opts) and not task.detector:
        raise GlanceError(f"{(['--crop'] if a.crop else finder_opts)[0]} is for tasks that find objects first "
                          f"({', '.join(n for n in names() if get(n).detector)}); {a.task} reads whole images")
    if a.crop and finder_opts:
        raise GlanceError(f"{finder_opts[0]} is the object finder's; --crop skips it")
    files = list_images(a.paths)
    predictor: Any
    if whole:
        from .engine.pipeline import Pipeline
        predictor = Pipeline(task, a.weights, backend=a.backend, detector_weights=a.detector_weights,
                             threshold=a.box_threshold)
        reader = predictor.readers[0]
    else:
        predictor = reader = Predictor(task, a.weights, backend=a.backend)
    if a.threshold is not None:
        reader.meta["threshold"] = a.threshold
    preds = predictor.predict_files(files)
    print_predictions(files, preds, a.task)
    if a.save_vis:
        from .data.vis import save_visualizations
        drawn = save_visualizations(task, files, preds, Path(a.save_vis), predictor.visualize if whole else None)
        print(f"drew {drawn} images into {a.save_vis}")
    if a.out:
        print(f"wrote {write_predictions(Path(a.out), files, preds)}")


def _cmd_export(a: argparse.Namespace) -> None:
    from .engine.export import export
    from .tasks import get
    path, diff = export(get(a.task), a.weights, a.format, a.out, a.atol)
    print(f"exported {path} ({path.stat().st_size / 1024:.1f} KiB); max abs diff vs torch: {diff:.2e} "
          f"(allowed {a.atol:g})")


def _cmd_bench(a: argparse.Namespace) -> None:
    from .engine.bench import bench
    from .tasks import get
    _at_least(1, repeats=a.repeats)
    if a.photos:
        from .engine.photo_bench import photo_bench
        if a.data or a.update_card:
            raise GlanceError("--photos scores the task's real sources as they are: no --data or --update-card")
        photo_bench(get(a.task), a.weights, a.out, a.peer)
        return
    bench(get(a.task), a.weights, a.data, a.split, a.seed, a.repeats, a.out, a.update_card, a.peer)


def _cmd_label(a: argparse.Namespace) -> None:
    from collections import Counter

    from .label.propose import propose
    from .tasks import get
    task = get(a.task)
    _at_least(1, clusters=a.clusters)
    labels = Path(a.labels) if a.labels else Path(a.pool) / "labels.csv"
    rows = propose(task, a.pool, labels, a.weights, a.clusters, a.seed)
    if task.labels:
        counts = Counter((r.source, r.label or "?") for r in rows.values())
        print(f"wrote {labels}: " + ", ".join(f"{n} {src} {lab}" for (src, lab), n in sorted(counts.items())))
    else:  # free-text labels (times): how many of each kind, not one count per distinct label
        counts = Counter("human" if r.source == "human" else "proposed" if r.label else "nothing found"
                         for r in rows.values())
        print(f"wrote {labels}: " + ", ".join(f"{n} {k}" for k, n in sorted(counts.items())))
    if a.review:
        from .label.review import review
        review(task, labels, a.pool)


def _cmd_review(a: argparse.Namespace) -> None:
    from .label.review import review
    from .tasks import get
    _at_least(1, limit=a.limit)
    review(get(a.task), Path(a.labels) if a.labels else Path(a.pool) / "labels.csv", a.pool, limit=a.limit)


def _cmd_runs(a: argparse.Namespace) -> None:
    from .output import print_runs
    from .runs.store import list_runs
    if a.task:
        from .tasks import get
        get(a.task)
    print_runs(list_runs(a.project, a.task, a.tag))


def _cmd_pack(a: argparse.Namespace) -> None:
    from .data.packed import measure_throughput, pack, summary_lines
    from .tasks import get
    task = get(a.task)
    manifest = pack(task, a.data, Path(a.out), a.shard_size, a.workers)
    throughput = measure_throughput(task, a.out, limit=2000) if a.measure else None
    print("\n".join(summary_lines(manifest, a.out, throughput)))


def _cmd_record(a: argparse.Namespace) -> None:
    from .engine.record import record
    from .tasks import get
    if a.box and a.detector_weights:
        raise GlanceError("--box places the hand; --detector-weights is for finding it: give one of them")
    r = record(get(a.task), a.label, a.source, Path(a.out), a.box, a.every, a.max_frames, a.weights, a.preview,
               a.detector_weights)
    skipped = f", {r['frames_without_hand']} without a hand skipped" if r["frames_without_hand"] else ""
    print(f"saved {r['saved']} crops of '{a.label}' into {r['folder']} ({r['frames_read']} frames read, crops from "
          f"the {r['crops_from']}{skipped}); log: {r['log']}")


def _cmd_mine(a: argparse.Namespace) -> None:
    from .engine.mine import mine
    from .tasks import get
    _at_least(1, top=a.top, limit=a.limit)
    r = mine(get(a.task), a.data, a.pool, a.weights, a.top, a.labels, a.project, limit=a.limit)
    for p in r["pairs"]:
        print(f"confused: {p['pair']} ({p['errors']} errors)")
    if not r["pairs"]:
        print("no confusions on the labelled set")
    print(f"ranked {r['pool']} pool images → {r['labels']} (review with: glance review {a.task} --pool {a.pool}"
          f"{' --labels ' + a.labels if a.labels else ''}); report: {r['run']}/report.html")


def _cmd_audit(a: argparse.Namespace) -> None:
    from .config import TrainConfig
    from .engine.audit import audit
    from .tasks import get
    task = get(a.task)
    cfg = TrainConfig.resolve(task.train_defaults, a.config, {"epochs": a.epochs, "seed": a.seed,
                                                              "split_seed": a.split_seed, "project": a.project})
    if a.by_source:
        from .engine.holdout import audit_by_source
        h = audit_by_source(task, cfg, a.data, a.name)
        worst = h.by_source[h.worst]
        print(f"worst held-out source: {h.worst}, {h.metric} {worst['metrics'][h.metric]:.4f} on "
              f"{worst['images']} images; all sources: {h.run / 'by_source.json'}; report: {h.run / 'report.html'}")
        return
    if not a.data or len(a.data) > 1:
        raise GlanceError("audit needs one labelled set: --data PATH (several only with --by-source)")
    r = audit(task, a.data[0], cfg, a.folds, a.top, a.name)
    pairs = ", ".join(f"{k}: {v}" for k, v in r.per_pair.items()) or "none"
    print(f"{r.suspects} of {r.images} labels look wrong ({pairs}); out-of-fold accuracy {r.oof_accuracy:.4f}")
    key = task.select_metric.removeprefix("val_")
    if key in r.oof_metrics and key != "accuracy":
        lo, hi = r.oof_intervals.get(key, (float("nan"), float("nan")))
        print(f"the recipe out of fold: {key} {r.oof_metrics[key]:.4f} (95% interval {lo:.4f}–{hi:.4f})")
    print(f"suspects: {r.run / 'suspects.csv'}; report: {r.run / 'report.html'}")
    review = r.run / "review_root.txt"
    if review.exists():
        print(f"confirm or fix them: glance review {task.name} --pool {review.read_text().strip()} "
              f"--labels {r.run / 'review.csv'}")


def _cmd_serve(a: argparse.Namespace) -> None:
    from .serve.app import ServeConfig, serve
    from .tasks import get
    weights = {}
    for item in a.weights:
        task, sep, path = item.partition("=")
        if not sep or not path:
            raise GlanceError(f"--weights takes TASK=PATH, got '{item}'")
        get(task)
        if not Path(path).is_file():
            raise GlanceError(f"no such weights file: {path}")
        weights[task] = path
    if a.label_task:
        get(a.label_task)
        if not a.pool:
            raise GlanceError("--label needs --pool DIR (the images whose proposals to review)")
        if not Path(a.pool).is_dir():
            raise GlanceError(f"no such pool folder: {a.pool}")
    if not 1 <= a.port <= 65535:
        raise GlanceError(f"--port must be between 1 and 65535, got {a.port}")
    if a.host not in ("127.0.0.1", "localhost", "::1"):
        print(f"glance serve: listening on {a.host}: other machines on the network can reach this app")
    serve(a.host, a.port, ServeConfig(project=a.project, drawings=a.drawings, label_task=a.label_task,
                                      label_pool=a.pool, labels=a.labels, weights=weights))


def _cmd_flip(a: argparse.Namespace) -> None:
    from .engine.flip import flip
    from .tasks import get
    what = flip(get(a.task), a.weights, a.out, a.remove)
    print(f"wrote {a.out}: {a.task} {what}")


def _cmd_fuse(a: argparse.Namespace) -> None:
    from .engine.fuse import KEYPOINT_SHARES, fuse
    from .tasks import get
    r = fuse(get(a.task), a.image, a.keypoints, a.reader, a.val, a.n, a.flip, a.out)
    print(("mirror-averaged; " if a.flip else "") + f"weighted F1; {r.real_note}")
    print("w (keypoint share)" + "".join(f"{n:>17}" for n in r.scores))
    for i, w in enumerate(KEYPOINT_SHARES):
        print(f"{w:>18.1f}" + "".join(f"{s[i]:17.3f}" for s in r.scores.values())
              + ("  <- picked on val" if w == r.picked else ""))
    if r.out is not None:
        print(f"wrote {r.out} (w {r.picked}, no_gesture threshold {r.threshold:.3f}); "
              f"ship it with: glance ship gestures --weights {r.out}")


def _cmd_ship(a: argparse.Namespace) -> None:
    from .engine.bench import ship
    from .tasks import get
    ship(get(a.task), Path(a.weights), a.data, Path(a.audit) if a.audit else None)


COMMANDS: dict[str, Any] = {
    "train": _cmd_train, "synth": _cmd_synth, "val": _cmd_val, "predict": _cmd_predict, "export": _cmd_export,
    "bench": _cmd_bench, "runs": _cmd_runs, "label": _cmd_label, "review": _cmd_review, "record": _cmd_record,
    "pack": _cmd_pack, "mine": _cmd_mine, "audit": _cmd_audit, "serve": _cmd_serve, "flip": _cmd_flip,
    "fuse": _cmd_fuse, "ship": _cmd_ship}


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        COMMANDS[args.command](args)
    except GlanceError as e:
        print(f"glance: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("glance: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
