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
    assert len(lines) == 1 and lines[0].startswith("glance: error: unknown task 'fruit'; known tasks: clock, clocks, digits, eyes")
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
    """The export lands at --out (and nowhere else), and onnxruntime runs it to torch's answers."""
    import numpy as np
    import onnxruntime as ort
    import torch

    from glancekit.engine.checkpoint import build_from_checkpoint, load_checkpoint
    weights = tiny_run / "weights" / "best.pt"
    before = sorted(p.name for p in weights.parent.iterdir())
    assert run_cli("export", "digits", "--weights", weights, "--format", "onnx", "--out", tmp_path / "sub" / "d.onnx") == 0
    out = capsys.readouterr().out
    assert f"exported {tmp_path / 'sub' / 'd.onnx'}" in out and "max abs diff vs torch" in out
    assert sorted(p.name for p in weights.parent.iterdir()) == before
    x = np.random.default_rng(0).random((3, 1, 28, 28), dtype=np.float32)
    got = ort.InferenceSession(str(tmp_path / "sub" / "d.onnx")).run(None, {"input": x})[0]
    _, model = build_from_checkpoint(load_checkpoint(weights))
    with torch.no_grad():
        assert np.abs(got - model(torch.from_numpy(x)).numpy()).max() < 1e-4
    assert run_cli("export", "digits", "--weights", weights, "--format", "torchscript",
                   "--out", tmp_path / "d.torchscript.pt") == 0
    scripted = torch.jit.load(str(tmp_path / "d.torchscript.pt"))
    with torch.no_grad():
        assert torch.allclose(scripted(torch.from_numpy(x)), model(torch.from_numpy(x)), atol=1e-5)


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


@pytest.mark.parametrize("args, message", [
    (["flip", "digits", "--weights", "{shipped_digits}", "--out", "{tmp}/d.pt"],
     "digits has no mirror averaging: its mirror image has no answer to map back"),
    (["flip", "eyes", "--weights", "{shipped_eyes}", "--out", "{tmp}/e.pt"], "already averages over mirror images"),
    (["flip", "eyes", "--weights", "{tmp}/missing.pt", "--out", "{tmp}/e.pt"], "no such weights file"),
    (["flip", "clock", "--weights", "{shipped_eyes}", "--out", "{tmp}/e.pt"],
     "holds weights for task 'eyes', not 'clock'"),
    (["flip", "eyes", "--weights", "{shipped_eyes}", "--out", "{shipped_eyes}", "--remove"],
     "is the --weights file itself"),
    (["fuse", "digits"], "only gestures has two readers to fuse, not digits"),
    (["fuse", "gestures", "--val", "0"], "--val and --n must be at least 1"),
    (["fuse", "gestures", "--reader", "{shipped_eyes}"], "holds weights for task 'eyes', not 'gestures_kp'"),
])
def test_flip_and_fuse_bad_input(tmp_path, capsys, args, message):
    from glancekit.engine.checkpoint import shipped_weights
    fill = {"tmp": tmp_path, "shipped_digits": shipped_weights("digits"), "shipped_eyes": shipped_weights("eyes")}
    before = shipped_weights("eyes").read_bytes()
    assert run_cli(*[a.format(**fill) for a in args]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("glance: error: ") and message in err[0]
    assert shipped_weights("eyes").read_bytes() == before and not list(tmp_path.iterdir())


def test_flip_removes_and_adds_the_mirror_view(tmp_path, capsys):
    """The shipped eyes net answers over the crop and its mirror: --remove gives the one-view net, whose
    answer for a crop and for its mirror differ; flipping it again gives the shipped answers back."""
    import numpy as np
    import torch

    from glancekit.engine.checkpoint import build_from_checkpoint, load_checkpoint, shipped_weights
    assert run_cli("flip", "eyes", "--weights", shipped_weights("eyes"), "--out", tmp_path / "bare.pt",
                   "--remove") == 0
    assert "reading each image once" in capsys.readouterr().out
    assert run_cli("flip", "eyes", "--weights", tmp_path / "bare.pt", "--out", tmp_path / "again.pt") == 0
    x = torch.from_numpy(np.random.default_rng(0).random((4, 1, 24, 24), dtype=np.float32))
    nets = {n: build_from_checkpoint(load_checkpoint(p))[1] for n, p in
            (("shipped", shipped_weights("eyes")), ("bare", tmp_path / "bare.pt"), ("again", tmp_path / "again.pt"))}
    with torch.no_grad():
        out = {n: net(x) for n, net in nets.items()}
        assert not torch.allclose(nets["bare"](x.flip(-1)), out["bare"], atol=1e-4)
        assert torch.allclose(out["again"], out["shipped"], atol=1e-6)
        assert torch.allclose(out["shipped"], (out["bare"] + nets["bare"](x.flip(-1))) / 2, atol=1e-5)
    assert "flip_average_added" not in load_checkpoint(tmp_path / "bare.pt")["meta"]


def test_val_scores_several_sets_each_split_on_its_own(tmp_path, tiny_run, digit_folder):
    """--data twice: each set split as training splits it, the validation parts scored together."""
    weights = tiny_run / "weights" / "best.pt"
    for name, sets in (("one", [digit_folder]), ("two", [digit_folder, digit_folder])):
        args = [a for d in sets for a in ("--data", d)]
        assert run_cli("val", "digits", *args, "--weights", weights, "--split", "val", "--project", tmp_path / "runs",
                       "--name", name) == 0
    runs = tmp_path / "runs" / "digits"
    one, two = (json.loads((runs / n / "run.json").read_text()) for n in ("one", "two"))
    assert two["images"] == 2 * one["images"] > 0 and " + " in two["data"]


def test_val_calibrate_at_a_stated_reject_rate(tmp_path, tiny_run, digit_folder, capsys):
    """--reject-rate 0.1: the refitted threshold answers not_a_digit for a tenth of the set it was fitted on."""
    from glancekit.engine.checkpoint import load_checkpoint
    out = tmp_path / "cal.pt"
    assert run_cli("val", "digits", "--data", digit_folder, "--weights", tiny_run / "weights" / "best.pt",
                   "--split", "val", "--calibrate", out, "--reject-rate", "0.1", "--project", tmp_path / "runs") == 0
    meta = load_checkpoint(out)["meta"]
    assert meta["threshold_rule"] == (f"rejects 10.0% of the {Path(digit_folder).name} (val) digits by certainty "
                                      "(1 - entropy / log classes), right and wrong answers alike")  # names the data
    assert run_cli("val", "digits", "--data", digit_folder, "--weights", out, "--split", "val",
                   "--project", tmp_path / "runs", "--name", "again") == 0
    metrics = json.loads((tmp_path / "runs" / "digits" / "again" / "val_metrics.json").read_text())
    assert 2 / 24 <= metrics["digits_wrongly_rejected"] <= 3 / 24  # 24 validation digits, a tenth of them
