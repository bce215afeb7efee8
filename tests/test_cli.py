"""The `glance` command: outputs, files written, and one clear error line for every bad input."""
import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest

from glancekit.cli import main

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "digits"


def run_cli(*args: str) -> int:
    return main([str(a) for a in args])


def test_unknown_task_is_one_line_no_traceback():
    r = subprocess.run([sys.executable, "-m", "glancekit.cli", "predict", "fruit", str(EXAMPLES)],
                       capture_output=True, text=True)
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("glance: error: unknown task 'fruit'; known tasks: clock, digits, eyes")
    assert "Traceback" not in r.stderr


@pytest.mark.parametrize("make_bad, message", [
    (lambda d: d / "missing.png", "no such file"),
    (lambda d: (d / "empty").mkdir() or d / "empty", "no images found"),
    (lambda d: (d / "bad.png").write_bytes(b"\x89PNG broken") and d / "bad.png", "corrupt"),
])
def test_predict_bad_input(tmp_path, capsys, tiny_run, make_bad, message):
    code = run_cli("predict", "digits", make_bad(tmp_path), "--weights", tiny_run / "weights" / "best.pt")
    err = capsys.readouterr().err
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1


def test_predict_writes_csv_and_json(tmp_path, tiny_run):
    w = tiny_run / "weights" / "best.pt"
    assert run_cli("predict", "digits", EXAMPLES, "--weights", w, "--out", tmp_path / "p.csv") == 0
    rows = list(csv.DictReader(open(tmp_path / "p.csv")))
    assert len(rows) == len(list(EXAMPLES.glob("*.png")))
    assert {"path", "prediction", "confidence", "top"} <= set(rows[0])
    assert run_cli("predict", "digits", EXAMPLES / "3_pen.png", "--weights", w, "--out", tmp_path / "p.json") == 0
    data = json.loads((tmp_path / "p.json").read_text())
    assert data[0]["path"].endswith("3_pen.png") and 0 <= data[0]["confidence"] <= 1
    assert run_cli("predict", "digits", EXAMPLES, "--weights", w, "--out", tmp_path / "p.txt") == 2


def test_val_writes_report(tmp_path, tiny_run, digit_folder, capsys):
    w = tiny_run / "weights" / "best.pt"
    assert run_cli("val", "digits", "--data", digit_folder, "--weights", w, "--split", "test",
                   "--project", tmp_path) == 0
    out = capsys.readouterr().out
    assert "accuracy" in out
    val_dir = tmp_path / "digits" / "val"
    m = json.loads((val_dir / "val_metrics.json").read_text())
    assert 0 <= m["accuracy"] <= 1 and "non_digit_rejected_all" in m
    assert (val_dir / "report.html").is_file()


def test_bench_writes_json(tmp_path, tiny_run, digit_folder):
    out = tmp_path / "bench.json"
    assert run_cli("bench", "digits", "--weights", tiny_run / "weights" / "best.pt", "--data", digit_folder,
                   "--repeats", "3", "--out", out) == 0
    b = json.loads(out.read_text())
    assert b["images"] == 30  # the held-out 12.5% test split of 240 images (3 per digit)
    assert set(b["latency_ms"]) == {"torch_b1_ms", "torch_b64_ms", "onnx_b1_ms", "onnx_b64_ms"}
    assert b["onnx_max_abs_diff"] < 1e-4 and b["params"] > 0
    assert b["onnx_metrics"]["accuracy"] == pytest.approx(b["metrics"]["accuracy"])
    lo, hi = b["metrics_ci95"]["accuracy"]  # 30 images: an interval a few errors wide around the figure
    assert lo <= b["metrics"]["accuracy"] <= hi and (hi - lo >= 1 / 30 or lo == hi == 1.0)


def test_export_cli(tmp_path, tiny_run, capsys):
    assert run_cli("export", "digits", "--weights", tiny_run / "weights" / "best.pt", "--format", "onnx",
                   "--out", tmp_path / "d.onnx") == 0
    assert "max abs diff" in capsys.readouterr().out


def test_runs_table(tiny_run, capsys):
    assert run_cli("runs", "--project", tiny_run.parent.parent) == 0
    assert "tiny" in capsys.readouterr().out


def test_train_errors(tmp_path, capsys):
    assert run_cli("train", "digits", "--data", tmp_path / "nothing") == 2
    assert run_cli("train", "digits") == 2
    assert "no training data" in capsys.readouterr().err


def test_shipped_model_reads_the_examples(tmp_path):
    """The README's main command: shipped weights, shipped examples, expected label in each file name."""
    out = tmp_path / "shipped.csv"
    assert run_cli("predict", "digits", EXAMPLES, "--out", out) == 0
    rows = list(csv.DictReader(open(out)))
    expected = [Path(r["path"]).name.split("_")[0] for r in rows]
    got = [r["prediction"] for r in rows]
    truth = ["not_a_digit" if e == "not" else e for e in expected]
    right = sum(g == t for g, t in zip(got, truth))
    assert right >= len(rows) - 2, list(zip(truth, got))
