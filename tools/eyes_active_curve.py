"""How many human decisions the eyes model needs when a person labels what `glance label` asks first.

The labelled eye crops stand in for the person: the standard split of the task (seed 0) keeps its
validation part (used for selection and the threshold, as in every run) and its test part (scored
here); the train part is the unlabelled pool. Round 0 labels `--start` random crops. Every round then
trains the task's default model on what is labelled, lets `propose` (the proposer behind `glance label
eyes --pool`) order the rest for review — least confident first — and the "person" answers the first
`--step` of that queue. Each round's EER on the test part is printed and written to a CSV.

    python tools/eyes_active_curve.py ../shared/data/eyes --start 100 --step 100 --rounds 4 --out runs/eyes/active_curve.csv
"""
from __future__ import annotations

import argparse
import csv
import tempfile
from pathlib import Path

import numpy as np

from glancekit.config import TrainConfig
from glancekit.data.readers import read_dataset
from glancekit.engine.bench import bench
from glancekit.engine.evaluate import split_samples
from glancekit.engine.train import train
from glancekit.label.propose import propose
from glancekit.tasks import get


def write_csv(path: Path, files: list[str], labels: list[str]) -> Path:
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["file", "label"])
        w.writerows(zip(files, labels))
    return path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("data", type=Path)
    ap.add_argument("--start", type=int, default=100)
    ap.add_argument("--step", type=int, default=100)
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--out", type=Path, default=Path("runs/eyes/active_curve.csv"))
    a = ap.parse_args()
    task = get("eyes")
    images = (a.data / "images").resolve()
    parts = split_samples(task, read_dataset(a.data, task), seed=0)
    name = {p: Path(p).name for s in parts.values() for p in s.items}
    label = {name[p]: task.labels[t] for s in parts.values() for p, t in zip(s.items, s.targets)}
    pool_files = [name[p] for p in parts["train"].items]
    rng = np.random.default_rng(0)
    labelled = [pool_files[i] for i in rng.choice(len(pool_files), a.start, replace=False)]
    a.out.parent.mkdir(parents=True, exist_ok=True)
    rows: list[dict[str, object]] = []
    with tempfile.TemporaryDirectory() as tmp:
        t = Path(tmp)
        for d in ("train", "val", "test"):
            (t / d).mkdir()
        for d in ("val", "test"):
            files = [name[p] for p in parts[d].items]
            for f in files:
                (t / d / f).symlink_to(images / f)
            write_csv(t / d / "labels.csv", files, [label[f] for f in files])
        for rnd in range(a.rounds + 1):
            train_dir = t / f"train{rnd}"
            train_dir.mkdir()
            for f in labelled:
                (train_dir / f).symlink_to(images / f)
            write_csv(train_dir / "labels.csv", labelled, [label[f] for f in labelled])
            cfg = TrainConfig.resolve(task.train_defaults, None, {
                "data": str(train_dir), "val_data": str(t / "val"), "project": str(t / "runs"), "name": f"r{rnd}"})
            weights = train("eyes", cfg) / "weights" / "best.pt"
            res = bench(task, weights, t / "test", split="all", repeats=3, out=t / f"bench{rnd}.json")
            m = res["metrics"]
            rows.append({"decisions": len(labelled), "order": "random" if rnd == 0 else "least confident first",
                         "eer": round(m["eer"], 4), "accuracy": round(m["accuracy"], 4), "auc": round(m["auc"], 4)})
            print(f"round {rnd}: {len(labelled)} labelled → test EER {m['eer']:.4f}, accuracy {m['accuracy']:.4f}")
            with open(a.out, "w", newline="") as f:
                w = csv.DictWriter(f, fieldnames=list(rows[0]))
                w.writeheader()
                w.writerows(rows)
            if rnd == a.rounds:
                break
            rest = t / f"pool{rnd}"
            rest.mkdir()
            for f in sorted(set(pool_files) - set(labelled)):
                (rest / f).symlink_to(images / f)
            proposed = propose(task, rest, t / f"proposals{rnd}.csv", weights=weights)
            queue = sorted(proposed.values(), key=lambda r: r.review_rank)
            labelled += [r.file for r in queue[:a.step]]  # the person answers the top of the review queue
    print(f"wrote {a.out}")


if __name__ == "__main__":
    main()
