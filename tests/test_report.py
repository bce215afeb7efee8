"""report.py: every picture is a real PNG, and report.html is one self-contained, escaped page."""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from glancekit.runs import report as rp

# A picture drawn through a warning (a divide by zero, an empty axis) is a wrong picture: fail on it.
pytestmark = pytest.mark.filterwarnings("error")


def assert_png(path: Path) -> None:
    assert path.is_file()
    with Image.open(path) as im:
        assert im.format == "PNG"
        assert im.size[0] > 0 and im.size[1] > 0
        im.verify()


def test_plot_curves(tmp_path):
    history = [{"epoch": e, "train_loss": 1.0 / e, "val_loss": 1.2 / e, "val_acc": 0.5 + 0.05 * e,
                "val_f1": np.float32(0.4 + 0.05 * e), "lr": 1e-3 * 0.5 ** e} for e in range(1, 6)]
    history[2]["val_loss"] = float("nan")  # skipped
    del history[3]["val_acc"]  # absent: skipped
    out = rp.plot_curves(history, tmp_path / "sub" / "curves.png")
    assert out == tmp_path / "sub" / "curves.png"
    assert_png(out)


def test_plot_curves_without_lr_or_metrics(tmp_path):
    assert_png(rp.plot_curves([{"epoch": 1, "train_loss": 0.9}, {"epoch": 2, "train_loss": 0.7}],
                              str(tmp_path / "c.png")))
    assert_png(rp.plot_curves([], tmp_path / "empty.png"))


@pytest.mark.parametrize("k", [2, 12])
@pytest.mark.parametrize("normalize", [True, False])
def test_plot_confusion(tmp_path, k, normalize):
    rng = np.random.default_rng(k)
    cm = rng.integers(0, 50, (k, k)) + np.eye(k, dtype=int) * 100
    cm[0] = 0  # a class with no samples must not divide by zero
    assert_png(rp.plot_confusion(cm, [f"class{i}" for i in range(k)], tmp_path / f"cm{k}{normalize}.png",
                                 normalize=normalize))


def test_plot_label_distribution(tmp_path):
    counts = {"train": {"0": 30, "1": 25, "10": 3}, "val": {"0": 5, "1": 6}, "test": {"1": 4, "2": 2}}
    assert_png(rp.plot_label_distribution(counts, tmp_path / "dist.png"))


def test_plot_prf_table(tmp_path):
    prf = {"precision": np.array([0.9, 0.75, np.nan]), "recall": np.array([0.8, 0.5, 0.0]),
           "f1": np.array([0.847, 0.6, 0.0]), "support": np.array([10, 4, 0])}
    assert_png(rp.plot_prf_table(prf, ["cat", "dog", "bird"], tmp_path / "prf.png"))


def test_image_grid_kinds(tmp_path):
    rng = np.random.default_rng(0)
    images = [rng.random((16, 16)),                                   # float gray in [0, 1]
              rng.integers(0, 256, (16, 16), dtype=np.uint8),         # uint8 gray
              rng.integers(0, 256, (16, 16, 3), dtype=np.uint8),      # uint8 RGB
              rng.random((16, 16, 3)).astype(np.float32),             # float RGB
              rng.random((16, 16, 1))]                                # HxWx1
    titles = [f"img {i}" for i in range(len(images))]
    out = rp.image_grid(images, titles, tmp_path / "grid.png", ncols=3,
                        colors=["green", "red", "green", "red", "green"])
    assert_png(out)


def test_image_grid_one_and_none(tmp_path):
    assert_png(rp.image_grid([np.zeros((8, 8))], ["only"], tmp_path / "one.png"))
    assert_png(rp.image_grid([], [], tmp_path / "none.png"))


def test_plot_roc_and_scores(tmp_path):
    fpr = np.array([0.0, 0.1, 0.3, 1.0])
    tpr = np.array([0.0, 0.6, 0.9, 1.0])
    assert_png(rp.plot_roc(fpr, tpr, tmp_path / "roc.png", eer=0.15))
    assert_png(rp.plot_roc(fpr, tpr, tmp_path / "roc_plain.png"))
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 200)
    scores = np.clip(rng.normal(0.3 + 0.4 * y, 0.15), 0, 1)
    assert_png(rp.plot_score_histogram(scores, y, tmp_path / "scores.png", threshold=0.5))
    assert_png(rp.plot_score_histogram(np.full(5, 0.5), np.zeros(5), tmp_path / "flat.png"))
    assert_png(rp.plot_score_histogram(np.array([]), np.array([]), tmp_path / "empty.png", threshold=0.5))


def test_html_table_escapes_and_formats():
    t = rp.html_table([{"name": "<b>x</b>", "acc": 0.123456789, "n": 3},
                       {"name": "y", "acc": np.float32(12345.678)}], columns=["name", "acc", "n"])
    assert "&lt;b&gt;x&lt;/b&gt;" in t and "<b>" not in t
    assert "0.1235" in t and "1.235e+04" in t
    assert "<th>name</th><th>acc</th><th>n</th>" in t
    assert t.count("<tr>") == 3
    assert "<td></td>" in t  # missing value in the second row
    assert rp.html_table([]).startswith("<table>")


def test_write_report(tmp_path):
    cm_png = rp.plot_confusion(np.array([[5, 1], [2, 7]]), ["closed", "open"], tmp_path / "cm.png")
    grid_png = rp.image_grid([np.zeros((8, 8))], ["x"], tmp_path / "grid.png")
    table = rp.html_table([{"k": "a", "v": 1.5}])
    sections = [("Overview", [{"accuracy": 0.91234567, "task": "eyes & co", "n": 12}, table]),
                ("<script>alert(1)</script>", [cm_png]),
                ("Samples", [grid_png])]
    out = rp.write_report(tmp_path / "deep" / "report.html", "Run <1>", sections)
    assert out == tmp_path / "deep" / "report.html"
    text = out.read_text(encoding="utf-8")
    assert text.count("data:image/png;base64,") == 2
    assert "<h2>Overview</h2>" in text and "<h2>Samples</h2>" in text
    assert "<script>" not in text and "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert "Run &lt;1&gt;" in text
    assert table in text  # HTML strings go in as-is
    assert "0.9123" in text and "eyes &amp; co" in text
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", text, re.I)
    assert "http://" not in text and "https://" not in text
    assert "<style>" in text


def test_write_report_missing_picture(tmp_path):
    out = rp.write_report(tmp_path / "r.html", "t", [("Pictures", [tmp_path / "gone.png"])])
    text = out.read_text(encoding="utf-8")
    assert "missing picture: gone.png" in text and "data:image" not in text
