"""Fixtures the tests make themselves: tiny digit image sets and one tiny trained run, shared by the
export / val / bench / predict tests so the suite trains only once."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def render_digit(d: int, rng: np.random.Generator, size: int = 40, dark_on_light: bool = True) -> np.ndarray:
    """A digit in a Hershey font with random font, thickness, shift and rotation."""
    bg, ink = (230, 20) if dark_on_light else (0, 255)
    img = np.full((size, size), bg, np.uint8)
    font = [cv2.FONT_HERSHEY_SIMPLEX, cv2.FONT_HERSHEY_DUPLEX, cv2.FONT_HERSHEY_SCRIPT_SIMPLEX][int(rng.integers(3))]
    thick = int(rng.integers(2, 4))
    (tw, th), _ = cv2.getTextSize(str(d), font, 1.0, thick)
    org = ((size - tw) // 2 + int(rng.integers(-3, 4)), (size + th) // 2 + int(rng.integers(-3, 4)))
    cv2.putText(img, str(d), org, font, 1.0, ink, thick, cv2.LINE_AA)
    m = cv2.getRotationMatrix2D((size / 2, size / 2), float(rng.uniform(-10, 10)), 1.0)
    return cv2.warpAffine(img, m, (size, size), borderValue=bg)


@pytest.fixture(scope="session")
def digit_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One sub-folder per digit, 24 images each (240 images)."""
    root = tmp_path_factory.mktemp("digits_folders")
    rng = np.random.default_rng(0)
    for d in range(10):
        (root / str(d)).mkdir()
        for i in range(24):
            cv2.imwrite(str(root / str(d) / f"{i:03d}.png"), render_digit(d, rng))
    return root


@pytest.fixture(scope="session")
def tiny_run(digit_folder: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A digits run trained for a few epochs on the tiny folder set (a few seconds on 2 cores)."""
    from glancekit.config import TrainConfig
    from glancekit.engine.train import train
    project = tmp_path_factory.mktemp("runs")
    cfg = TrainConfig.resolve({"epochs": 10, "batch": 32, "lr": 5e-3, "model": {"widths": [8, 16, 32]}}, None,
                              {"data": str(digit_folder), "project": str(project), "name": "tiny", "tags": ["test_run"]})
    return train("digits", cfg)


@pytest.fixture(scope="session")
def tiny_hands(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A hands detector run trained for one short epoch on renders (its boxes are poor; its files are real)."""
    from glancekit.cli import main
    project = tmp_path_factory.mktemp("hruns")
    assert main(["train", "hands", "--data", "synth", "--epochs", "1", "--epoch-size", "48", "--val-size", "16",
                 "--batch", "16", "--project", str(project), "--name", "t"]) == 0
    return project / "hands" / "t"
