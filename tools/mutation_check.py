"""Whether the test suite catches known bugs: plant each one in a copy of the project and run the tests
that should fail on it.

Each mutation below is one small, realistic bug (an ignored option, a check removed, an off-by-one, the
wrong weights saved). For each: copy the working tree (without runs/ and .git) to a temporary folder,
apply the one edit, run its tests there with the copy first on the import path, and report CAUGHT (the
tests failed) or MISSED (they passed: a test is missing or too weak). A mutation whose text is no longer
in the file is reported STALE, so the list is kept true as the code moves. Exit code 1 when any is missed.

    python tools/mutation_check.py            # all mutations (a few minutes on 2 cores)
    python tools/mutation_check.py --list
    python tools/mutation_check.py --only ema,export_out
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Mutation:
    name: str
    file: str
    old: str
    new: str
    tests: tuple[str, ...]
    what: str


MUTATIONS = [
    Mutation("export_out", "glancekit/engine/export.py",
             "target = Path(out) if out else wpath.with_suffix(", "target = Path(out) if False else wpath.with_suffix(",
             ("tests/test_cli.py::test_export_cli",), "glance export ignores --out"),
    Mutation("ema", "glancekit/engine/train.py",
             "save_checkpoint(weights / \"last.pt\", self.task, pl_module.eval_model,",
             "save_checkpoint(weights / \"last.pt\", self.task, pl_module.model,",
             ("tests/test_engine.py::test_training_with_ema_saves_the_average",),
             "--ema saves the optimiser's weights instead of their average"),
    Mutation("split_overlap", "glancekit/data/readers.py",
             '("train", idx[n_test + n_val:])):', '("train", idx[n_test:])):',
             ("tests/test_plan.py::test_plan_splits_a_set_into_disjoint_parts_and_records_them",),
             "the training part also takes the validation images"),
    Mutation("keypoint_shapes", "glancekit/metrics/keypoints.py",
             "    if pred.ndim != 3 or gt.ndim != 3 or pred.shape[:2] != gt.shape[:2] or pred.shape[2] < 2 or gt.shape[2] < 3:",
             "    if False:",
             ("tests/test_keypoint_data.py::test_metrics_empty_and_errors",),
             "the keypoint metrics no longer check shapes"),
    Mutation("confusion_zero_row", "glancekit/runs/report.py",
             "shade = np.divide(cm, rows, out=np.zeros(cm.shape, float), where=rows > 0)",
             "shade = cm / rows",
             ("tests/test_report.py",), "the confusion plot divides by an empty class's zero count"),
    Mutation("flip_remove", "glancekit/engine/flip.py",
             "new = without_flip_average(ckpt)", "new = ckpt",
             ("tests/test_cli.py::test_flip_removes_and_adds_the_mirror_view",),
             "glance flip --remove keeps the mirror averaging"),
    Mutation("fuse_picks_on_test", "glancekit/engine/fuse.py",
             "best = int(np.argmax(scores[\"val renders\"]))", "best = int(np.argmax(scores[\"test renders\"]))",
             ("tests/test_gestures_kp.py::test_tiny_keypoint_gesture_run",),
             "glance fuse picks the keypoint share on the test renders instead of validation"),
    Mutation("portable", "glancekit/data/locations.py",
             "    if (rel := _under(p, data_root())) is not None:", "    if False:",
             ("tests/test_plan.py",), "shipped cards keep the machine's data paths"),
    Mutation("ship_meta", "glancekit/engine/bench.py",
             "write_checkpoint(target, {**ckpt, \"meta\": portable_record(ckpt[\"meta\"])})",
             "write_checkpoint(target, ckpt)",
             ("tests/test_plan.py::test_ship_writes_weights_export_and_a_card_naming_no_machine_path",),
             "glance ship copies the weights' meta with machine paths"),
    Mutation("extra_leak", "glancekit/data/plan.py",
             "keep = [i for i, item in enumerate(more.items) if item_key(item) not in taken]",
             "keep = list(range(len(more.items)))",
             ("tests/test_plan.py::test_plan_extra_joins_training_only",),
             "--extra lets held-out images into training"),
    Mutation("calibrate_all_answers", "glancekit/tasks/base.py",
             "thr = float(np.percentile(conf[correct], self.trusted_percentile)) if correct.any() else 0.5",
             "thr = float(np.percentile(conf, self.trusted_percentile)) if correct.any() else 0.5",
             ("tests/test_digits.py::test_calibrate_takes_percentile_of_correct_confidence",),
             "the reject threshold is fitted on wrong answers too"),
    Mutation("open_eye_check", "glancekit/__init__.py",
             "return int(_EYES.predict(path).is_open)", "return 1",
             ("tests/test_eyes.py::test_open_eye_check_uses_shipped_model",), "openEyeCheck always answers open"),
    Mutation("pack_speedup", "glancekit/data/packed.py",
             'result["speedup"] = result["packed"]["images_per_s"] / result["raw"]["images_per_s"]',
             'result["speedup"] = result["raw"]["images_per_s"] / result["packed"]["images_per_s"]',
             ("tests/test_pack.py",), "glance pack reports the speed-up upside down"),
    Mutation("threshold_range", "glancekit/cli.py",
             "if a.threshold is not None and not 0 <= a.threshold <= 1:", "if False:",
             ("tests/test_errors.py",), "glance predict accepts a threshold outside [0, 1]"),
    Mutation("cli_docs", "glancekit/cli.py",
             'help="new weights file to write (never the --weights file)"', 'help="new weights file"',
             ("tests/test_docs.py",), "an option's help changes and docs/cli.md does not"),
    Mutation("ddp_quiet", "glancekit/engine/train.py",
             "    if not main:\n        console.quiet = True\n", "",
             ("tests/test_ddp.py::test_ddp_on_two_cpu_processes_makes_one_run",),
             "every DDP process prints the run's lines"),
    Mutation("ddp_run_dir", "glancekit/engine/train.py",
             "run_dir = Path(os.environ.get(RUN_DIR_ENV) or tempfile.mkdtemp(prefix=\"glance-rank-\"))",
             "run_dir = new_run_dir(cfg.project, task.name, cfg.name)",
             ("tests/test_ddp.py::test_ddp_on_two_cpu_processes_makes_one_run",),
             "every DDP process makes its own run folder"),
    Mutation("review_saves", "glancekit/label/session.py",
            "            write_labels(self.labels_path, self.rows)  # saved before anything else happens\n", "",
            ("tests/test_commands.py::test_label_then_review_in_the_terminal",),
            "a decision in glance review is not written to the labels file"),
    Mutation("shard", "glancekit/data/plan.py",
             "        yield from order[rank::world]", "        yield from order",
             ("tests/test_ddp.py::test_each_process_takes_its_share_of_the_same_order",),
             "every DDP process trains on the whole epoch"),
]


def _copy(dst: Path) -> None:
    skip = shutil.ignore_patterns(".git", "__pycache__", "*.egg-info", ".pytest_cache", "lightning_logs")

    def ignore(folder: str, names: list[str]) -> set[str]:  # the project's own runs/, not glancekit/runs/
        return set(skip(folder, names)) | ({"runs", "drawings"} & set(names) if Path(folder) == ROOT else set())
    shutil.copytree(ROOT, dst, ignore=ignore, symlinks=True)


def run(mutation: Mutation, timeout: int) -> tuple[str, float, str]:
    text = (ROOT / mutation.file).read_text()
    if mutation.old and text.count(mutation.old) != 1:
        return "STALE", 0.0, f"{mutation.file}: the text to change is found {text.count(mutation.old)} times"
    with tempfile.TemporaryDirectory(prefix="glance-mutant-") as tmp:
        copy = Path(tmp) / "project"
        _copy(copy)
        if mutation.old:
            (copy / mutation.file).write_text(text.replace(mutation.old, mutation.new))
        env = {**os.environ, "PYTHONPATH": str(copy), "GLANCE_REQUIRE_BROWSER": ""}
        check = subprocess.run([sys.executable, "-c", "import glancekit; print(glancekit.__file__)"], cwd=copy,
                               env=env, capture_output=True, text=True)
        if not check.stdout.strip().startswith(str(copy)):
            return "ERROR", 0.0, f"the copy's package is not the one imported: {check.stdout or check.stderr}"
        t = time.time()
        try:
            r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider",
                                *mutation.tests], cwd=copy, env=env, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            return "CAUGHT", time.time() - t, "timed out (a hang counts as caught)"
        tail = (r.stdout.strip().splitlines() or [""])[-1]
        return ("CAUGHT" if r.returncode != 0 else "MISSED"), time.time() - t, tail


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--list", action="store_true", help="list the mutations and exit")
    ap.add_argument("--only", help="comma-separated mutation names")
    ap.add_argument("--timeout", type=int, default=600, help="seconds per mutation's tests")
    ap.add_argument("--no-baseline", action="store_true", help="skip running the tests on the unchanged copy first")
    a = ap.parse_args()
    chosen = [m for m in MUTATIONS if not a.only or m.name in a.only.split(",")]
    if a.list:
        for m in chosen:
            print(f"{m.name:20} {m.file:36} {m.what}")
        return 0
    if not a.no_baseline:  # the same tests on the copy as it is must pass, or a "caught" means nothing
        tests = tuple(dict.fromkeys(t for m in chosen for t in m.tests))
        verdict, seconds, detail = run(Mutation("baseline", chosen[0].file, "", "", tests, ""), a.timeout)
        print(f"{'ok' if verdict == 'MISSED' else 'FAILED':7} {'baseline':20} {seconds:6.1f} s  the tests pass on "
              f"the unchanged copy  [{detail}]", flush=True)
        if verdict != "MISSED":
            return 2
    missed = 0
    for m in chosen:
        verdict, seconds, detail = run(m, a.timeout)
        missed += verdict != "CAUGHT"
        print(f"{verdict:7} {m.name:20} {seconds:6.1f} s  {m.what}  [{detail}]", flush=True)
    print(f"{len(chosen) - missed} of {len(chosen)} planted bugs caught")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
