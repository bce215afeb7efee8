"""Readers, image loading and splits: real layouts written by the tests, and every bad-input path."""
import gzip
import struct
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from glancekit.data.images import list_images, load_image
from glancekit.data.readers import read_dataset, read_idx, split_indices
from glancekit.errors import GlanceError
from glancekit.tasks import get

from .conftest import SHARED


def write_idx(folder: Path, images: np.ndarray, labels: np.ndarray, gz: bool = True) -> None:
    op = gzip.open if gz else open
    ext = ".gz" if gz else ""
    with op(folder / f"images-idx3-ubyte{ext}", "wb") as f:
        f.write(struct.pack(">HBB", 0, 0x08, 3) + struct.pack(">III", *images.shape) + images.tobytes())
    with op(folder / f"labels-idx1-ubyte{ext}", "wb") as f:
        f.write(struct.pack(">HBB", 0, 0x08, 1) + struct.pack(">I", len(labels)) + labels.tobytes())


@pytest.mark.parametrize("gz", [True, False])
def test_idx_roundtrip(tmp_path, gz):
    imgs = np.random.default_rng(0).integers(0, 256, (5, 28, 28), dtype=np.uint8)
    labs = np.array([3, 1, 4, 1, 5], np.uint8)
    write_idx(tmp_path, imgs, labs, gz)
    s = read_dataset(tmp_path, get("digits"))
    assert len(s) == 5 and s.targets == [3, 1, 4, 1, 5]
    assert np.array_equal(s.items[2], imgs[2])


def test_idx_truncated_is_a_clear_error(tmp_path):
    write_idx(tmp_path, np.zeros((5, 28, 28), np.uint8), np.zeros(5, np.uint8), gz=False)
    p = tmp_path / "images-idx3-ubyte"
    p.write_bytes(p.read_bytes()[:500])
    with pytest.raises(GlanceError, match="truncated"):
        read_idx(p)


def test_csv_reader_resolves_images_folder_and_skips_unlabelled(tmp_path):
    (tmp_path / "images").mkdir()
    for n in ("a.png", "b.png", "c.png"):
        Image.new("L", (10, 10), 200).save(tmp_path / "images" / n)
    (tmp_path / "labels.csv").write_text("file,label\na.png,7\nb.png,\nc.png,2\n")
    s = read_dataset(tmp_path, get("digits"))
    assert s.targets == [7, 2] and s.ids == ["a.png", "c.png"]


def test_csv_unknown_label_names_the_line(tmp_path):
    Image.new("L", (10, 10)).save(tmp_path / "a.png")
    (tmp_path / "l.csv").write_text("file,label\na.png,seven\n")
    with pytest.raises(GlanceError, match=r"l.csv:2: unknown label 'seven'"):
        read_dataset(tmp_path / "l.csv", get("digits"))


def test_class_folders_and_bad_folder_name(tmp_path):
    for lab in ("3", "8"):
        (tmp_path / lab).mkdir()
        Image.new("L", (10, 10)).save(tmp_path / lab / "x.png")
    assert sorted(read_dataset(tmp_path, get("digits")).targets) == [3, 8]
    (tmp_path / "cat").mkdir()
    Image.new("L", (10, 10)).save(tmp_path / "cat" / "x.png")
    with pytest.raises(GlanceError, match="unknown label 'cat'"):
        read_dataset(tmp_path, get("digits"))


def test_missing_and_empty_data(tmp_path):
    with pytest.raises(GlanceError, match="no such data"):
        read_dataset(tmp_path / "nope", get("digits"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(GlanceError, match="empty"):
        read_dataset(tmp_path / "empty", get("digits"))


def test_load_image_inputs_and_errors(tmp_path):
    rgb = np.zeros((6, 5, 3), np.uint8)
    assert load_image(rgb).shape == (6, 5, 3)
    assert load_image(np.ones((6, 5, 1), np.float32)).dtype == np.uint8
    assert load_image(Image.new("RGBA", (4, 3))).shape == (3, 4, 3)
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"this is not a png")
    with pytest.raises(GlanceError, match="corrupt"):
        load_image(bad)
    with pytest.raises(GlanceError, match="no such file"):
        load_image(tmp_path / "missing.png")
    with pytest.raises(GlanceError, match="wrong image shape"):
        load_image(np.zeros((2, 3, 4, 5)))
    with pytest.raises(GlanceError, match="cannot use"):
        load_image(42)


def test_list_images_recurses_and_rejects_empty(tmp_path):
    (tmp_path / "a" / "b").mkdir(parents=True)
    Image.new("L", (4, 4)).save(tmp_path / "a" / "b" / "x.png")
    (tmp_path / "a" / "notes.txt").write_text("hi")
    assert list_images([tmp_path]) == [tmp_path / "a" / "b" / "x.png"]
    (tmp_path / "empty").mkdir()
    with pytest.raises(GlanceError, match="no images"):
        list_images([tmp_path / "empty"])


def test_split_is_seeded_stratified_and_disjoint():
    targets = [i % 4 for i in range(400)]
    a = split_indices(targets, 0.1, 0.2, seed=3, strata=targets)
    b = split_indices(targets, 0.1, 0.2, seed=3, strata=targets)
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert len(a["test"]) == 80 and len(a["val"]) == 40 and len(a["train"]) == 280
    assert set(a["test"]).isdisjoint(a["train"]) and set(a["val"]).isdisjoint(a["train"])
    assert np.bincount(np.array(targets)[a["test"]]).tolist() == [20, 20, 20, 20]
    assert not np.array_equal(split_indices(targets, 0.1, 0.2, seed=4, strata=targets)["test"], a["test"])


@pytest.mark.skipif(not (SHARED / "mnist").is_dir(), reason="shared MNIST data not present")
def test_shared_mnist_reads():
    s = read_dataset(SHARED / "mnist", get("digits"))
    assert len(s) == 8000 and set(s.targets) == set(range(10))
