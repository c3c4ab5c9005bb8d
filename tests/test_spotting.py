"""The spotting task: the streamed, cached motion view; the flow-peak spotter; LOSO runs scored by
MEGC's rules; MEGC submission files written and scored."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from _cli import cli
from _long_videos import SMALL, copy_tree, small_trees

from mer_bench.core.errors import DataError
from mer_bench.data.longvideo import load_long_videos
from mer_bench.data.longvideo.model import Expression, LongVideo
from mer_bench.data.longvideo.motion import (
    REGIONS,
    RegionMotionConfig,
    VideoMotion,
    video_motion,
)
from mer_bench.data.longvideo.synth import LongSynthConfig, plan
from mer_bench.results.spotting_metrics import (
    Interval,
    match_intervals,
    spotting_report,
)
from mer_bench.run.spotting.protocol import SPOTTING_PROTOCOLS
from mer_bench.run.spotting.runner import (
    megc_submission,
    read_submission,
    run_spotting,
    save_run,
)
from mer_bench.run.spotting.spotter import SPOTTERS

CAS_ONLY = LongSynthConfig(**{**SMALL.__dict__, "datasets": ("casme2-lv",)})


@pytest.fixture(scope="module")
def cas(tmp_path_factory):
    return small_trees(tmp_path_factory.mktemp("spot"), CAS_ONLY)["casme2-lv"]


def test_registries_list_the_builtins():
    assert "flow-peak" in SPOTTERS.names()
    assert {"casme2-lv-spotting", "samm-lv-spotting", "megc-spotting"} <= set(
        SPOTTING_PROTOCOLS.names()
    )
    assert SPOTTING_PROTOCOLS.get("megc-spotting").datasets == ("casme2-lv", "samm-lv")


def test_motion_view_peaks_on_planted_expressions_and_is_cached(cas, tmp_path, monkeypatch):
    found = load_long_videos("casme2-lv", cas)
    video = found.videos["15_0101"]
    config = RegionMotionConfig()
    motion = video_motion(video, config, tmp_path)
    assert motion.values.shape == (360, len(REGIONS)) and motion.values.dtype == np.float32
    assert (motion.values[: config.gap(30)] == 0).all()  # no flow before frame 1 + k
    # Mouth and brow motion inside the strongest planted expression exceeds the quiet median.
    signal = motion.values[:, [0, 1, 4, 5]].mean(1)
    planted = plan(CAS_ONLY)[0].expressions
    inside = max(signal[e.onset - 1 : e.offset].max() for e in planted)
    assert inside > 4 * np.median(signal)
    # Computed once: a second call reads the cache, even with the computation broken.
    import mer_bench.data.longvideo.motion as motion_module

    monkeypatch.setattr(motion_module, "compute_motion", lambda *a: pytest.fail("recomputed"))
    again = video_motion(video, config, tmp_path)
    assert np.array_equal(again.values, motion.values)


def test_unreadable_frame_in_a_long_video_names_the_frame(cas, tmp_path):
    root = copy_tree(cas, tmp_path / "copy")
    bad = root / "rawpic" / "s15" / "15_0101disgustingteeth" / "img150.jpg"
    bad.write_bytes(b"not an image")
    video = load_long_videos("casme2-lv", root).videos["15_0101"]
    with pytest.raises(
        DataError, match=r"img150\.jpg: frame 150 of video 15_0101 cannot be decoded"
    ):
        video_motion(video, RegionMotionConfig(), None)


def _fake(values: np.ndarray, fps: float = 30.0) -> VideoMotion:
    video = LongVideo("casme2-lv", "s1", "v", Path("."), 1, len(values), fps)
    return VideoMotion(video, values.astype(np.float32))


def _bumps(n: int, at: list[tuple[int, int, float]], seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = np.abs(rng.normal(0.02, 0.005, size=(n, len(REGIONS))))
    for start, length, height in at:
        t = np.arange(length)
        x[start : start + length] += height * np.sin(np.pi * (t + 0.5) / length)[:, None]
    return x


def test_flow_peak_finds_bumps_and_fit_tunes_the_threshold():
    spotter = SPOTTERS.get("flow-peak").build()
    planted = [(100, 12, 0.5), (300, 12, 0.3), (500, 12, 0.4)]
    motion = _fake(_bumps(700, planted))
    truth = [
        Expression("casme2-lv", "s1", "v", s + 1, None, s + n, "micro", "", "", "", None)
        for s, n, _ in planted
    ]
    spotter.p = 0.9  # a high threshold: only the strongest bump is spotted
    assert len(spotter.predict(motion)) == 1
    spotter.fit([motion], [truth], seed=0)  # picks p on the training video
    found = spotter.predict(motion)
    assert len(found) == 3
    for (a, b), (s, n, _) in zip(found, planted):
        assert abs((a + b) / 2 - (s + 1 + s + n) / 2) <= 3, (a, b, s)
    # A spike in the eye regions only (a blink) is not a brow or mouth movement: ignored.
    blink = _bumps(700, planted)
    blink[200:204, 2:4] += 2.0
    assert spotter.predict(_fake(blink)) == found
    # The same spike in the mouth regions is spotted.
    mouth = _bumps(700, planted)
    mouth[200:212, 4:6] += 2.0 * np.sin(np.pi * (np.arange(12) + 0.5) / 12)[:, None]
    assert any(a <= 206 <= b for a, b in spotter.predict(_fake(mouth)))


def test_run_stores_scores_and_its_submission_rescoring_agrees(cas, tmp_path, capsys):
    run = run_spotting(
        "flow-peak", "casme2-lv-spotting", "raw", {"casme2-lv": cas}, cache_dir=tmp_path / "cache"
    )
    assert run.identity["spotter"] == "flow-peak" and {p.fold for p in run.predictions} <= {
        "s15",
        "s16",
    }
    assert all(p.fold == p.subject for p in run.predictions)  # predicted only when held out
    assert len(run.truth) == 6 and run.minutes_of_video == pytest.approx(0.4)
    f1 = run.report.f1
    assert f1 > run.chance_f1  # the baseline beats a uniform spotter on the demo
    stored = save_run(run, tmp_path / "cache" / "spotting-runs")
    import json

    record = json.loads(stored.read_text())
    assert record["scores"]["f1"] == pytest.approx(f1)
    assert len(record["predictions"]) == len(run.predictions)
    # The table recomputes from the stored predictions: a stored score changed by hand is ignored.
    record["scores"]["f1"] = 0.99
    stored.write_text(json.dumps(record))
    code, out, err = cli(
        ["spot", "table", "-p", "casme2-lv-spotting", "--cache-dir", str(tmp_path / "cache")],
        capsys,
    )
    assert code == 0, err
    row = out.splitlines()[2].split("|")
    assert row[2].strip() == "flow-peak" and row[7].strip() == f"{f1:.3f}"
    assert row[8].strip() == f"{run.chance_f1:.3f}"
    sub = megc_submission(run, tmp_path / "sub.csv")
    predictions = read_submission(sub, run.videos)
    again = spotting_report(
        run.truth,
        predictions,
        SPOTTING_PROTOCOLS.get("casme2-lv-spotting").limits,
        videos={v: d for v, (d, _, _) in run.videos.items()},
    )
    assert again.f1 == pytest.approx(f1)
    code, out, err = cli(
        ["spot", "score", str(sub), "--source", "raw", "--casme2-lv", str(cas)], capsys
    )
    assert code == 0, err
    assert "casme2-lv    overall" in out and f"{f1:.3f}" in out.splitlines()[3]


@pytest.mark.parametrize(
    "row,words",
    [
        ("15_0101,300,400,me", "row 2: interval [300, 400] outside video 15_0101 (frames 1..360)"),
        ("15_0101,40,30,me", "row 2: offset 30 before onset 40"),
        ("99_0101,1,9,me", "row 2: video '99_0101' is not a video of the protocol"),
        ("15_0101,a,9,me", "row 2: onset and offset must be frame numbers"),
    ],
)
def test_bad_submission_rows_are_refused(tmp_path, row, words):
    path = tmp_path / "sub.csv"
    path.write_text(f"vid,pred_onset,pred_offset,type\n{row}\n")
    with pytest.raises(DataError) as err:
        read_submission(path, {"15_0101": ("casme2-lv", 1, 360)})
    assert str(err.value) == f"{path}, {words}" or words in str(err.value)


@pytest.mark.slow
def test_str_classifies_spotted_micro_intervals_with_a_recognition_model(cas, tmp_path, capsys):
    from mer_bench.run.spotting.str_run import STR_CLASSES, run_str

    run = run_str(
        "flow-peak",
        "svm-hoof",
        "casme2-lv-spotting",
        "raw",
        {"casme2-lv": cas},
        cache_dir=tmp_path / "cache",
    )
    micro = [p for p in run.spotting.predictions if p.offset - p.onset + 1 <= 16]
    assert [(r["video"], r["onset"]) for r in run.recognised] == [(p.video, p.onset) for p in micro]
    assert all(r["emotion"] in STR_CLASSES for r in run.recognised)
    truth = [
        e
        for e in plan(CAS_ONLY)[0].expressions + plan(CAS_ONLY)[1].expressions
        if e.kind == "micro" and e.emotion in STR_CLASSES
    ]
    assert run.report.spotting.n_gt == len(truth)
    assert run.report.spotting.n_pred == len(run.recognised)
    assert run.report.strs == pytest.approx(run.report.spotting.f1 * run.report.f1_a)
    code, out, err = cli(
        [
            "spot",
            "str",
            "--spotter",
            "flow-peak",
            "--model",
            "svm-hoof",
            "--source",
            "raw",
            "--casme2-lv",
            str(cas),
            "--cache-dir",
            str(tmp_path / "cache"),
        ],
        capsys,
    )
    assert code == 0, err
    assert f"STRS {run.report.strs:.4f}" in out


def test_flow_cnn_learns_where_expressions_are_on_training_videos():
    spotter = SPOTTERS.get("flow-cnn").build()
    assert SPOTTERS.get("flow-cnn").card.trainable

    def video(at, seed):
        values = _bumps(600, [(s, 12, h) for s, h in at], seed)
        truth = [
            Expression("casme2-lv", "s1", "v", s + 1, None, s + 12, "micro", "", "", "", None)
            for s, _ in at
        ]
        return _fake(values), truth

    train = [video([(100, 0.5), (400, 0.4)], 1), video([(250, 0.45), (500, 0.5)], 2)]
    spotter.fit([m for m, _ in train], [t for _, t in train], seed=0)
    held_out, truth = video([(150, 0.5), (350, 0.45)], 3)
    found = [Interval(a, b) for a, b in spotter.predict(held_out)]
    gt = [Interval(e.onset, e.offset) for e in truth]

    assert len(match_intervals(gt, found, threshold=0.3)) == 2
    assert len(found) <= 4


def test_mer_bench_run_with_a_spotting_protocol_runs_the_spotter(cas, tmp_path, capsys):
    from mer_bench.data.longvideo.synth import MARKER, long_demo_dir

    # The demo's cached copy, made here from the small tree (the real one takes minutes).
    demo = long_demo_dir(tmp_path / "cache", LongSynthConfig())
    copy_tree(cas, demo / "CASME2_LV")
    (demo / MARKER).write_text("{}")
    code, out, err = cli(
        [
            "run",
            "--model",
            "flow-peak",
            "--protocol",
            "casme2-lv-spotting",
            "--source",
            "demo",
            "--cache-dir",
            str(tmp_path / "cache"),
        ],
        capsys,
    )
    assert code == 0, err
    assert "casme2-lv    overall" in out and "chance (uniform spotter" in out
    stored = list(
        (tmp_path / "cache" / "spotting-runs").glob("flow-peak-casme2-lv-spotting-*.json")
    )
    assert len(stored) == 1
