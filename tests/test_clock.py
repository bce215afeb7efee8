"""The clock task: time parsing and readers, the synthetic generator, circular metrics, decoding,
and a tiny end-to-end run (train on fresh renders → predict → export) through the CLI."""
from __future__ import annotations

import csv
import json
import math

import cv2
import numpy as np
import pytest
import torch

from glancekit.cli import main
from glancekit.data.readers import read_dataset
from glancekit.data.synth import EpochSampler, SynthDataset, parse_spec, synth_samples
from glancekit.errors import GlanceError
from glancekit.metrics.clock import circular_error, clock_report
from glancekit.synth import clock as sc
from glancekit.tasks import get
from glancekit.tasks.clock import parse_time


def perfect_outputs(times: np.ndarray) -> np.ndarray:
    """Raw model outputs that say exactly these (hour, minute) times, the hands on their marks."""
    out = np.zeros((len(times), 76))
    for i, (h, m) in enumerate(times):
        out[i, h] = out[i, 12 + m] = 6.0
        a, b = (h + m / 60) * math.pi / 6, m * math.pi / 30
        out[i, 72:76] = [math.sin(a), math.cos(a), math.sin(b), math.cos(b)]
    return out


# ---------------------------------------------------------------------------------- parsing, readers

@pytest.mark.parametrize("text,expected", [("10-35", (10, 35)), ("10_35", (10, 35)), ("10:35", (10, 35)),
                                           ("12-00", (0, 0)), ("7h05_kitchen", (7, 5)), ("3-5", (3, 5)),
                                           ("13-00", None), ("10-60", None), ("clock", None), ("10-355", None)])
def test_parse_time(text, expected):
    assert parse_time(text) == expected


def test_readers_folder_names_csv_and_class_folders(tmp_path):
    task = get("clock")
    img = np.full((20, 30, 3), 200, np.uint8)
    flat = tmp_path / "flat"
    flat.mkdir()
    for name in ("10-35.jpg", "12_00.png", "3-07_office.png"):
        cv2.imwrite(str(flat / name), img)
    s = read_dataset(flat, task)
    assert s.meta["reader"] == "time-in-filename"
    assert sorted(s.targets) == [(0, 0), (3, 7), (10, 35)]

    folders = tmp_path / "time"  # the TIME data set's "h-m" class folders
    for name in ("1-05", "11-55"):
        (folders / name).mkdir(parents=True)
        cv2.imwrite(str(folders / name / "a.png"), img)
    assert sorted(read_dataset(folders, task).targets) == [(1, 5), (11, 55)]

    (tmp_path / "c").mkdir()
    cv2.imwrite(str(tmp_path / "c" / "x.png"), img)
    (tmp_path / "c" / "labels.csv").write_text("file,hour,minute\nx.png,12,59\n")
    assert read_dataset(tmp_path / "c", task).targets == [(0, 59)]
    (tmp_path / "c" / "labels.csv").write_text("file,hour,minute\nx.png,14,00\n")
    with pytest.raises(GlanceError, match="labels.csv:2: time 14:00"):
        read_dataset(tmp_path / "c", task)


def test_synth_spec_parsing():
    assert parse_spec("synth").split == "train" and parse_spec("synth").n is None
    assert (parse_spec("synth:test:20").split, parse_spec("synth:test:20").n) == ("test", 20)
    assert parse_spec("data/synth") is None
    for bad in ("synth:nope", "synth:val:x", "synth:val:0"):
        with pytest.raises(GlanceError):
            parse_spec(bad)
    with pytest.raises(GlanceError, match="no synthetic data generator"):
        synth_samples(get("digits"), "train", 2)


# -------------------------------------------------------------------------------------- the generator

def test_held_out_families_are_disjoint_but_cover_every_part():
    assert set(sc.TRAIN_FAMILIES).isdisjoint(sc.TEST_FAMILIES)
    assert len(sc.TRAIN_FAMILIES) + len(sc.TEST_FAMILIES) == len(sc.FAMILIES) == 60
    for i, values in enumerate((sc.DIALS, sc.NUMERALS, sc.HANDS)):
        assert {f[i] for f in sc.TRAIN_FAMILIES} == set(values)  # every part is seen in training


def test_render_is_seeded_and_labelled():
    a = sc.render_clock(np.random.default_rng(3), 96)
    b = sc.render_clock(np.random.default_rng(3), 96)
    assert a.image.shape == (96, 96, 3) and a.image.dtype == np.uint8
    assert np.array_equal(a.image, b.image) and (a.hour, a.minute) == (b.hour, b.minute)
    assert a.family in sc.TRAIN_FAMILIES
    t = sc.render_clock(np.random.default_rng(3), 96, families=sc.TEST_FAMILIES)
    assert t.family in sc.TEST_FAMILIES


@pytest.mark.parametrize("hour,minute", [(3, 0), (9, 30), (0, 45), (7, 20)])
def test_face_draws_the_hands_where_the_label_says(hour, minute):
    """On an upright face, the minute hand's ink lies along the minute angle, not opposite it."""
    rng = np.random.default_rng(hour * 60 + minute)
    size = 200
    face, mask, _, _ = sc._face(rng, size, hour, minute, 0.0, ("round", "bare", "baton"))
    face2, _, _, _ = sc._face(np.random.default_rng(hour * 60 + minute), size, (hour + 6) % 12, (minute + 30) % 60, 0.0,
                        ("round", "bare", "baton"))
    diff = np.abs(face.astype(int) - face2.astype(int)).sum(2)  # only the hands differ between the two

    def ink_at(angle_deg: float, frac: float) -> int:
        a = math.radians(angle_deg)
        r = size * 0.48 * frac
        x, y = int(size / 2 + r * math.sin(a)), int(size / 2 - r * math.cos(a))
        return int(diff[y - 1:y + 2, x - 1:x + 2].max())

    m_angle = minute * 6
    h_angle = (hour + minute / 60) * 30
    assert ink_at(m_angle, 0.55) > 0, "no minute hand along the minute angle"
    assert ink_at(h_angle, 0.3) > 0, "no hour hand along the hour angle"
    # The minute hand reaches further than the hour hand does.
    if abs(((m_angle - h_angle + 180) % 360) - 180) > 40:
        assert ink_at(h_angle, 0.8) == 0


def test_synth_dataset_renders_new_images_every_epoch():
    task = get("clock")
    ds, sampler = SynthDataset(task, seed=0, epoch_size=4), EpochSampler(4)
    first = [ds[i][1].tolist() for i in sampler]
    x0 = ds[0][0]
    sampler.set_epoch(1)
    second = [ds[i][1].tolist() for i in sampler]
    assert list(sampler) == [4, 5, 6, 7] and first != second
    assert x0.shape == (3, *task.input_size) and x0.dtype == torch.float32
    assert torch.equal(ds[0][0], x0)  # same index, same image


def test_preprocess_pads_to_square_and_keeps_angles():
    task = get("clock")
    wide = np.zeros((50, 100, 3), np.uint8)
    cv2.line(wide, (50, 25), (50, 5), (255, 255, 255), 3)  # a hand pointing at 12
    x = task.preprocess(wide)
    n = task.input_size[0]
    assert x.shape == (3, n, n) and x.min() >= -1 and x.max() <= 1
    col = x[0, :, n // 2]  # the 100x100 square has the hand in rows 30-50: its centre column, there
    assert col[int(n * 0.32):int(n * 0.48)].min() > 0.5  # still vertical above the centre: no squashing
    assert col[:int(n * 0.25)].max() < 0 and col[int(n * 0.55):].max() < 0  # padded, not stretched to 0.1-0.5
    assert task.preprocess(np.zeros((30, 30), np.uint8)).shape == (3, n, n)  # gray works too


# --------------------------------------------------------------------------------- metrics, decoding

def test_circular_error_and_report_by_hand():
    assert circular_error(np.array([0]), np.array([719]))[0] == 1  # 12:00 vs 11:59
    assert circular_error(np.array([30]), np.array([690]))[0] == 60
    true = np.array([[10, 35], [0, 0], [3, 10], [6, 40], [11, 59]])
    pred = np.array([[10, 35], [11, 59], [3, 12], [9, 40], [5, 0]])
    r = clock_report(pred, true)
    assert r["exact"] == pytest.approx(1 / 5)
    assert r["within1"] == pytest.approx(2 / 5)   # 10:35 exact, 11:59 vs 12:00 one minute
    assert r["within5"] == pytest.approx(3 / 5)   # + 3:12 vs 3:10
    assert r["hour_accuracy"] == pytest.approx(2 / 5)
    assert r["minute_accuracy"] == pytest.approx(2 / 5)  # 10:35 and 6:40
    # partial credit: 1 (10:35) + 0 (11:59 vs 12:00: hour wrong, minute 60→0 vs 0 right → 0.5)
    #   + 1 (3:12 rounds to 3:10) + 0.5 (minute right) + 0 (5:00 vs 11:59: minute 0 vs 60≡0 → 0.5)
    assert r["partial_credit"] == pytest.approx((1 + 0.5 + 1 + 0.5 + 0.5) / 5 * 100)
    errs = circular_error(pred[:, 0] * 60 + pred[:, 1], true[:, 0] * 60 + true[:, 1])
    assert r["mae_minutes"] == pytest.approx(errs.mean())


def test_decode_is_exact_and_keeps_hour_consistent_with_minute():
    task = get("clock")
    rng = np.random.default_rng(0)
    times = np.stack([rng.integers(0, 12, 300), rng.integers(0, 60, 300)], 1)
    out = perfect_outputs(times)
    assert task.evaluate(out, times)["exact"] == 1.0
    # 2:58: the hour hand sits almost on 3. Hour logits undecided between 2 and 3 → the hand angle,
    # read at minute 58, must pick 2 (reading 3:58 would be an hour off).
    out = perfect_outputs(np.array([[2, 58]]))
    out[0, :12] = 0
    out[0, 2] = out[0, 3] = 3.0
    pred = task.decode(out, {})[0]
    assert (pred.label, pred.hour, pred.minute) == ("2:58", 2, 58)
    assert 0 < pred.confidence <= 1
    assert task.decode(perfect_outputs(np.array([[0, 5]])), {})[0].label == "12:05"


def test_joint_decode_lets_the_hour_hand_move_the_minute_across_the_hour():
    task = get("clock")
    # Minute logits undecided between :59 and :00, hour logits undecided between 7 and 8: only the hour
    # hand's angle tells 7:59 from 8:00 (and 7:00 or 8:59, an hour off, must never win).
    for true in ([7, 59], [8, 0]):
        out = perfect_outputs(np.array([true]))
        out[0, :72] = 0
        out[0, [7, 8]] = 3.0
        out[0, [12 + 59, 12 + 0]] = 3.0
        (h, m), = task.decode_times(out)[0]
        assert [h, m] == true


def test_calibrated_temperature_makes_confidence_match_accuracy():
    task = get("clock")
    rng = np.random.default_rng(1)
    times = np.stack([rng.integers(0, 12, 400), rng.integers(0, 60, 400)], 1)
    out = perfect_outputs(times) * 0.5  # right every time, but with soft logits: unsure-looking
    wrong = rng.random(400) < 0.1       # and 10% read 3 hours off, as sure-looking as the rest
    out[wrong] = perfect_outputs((times[wrong] + [3, 0]) % [12, 60]) * 0.5
    before = task.evaluate(out, times)
    cal = task.calibrate(out, times)
    after = task.evaluate(out, times, cal)
    assert cal["temperature"] < 1 and "calibration error" in cal["temperature_rule"]
    assert after["within1"] == before["within1"] == pytest.approx(0.9, abs=0.03)  # readings unchanged
    assert after["confidence_ece"] < before["confidence_ece"] / 3
    conf = [p.confidence for p in task.decode(out[:5], cal)]
    assert conf != [p.confidence for p in task.decode(out[:5], {})]  # decode uses the shipped temperature
    assert all(0 < c <= 1 for c in conf)


def test_loss_prefers_near_misses():
    task = get("clock")
    y = torch.tensor([[0, 0]])
    near = torch.tensor(perfect_outputs(np.array([[11, 59]])), dtype=torch.float32)
    far = torch.tensor(perfect_outputs(np.array([[6, 30]])), dtype=torch.float32)
    assert task.loss(near, y) < task.loss(far, y)


# ------------------------------------------------------------------------------------- end to end

def test_synth_cli_train_predict_export(tmp_path, capsys):
    out = tmp_path / "syn"
    assert main(["synth", "clock", "--out", str(out), "--n", "6", "--seed", "1", "--split", "test"]) == 0
    s = read_dataset(out, get("clock"))
    assert len(s) == 6 and all(t == r for t, r in zip(s.targets, synth_samples(get("clock"), "test", 6, 1).targets))
    assert main(["synth", "clock", "--out", str(out), "--n", "2"]) == 2  # never overwrite a data set
    assert "already exists" in capsys.readouterr().err

    project = tmp_path / "runs"
    assert main(["train", "clock", "--data", "synth", "--epochs", "1", "--epoch-size", "64", "--val-size", "32",
                 "--batch", "32", "--project", str(project), "--name", "t"]) == 0
    run = project / "clock" / "t"
    info = json.loads((run / "run.json").read_text())
    assert info["status"] == "done" and info["split"]["synthetic"] and info["split"]["epoch_size"] == 64
    assert (run / "report.html").is_file() and (run / "tolerance.png").is_file()
    assert "val_within1" in (run / "metrics.csv").read_text()

    weights = run / "weights" / "best.pt"
    assert main(["predict", "clock", str(out / "images"), "--crop", "--weights", str(weights), "--out",
                 str(tmp_path / "p.csv")]) == 0
    rows = (tmp_path / "p.csv").read_text().splitlines()
    assert rows[0].split(",")[:2] == ["path", "prediction"] and len(rows) == 7
    assert all(parse_time(r.split(",")[1]) is not None for r in rows[1:])
    assert main(["export", "clock", "--weights", str(weights)]) == 0
    assert weights.with_suffix(".onnx").is_file()

    # Both weights files carry a temperature fitted on validation; `val --calibrate` refits one on other
    # data into a new file, and will not overwrite a file or fit on the benchmark's test renders.
    from glancekit.engine.checkpoint import load_checkpoint
    for f in ("best.pt", "last.pt"):
        assert 0.2 <= load_checkpoint(run / "weights" / f)["meta"]["temperature"] <= 2.0
    assert "temperature" in json.loads((run / "calibration.json").read_text())
    cal = tmp_path / "cal.pt"
    capsys.readouterr()
    assert main(["val", "clock", "--data", "synth:val:24", "--weights", str(weights), "--calibrate", str(cal),
                 "--project", str(project)]) == 0
    assert f"wrote {cal}: temperature" in capsys.readouterr().out
    meta = load_checkpoint(cal)["meta"]
    assert meta["calibrated_on"]["images"] == 24 and "validation images" in meta["temperature_rule"]
    before = weights.read_bytes()
    for args, says in (([str(cal)], "already exists"), ([str(tmp_path / "c2.pt"), "--data", "synth:test:8"], "test part")):
        assert main(["val", "clock", "--data", "synth:val:8", "--weights", str(weights), "--calibrate", *args,
                     "--project", str(project)]) == 2
        assert says in capsys.readouterr().err
    assert weights.read_bytes() == before and not (tmp_path / "c2.pt").exists()


def test_grid_pool_matches_adaptive_pool():
    from glancekit.models.cnn import GridPool
    for shape, g in (((2, 3, 7, 7), 4), ((1, 2, 8, 5), 3), ((1, 1, 6, 6), 2)):
        x = torch.randn(shape)
        assert torch.allclose(GridPool(g)(x), torch.nn.AdaptiveAvgPool2d(g)(x), atol=1e-6)


def test_round_dials_without_an_up_mark_stay_upright(monkeypatch):
    """A round ticks-only face turned 25° reads like one turned -5°: unless numerals or a logo show
    which way is up, the renderer must not turn it past what a photo's own orientation tells."""
    seen: list[tuple[bool, float]] = []
    face, tilt = sc._face, sc._tilt_homography
    last: dict[str, bool] = {}

    def spy_face(*a, **k):
        out = face(*a, **k)
        last["up"] = out[2]
        return out

    def spy_tilt(rng, size, max_tilt, max_rot, scale, center):
        seen.append((last["up"], max_rot))
        return tilt(rng, size, max_tilt, max_rot, scale, center)

    monkeypatch.setattr(sc, "_face", spy_face)
    monkeypatch.setattr(sc, "_tilt_homography", spy_tilt)
    for seed in range(40):
        sc.render_clock(np.random.default_rng(seed), 64, family=("round", "ticks", "baton"))
        sc.render_clock(np.random.default_rng(seed), 64, family=("round", "roman", "baton"))
        sc.render_clock(np.random.default_rng(seed), 64, family=("octagon", "ticks", "baton"))
    ticks_round, roman_round, ticks_octagon = seen[0::3], seen[1::3], seen[2::3]
    assert {up for up, _ in ticks_round} == {True, False}  # with and without a logo
    assert all(rot <= 8 for up, rot in ticks_round if not up)
    assert all(up and rot == 25 for up, rot in roman_round + ticks_octagon)


def test_training_renders_alone_take_the_training_turn(monkeypatch):
    """`TRAIN_MAX_TURN` reaches training renders only: validation and the benchmark keep MAX_TURN (25°),
    and dials that do not show "up" stay upright whatever the range."""
    from glancekit.tasks import clock as clock_task
    monkeypatch.setattr(clock_task, "TRAIN_MAX_TURN", 35.0)
    task = get("clock")
    turns: dict[str, set[float]] = {}
    tilt = sc._tilt_homography

    def spy_tilt(rng, size, max_tilt, max_rot, scale, center):
        turns.setdefault(split, set()).add(max_rot)
        return tilt(rng, size, max_tilt, max_rot, scale, center)

    monkeypatch.setattr(sc, "_tilt_homography", spy_tilt)
    for split in ("train", "val", "test"):
        for seed in range(40):
            task.synthesize(np.random.default_rng(seed), split, [])
    assert 35.0 in turns["train"] and turns["train"] <= {35.0, sc.MAX_TURN, sc.UPRIGHT_TURN}
    assert turns["val"] == turns["test"] == {sc.MAX_TURN, sc.UPRIGHT_TURN}
    # A round ticks-only face whose only "up" sign is a logo keeps MAX_TURN: further, its ticks (every
    # 30°) would make a 35° turn look like 5°. Numerals or a polygon outline take the wider range.
    turns.clear()
    split = "round"
    for seed in range(40):
        sc.render_clock(np.random.default_rng(seed), 64, family=("round", "ticks", "baton"), max_turn=35.0)
    split = "numerals or outline"
    for seed in range(20):
        sc.render_clock(np.random.default_rng(seed), 64, family=("round", "roman", "baton"), max_turn=35.0)
        sc.render_clock(np.random.default_rng(seed), 64, family=("octagon", "ticks", "arrow"), max_turn=35.0)
    assert turns["round"] == {sc.MAX_TURN, sc.UPRIGHT_TURN}  # with a logo, and without
    assert turns["numerals or outline"] == {35.0}


def test_occluders_leave_both_hands_readable():
    """An occluder may hide at most a third of a hand and never its tip (a clock whose minute hand is
    hidden has a label no one could read); the renderer places it again until it does."""
    spine = np.stack([np.linspace(10, 50, sc.SPINE_POINTS), np.full(sc.SPINE_POINTS, 20.0)], 1)
    hands = np.stack([spine, np.tile([30.0, 40.0], (sc.SPINE_POINTS, 1))])  # the other hand: short, out of the way
    blob = np.zeros((64, 64), bool)
    assert sc.hands_readable(blob, hands)
    blob[15:26, 8:20] = True  # the first fifth of the hand, at the pivot
    assert sc.hands_readable(blob, hands)
    blob[:] = False
    blob[15:26, 46:56] = True  # only the tip
    assert not sc.hands_readable(blob, hands)
    blob[:] = False
    blob[15:26, 8:34] = True  # more than a third
    assert not sc.hands_readable(blob, hands)
    seen = {}
    for seed in range(300):
        s = sc.render_clock(np.random.default_rng(seed), 96, family=("round", "ticks", "baton"))
        seen[s.occluder] = seen.get(s.occluder, 0) + 1
    assert seen.get("kept", 0) > 40 and seen.get("moved", 0) >= 1 and seen["none"] > 150, seen


# ------------------------------------------------------------------------------------- the mirror view

@pytest.mark.parametrize("hour,minute,second", [(2, 10, 29.0), (9, 41, 1.0), (0, 0, -29.0), (5, 33, -12.0),
                                                (3, 0, 10.0), (11, 59, 25.0)])
def test_a_mirrored_face_shows_the_mirror_time(hour, minute, second):
    """Mirror the hands a face draws: they read the time `mirror_time` gives, as people read it (the minute
    mark nearest the minute hand, which sits `second` seconds from its own mark), and the hour hand stands
    where that time puts it."""
    from glancekit.tasks.clock import mirror_time
    _, _, _, spines = sc._face(np.random.default_rng(1), 200, hour, minute, second, ("round", "bare", "baton"))

    def reads(spine: np.ndarray, per_turn: int) -> float:  # clockwise from 12 o'clock, mirrored in x
        dx, dy = spine[-1] - spine[0]
        return (math.degrees(math.atan2(-dx, -dy)) % 360) / 360 * per_turn

    h, m = mirror_time(hour, minute)
    assert round(reads(spines[1], 60)) % 60 == m
    off = (reads(spines[0], 12) - (h + m / 60) + 6) % 12 - 6  # hours, signed, across 12 o'clock
    assert abs(off) < 0.5 / 60 + 1e-3
    assert mirror_time(*mirror_time(hour, minute)) == (hour, minute)


def test_clock_mirror_maps_outputs_to_the_mirror_time_and_back():
    from glancekit.tasks.clock import ClockMirror, mirror_time
    task = get("clock")
    rng = np.random.default_rng(3)
    times = np.stack([rng.integers(0, 12, 200), rng.integers(0, 60, 200)], 1)
    mirror = ClockMirror()
    out = torch.tensor(perfect_outputs(times))
    pred = task.decode_times(mirror(out).numpy())[0]
    expected = np.stack(mirror_time(times[:, 0], times[:, 1]), 1)
    exact = times[:, 1] != 0
    assert (pred[exact] == expected[exact]).all()
    assert torch.equal(mirror(mirror(out)), out)
    # On the hour the re-indexed hour logits point one low (logits cannot follow the minute); averaged with
    # the direct view, as FlipAverage does, the hour hand's angle sets the hour right.
    times[:5, 1] = 0
    expected = np.stack(mirror_time(times[:, 0], times[:, 1]), 1)
    both = (torch.tensor(perfect_outputs(times)) + mirror(torch.tensor(perfect_outputs(expected)))) / 2
    assert (task.decode_times(both.numpy())[0] == times).all()


def test_flip_averaged_clock_reads_a_mirror_as_the_mirror_time(tmp_path):
    """The averaged model's answer for a mirrored photo is its answer for the photo, mirrored; the
    bare net's is not. It saves and exports as one graph like the other mirror-averaged tasks."""
    from glancekit.engine.checkpoint import build_from_checkpoint, load_checkpoint, save_checkpoint
    from glancekit.tasks.clock import ClockMirror
    task = get("clock")
    torch.manual_seed(0)
    kwargs = {"widths": [8, 16], "depths": [1, 1], "stem": 8, "hidden": 16, "flip_average": True}
    model = task.build_model(**kwargs).eval()
    x = torch.randn(3, 3, 144, 144)
    with torch.no_grad():
        assert torch.allclose(ClockMirror()(model(x.flip(-1))), model(x), atol=1e-5)
        assert not torch.allclose(ClockMirror()(model.net(x.flip(-1))), model.net(x), atol=1e-5)
    save_checkpoint(tmp_path / "w.pt", task, model, kwargs, {})
    _, again = build_from_checkpoint(load_checkpoint(tmp_path / "w.pt"))
    with torch.no_grad():
        assert torch.allclose(again.eval()(x), model(x))
    # glance flip --remove gives the bare net back (one view, half the work), and adds it again.
    from glancekit.cli import main
    assert main(["flip", "clock", "--weights", str(tmp_path / "w.pt"), "--out", str(tmp_path / "bare.pt"),
                 "--remove"]) == 0
    bare = load_checkpoint(tmp_path / "bare.pt")
    assert not bare["model_kwargs"].get("flip_average")
    _, net = build_from_checkpoint(bare)
    with torch.no_grad():
        assert torch.allclose(net.eval()(x), model.net(x))
    assert main(["flip", "clock", "--weights", str(tmp_path / "bare.pt"), "--out", str(tmp_path / "f.pt")]) == 0
    flipped = load_checkpoint(tmp_path / "f.pt")
    assert flipped["model_kwargs"]["flip_average"]
    assert flipped["meta"]["flip_average_added"]["from"] == str(tmp_path / "bare.pt")
    _, back = build_from_checkpoint(flipped)
    with torch.no_grad():
        assert torch.allclose(back(x), model(x), atol=1e-5)


def test_augment_mirrors_images_with_their_mirror_times():
    from glancekit.tasks.clock import mirror_time
    task = get("clock")
    torch.manual_seed(0)
    x = torch.randn(64, 3, 8, 8)
    y = torch.stack([torch.randint(0, 12, (64,)), torch.randint(0, 60, (64,))], 1)
    xa, ya = task.augment(x.clone(), y.clone())
    flipped = torch.tensor([torch.equal(xa[i], x[i].flip(-1)) for i in range(64)])
    kept = torch.tensor([torch.equal(xa[i], x[i]) for i in range(64)])
    assert (flipped ^ kept).all() and 10 < int(flipped.sum()) < 54
    h, m = mirror_time(y[:, 0], y[:, 1])
    assert torch.equal(ya[flipped], torch.stack([h, m], 1)[flipped]) and torch.equal(ya[kept], y[kept])


def test_distill_loss_is_least_where_the_student_gives_the_teachers_answer():
    """Matching a teacher: the loss is lowest, with no gradient, at the teacher's own outputs (its hour
    and minute distributions and its hand angles), and grows as the student moves away from them."""
    task = get("clock")
    teacher = torch.randn(6, 76) * 2
    at = teacher.clone().requires_grad_(True)
    loss = task.distill_loss(at, teacher, torch.zeros(6, 2, dtype=torch.long))
    loss.backward()
    assert at.grad.abs().max() < 1e-6
    for scale in (0.1, 0.5, 2.0):
        moved = teacher + scale * torch.randn(6, 76)
        assert task.distill_loss(moved, teacher, torch.zeros(6, 2, dtype=torch.long)) > loss


# ------------------------------------------------------------------------------------- labelling clocks

def test_label_clock_proposes_readings_and_a_person_types_or_sets_times(tmp_path, capsys):
    """`glance label clock --pool DIR` proposes the shipped pipeline's reading of each photo (least confident
    first); `glance review` takes typed times and refuses what is not a time; the web Label page takes a
    time too. Every decision is in the labels file at once, and it reads back as clock data."""
    import cv2
    from fastapi.testclient import TestClient

    from glancekit.label.review import review
    from glancekit.serve.app import ServeConfig, create_app
    pool = tmp_path / "pool"
    pool.mkdir()
    for i, (h, m) in enumerate([(3, 40), (8, 5), (11, 20)]):
        s = sc.render_clock(np.random.default_rng(i), 200, hour=h, minute=m, family=sc.TRAIN_FAMILIES[0])
        room = np.full((360, 480, 3), 140, np.uint8)
        room[80:280, 140:340] = np.where(s.mask[..., None], s.image, room[80:280, 140:340])
        cv2.imwrite(str(pool / f"c{i}.jpg"), room[..., ::-1])
    assert main(["label", "clock", "--pool", str(pool)]) == 0
    assert "3 proposed" in capsys.readouterr().out
    rows = list(csv.DictReader(open(pool / "labels.csv")))
    assert len(rows) == 3 and all(parse_time(r["label"]) for r in rows)
    assert [int(r["review_rank"]) for r in sorted(rows, key=lambda r: float(r["confidence"]))] == [0, 1, 2]

    said: list[str] = []
    answers = iter(["25:99", "7:05", "s", "q"])
    assert review(get("clock"), pool / "labels.csv", pool, ask=lambda _: next(answers), show=said.append) == 1
    assert any("is not a time" in line for line in said)
    first = min(rows, key=lambda r: float(r["confidence"]))["file"]
    saved = {r["file"]: r for r in csv.DictReader(open(pool / "labels.csv"))}
    assert (saved[first]["label"], saved[first]["source"]) == ("7:05", "human")

    cfg = ServeConfig(label_task="clock", label_pool=str(pool))
    client = TestClient(create_app(cfg))
    state = client.get("/api/label/state").json()
    assert state["entry"] == "time" and state["keys"] == {}
    nxt = state["current"]["file"]
    assert client.post("/api/label/decide", json={"file": nxt, "label": "12:00"}).status_code == 200
    r = client.post("/api/label/decide", json={"file": client.get("/api/label/state").json()["current"]["file"],
                                                "label": "noon"})
    assert r.status_code == 400 and "h:mm" in r.json()["detail"]
    saved = {r["file"]: r for r in csv.DictReader(open(pool / "labels.csv"))}
    assert (saved[nxt]["label"], saved[nxt]["source"]) == ("12:00", "human")
    data = read_dataset(pool / "labels.csv", get("clock"))
    assert len(data) == 3 and (7, 5) in [tuple(t) for t in data.targets] and (0, 0) in [tuple(t) for t in data.targets]
