"""Caches that runs started at once share, and cache files found damaged.

Eight processes started at once on one fresh cache all see every sample of the demo (one of
them generates it, the others wait and reuse it); a generator killed half-way leaves nothing in
place; a damaged demo tree, per-sample array or assembled view set is named in one warning and
rebuilt, and what is read then equals what a fresh cache gives. Processes are forked (as in
tests/test_concurrency.py), so the parent's imports and patches are inherited.
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import os
import shutil
import signal
import time
import traceback
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from mer_bench_protocols.megc2019 import spec as megc2019

from mer_bench.data.longvideo import motion as motion_module
from mer_bench.data.longvideo import synth as long_synth
from mer_bench.data.longvideo.model import LongVideo
from mer_bench.data.longvideo.motion import REGIONS, RegionMotionConfig, video_motion
from mer_bench.data.longvideo.synth import (
    LongSynthConfig,
    ensure_long_demo,
    long_demo_dir,
)
from mer_bench.data.preprocess.cache import ArrayCache
from mer_bench.data.preprocess.views import FlowView
from mer_bench.data.resolve import protocol_samples
from mer_bench.data.sources import demo as demo_module
from mer_bench.data.sources import make_source
from mer_bench.data.sources.demo import (
    MARKER,
    DemoOptions,
    demo_dir,
    ensure_demo,
    verify_demo,
)

RUNS = 8
FORK = multiprocessing.get_context("fork")
#: Start delays (s): half at once, the rest while the first is still generating (the old code
#: removed the tree under the first generator then, and one run trained on 119 of 120 samples).
STAGGER = (0.0, 0.0, 0.0, 0.0, 0.4, 1.0, 2.0, 3.5)
#: The smallest demo: 3 subjects, one clip each (5 clips, 3 samples in megc2019).
SMALL = {"subjects": 3, "clips_per_subject": 1, "difficulty": "easy", "seed": 3}
pytestmark = pytest.mark.usefixtures("one_thread", "photos")


@pytest.fixture(scope="module")
def photos() -> None:
    """The demo's face photos, found once here: forked processes inherit them."""
    from mer_bench.data.synth.faces import load_photos

    load_photos()


def _child(work: Callable, arg, delay: float, barrier, results) -> None:
    try:
        barrier.wait()
        time.sleep(delay)
        results.put(("ok", work(arg)))
    except BaseException:  # noqa: BLE001 - reported to the parent, which fails the test with it
        results.put(("error", traceback.format_exc()))
    finally:
        results.close()
        results.join_thread()  # flushed before the child ends
        os._exit(0)  # no atexit handlers of the parent in the child


def at_once(work: Callable, arg, delays=STAGGER, timeout: float = 300) -> list:
    """`work(arg)` in len(delays) forked processes released together (each after its delay)."""
    barrier, results = FORK.Barrier(len(delays)), FORK.Queue()
    children = [FORK.Process(target=_child, args=(work, arg, d, barrier, results)) for d in delays]
    for child in children:
        child.start()
    out = [results.get(timeout=timeout) for _ in children]
    for child in children:
        child.join(timeout=30)
    errors = [text for kind, text in out if kind == "error"]
    assert not errors, errors[0]
    return [value for _, value in out]


def _demo_samples(cache: Path) -> tuple[int, dict[str, int]]:
    """What `mer-bench run --source demo` resolves first: the source, then megc2019's samples."""
    source = make_source("demo", DemoOptions(cache_dir=cache, workers=1))
    samples, _ = protocol_samples(megc2019, source)
    return len(samples), samples["dataset"].value_counts().to_dict()


def _count_generations(monkeypatch, log: Path) -> None:
    real = demo_module.generate

    def counting(out, **kwargs):
        with open(log, "a") as handle:
            handle.write(f"{os.getpid()}\n")
        return real(out, **kwargs)

    monkeypatch.setattr(demo_module, "generate", counting)


@pytest.mark.slow
def test_eight_runs_at_once_on_a_fresh_cache_all_see_every_sample(tmp_path, monkeypatch):
    """The default demo (120 megc2019 samples), eight runs on one fresh cache: generated once,
    every run sees the 120, and the tree verifies (nothing half-written left beside it)."""
    generations = tmp_path / "generations.txt"
    _count_generations(monkeypatch, generations)
    cache = tmp_path / "cache"
    seen = at_once(_demo_samples, cache)
    assert [n for n, _ in seen] == [120] * RUNS
    assert all(counts == seen[0][1] for _, counts in seen)
    assert sum(seen[0][1].values()) == 120 and set(seen[0][1]) == {"casme2", "samm", "smic"}
    assert len(generations.read_text().split()) == 1
    options = DemoOptions(cache_dir=cache)
    root = demo_dir(cache, options.synth_config())
    assert verify_demo(root, options.synth_config()) is None
    assert sorted(p.name for p in root.parent.iterdir()) == sorted(
        [root.name, f".{root.name}.lock"]
    )
    assert json.loads((root / MARKER).read_text())["clips"] == 126  # 120 + 6 "others" clips


def test_small_demo_at_once_is_generated_once(tmp_path, monkeypatch):
    """The same race on the smallest demo (fast): generated once, every run sees 3 samples."""
    generations = tmp_path / "generations.txt"
    _count_generations(monkeypatch, generations)

    def resolve(cache: Path) -> int:
        source = make_source("demo", DemoOptions(cache_dir=cache, workers=1, **SMALL))
        return len(protocol_samples(megc2019, source)[0])

    assert (
        at_once(resolve, tmp_path / "cache", delays=(0.0,) * 4 + (0.2, 0.4, 0.6, 0.8)) == [3] * RUNS
    )
    assert len(generations.read_text().split()) == 1


def test_a_killed_generator_leaves_nothing_in_place(tmp_path, monkeypatch, caplog):
    """A generator killed half-way leaves only its temporary folder, never a tree at the
    target; the next run removes the leftover and generates the demo whole."""
    config = DemoOptions(cache_dir=tmp_path, **SMALL).synth_config()
    root = demo_dir(tmp_path, config)
    real = demo_module.generate

    def stalls(out, **kwargs):
        (Path(out) / "CASME2").mkdir(parents=True)
        (Path(out) / "CASME2" / "half.jpg").write_bytes(b"half")
        time.sleep(600)

    monkeypatch.setattr(demo_module, "generate", stalls)
    child = FORK.Process(target=ensure_demo, args=(tmp_path, config))
    child.start()
    deadline = time.monotonic() + 30
    while not list(root.parent.glob(f".{root.name}.building-*/CASME2/half.jpg")):
        assert time.monotonic() < deadline, "the generator never started"
        time.sleep(0.05)
    os.kill(child.pid, signal.SIGKILL)
    child.join()
    assert not root.exists()  # nothing half-written where readers look
    monkeypatch.setattr(demo_module, "generate", real)
    with caplog.at_level(logging.WARNING, logger="mer_bench"):
        assert ensure_demo(tmp_path, config) == root
    assert verify_demo(root, config) is None and not caplog.text  # absent: no notice
    assert not list(root.parent.glob(f".{root.name}.building-*"))


def _flip(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x10
    path.write_bytes(bytes(data))


def _truncate(path: Path, size: int) -> None:
    path.write_bytes(path.read_bytes()[:size])


def _frame(root: Path) -> Path:
    return sorted(root.rglob("*.jpg"))[3]


DEMO_DAMAGE = {
    "a frame removed": lambda root: _frame(root).unlink(),
    "a frame bit-flipped": lambda root: _flip(_frame(root)),
    "a sheet truncated": lambda root: _truncate(next(root.rglob("*.xlsx")), 500),
    "an extra file": lambda root: (_frame(root).parent / "img1.jpg").write_bytes(b"x"),
    "a marker without checksums": lambda root: (root / MARKER).write_text(
        json.dumps(
            {k: v for k, v in json.loads((root / MARKER).read_text()).items() if k != "files"}
        )
    ),
    "no marker": lambda root: (root / MARKER).unlink(),
}


@pytest.fixture(scope="module")
def small_demo(tmp_path_factory) -> Path:
    """A generated small demo, copied by the tests that damage it."""
    cache = tmp_path_factory.mktemp("demo-cache")
    ensure_demo(cache, DemoOptions(cache_dir=cache, **SMALL).synth_config())
    return cache


@pytest.mark.parametrize("damage", DEMO_DAMAGE, ids=list(DEMO_DAMAGE))
def test_a_damaged_demo_tree_is_named_and_generated_again(damage, small_demo, tmp_path, caplog):
    cache = tmp_path / "cache"
    shutil.copytree(small_demo, cache)
    config = DemoOptions(cache_dir=cache, **SMALL).synth_config()
    root = demo_dir(cache, config)
    files = json.loads((root / MARKER).read_text())["files"]
    DEMO_DAMAGE[damage](root)
    assert verify_demo(root, config) is not None
    with caplog.at_level(logging.WARNING, logger="mer_bench"):
        assert ensure_demo(cache, config) == root
    notices = [r.getMessage() for r in caplog.records]
    assert len(notices) == 1 and str(root) in notices[0], notices
    assert "incomplete or damaged" in notices[0]
    assert verify_demo(root, config) is None
    assert json.loads((root / MARKER).read_text())["files"] == files  # the same bytes again


# --- per-sample arrays ------------------------------------------------------------------------

ENTRY = {
    "flow": np.arange(3 * 28 * 28, dtype=np.float32).reshape(3, 28, 28),
    "points": np.ones((5, 2), np.float32),
    "fallback": np.array(""),
}


def _wrong_shape(cache: ArrayCache, path: Path) -> None:
    np.savez(path, **{**ENTRY, "flow": np.zeros((3, 27, 28), np.float32)})


def _wrong_shape_with_the_old_checksum(cache: ArrayCache, path: Path) -> None:
    with np.load(path) as good:
        checksum = good["__sha256__"]
    np.savez(path, **{**ENTRY, "flow": np.zeros((3, 27, 28), np.float32)}, __sha256__=checksum)


def _another_entry(cache: ArrayCache, path: Path) -> None:
    cache.save("flow28", "b" * 16, {**ENTRY, "flow": ENTRY["flow"] + 1})
    shutil.copy(cache.path("flow28", "b" * 16), path)


ARRAY_DAMAGE = {
    "truncated": lambda cache, path: path.write_bytes(path.read_bytes()[:-300]),
    "cut to 10 bytes": lambda cache, path: path.write_bytes(path.read_bytes()[:10]),
    "bit-flipped": lambda cache, path: _flip(path),
    "empty": lambda cache, path: path.write_bytes(b""),
    "wrong shape": _wrong_shape,
    "wrong shape with the old checksum": _wrong_shape_with_the_old_checksum,
    "another entry's file": _another_entry,
}


@pytest.mark.parametrize("damage", ARRAY_DAMAGE, ids=list(ARRAY_DAMAGE))
def test_a_damaged_array_is_named_removed_and_not_used(damage, tmp_path, caplog):
    cache = ArrayCache(tmp_path)
    key = "a" * 16
    cache.save("flow28", key, ENTRY)
    loaded = cache.load("flow28", key)
    assert loaded is not None and set(loaded) == set(ENTRY)
    np.testing.assert_array_equal(loaded["flow"], ENTRY["flow"])
    path = cache.path("flow28", key)
    ARRAY_DAMAGE[damage](cache, path)
    with caplog.at_level(logging.WARNING, logger="mer_bench"):
        assert cache.load("flow28", key) is None
    notices = [r.getMessage() for r in caplog.records]
    assert len(notices) == 1 and f"cached array {path} is damaged" in notices[0], notices
    assert "\n" not in notices[0] and not path.exists()
    cache.save("flow28", key, ENTRY)  # computed again: read back whole
    np.testing.assert_array_equal(cache.load("flow28", key)["flow"], ENTRY["flow"])


def test_a_failed_cache_write_names_the_file_and_leaves_nothing(tmp_path):
    from mer_bench.core.errors import MerBenchError

    cache = ArrayCache(tmp_path / "cache")
    (tmp_path / "cache").write_text("a file where the cache folder should be")
    with pytest.raises(MerBenchError, match=r"cannot write the cache file .*flow28.* Not a dir"):
        cache.save("flow28", "a" * 16, ENTRY)


# --- preprocessing through the source --------------------------------------------------------


def _source(cache: Path):
    return make_source(
        "demo", DemoOptions(cache_dir=cache, workers=1, flow_method="farneback", **SMALL)
    )


def _arrays(cache: Path) -> dict[str, np.ndarray]:
    source = _source(cache)
    samples, _ = protocol_samples(megc2019, source)
    flow28 = source.arrays(samples)
    view = source.arrays(samples, FlowView(size=32))
    return {"flow28": flow28.flow, "points": flow28.points, "flow": np.array(view.data)}  # a copy


@pytest.fixture(scope="module")
def prepared(small_demo, tmp_path_factory) -> tuple[Path, dict[str, np.ndarray]]:
    """The small demo's flow28 and a 32 px flow view, computed once on a fresh cache."""
    cache = tmp_path_factory.mktemp("prepared")
    shutil.copytree(small_demo, cache, dirs_exist_ok=True)
    return cache, _arrays(cache)


def _same(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> None:
    assert a.keys() == b.keys()
    for name, value in a.items():
        np.testing.assert_array_equal(value, b[name], err_msg=name)


def test_runs_at_once_preprocess_once_and_read_the_same_arrays(prepared, small_demo, tmp_path):
    """Eight processes preprocess one fresh cache at once (flow28 and an assembled view): every
    one reads what a lone run computes, and no temporary folder is left."""
    cache = tmp_path / "cache"
    shutil.copytree(small_demo, cache)
    for got in at_once(_arrays, cache, delays=(0.0,) * 6 + (0.3, 0.6)):
        _same(got, prepared[1])
    views = cache / "preprocess" / "views"
    # one assembled set per view (flow28 and flow), however many processes built them
    assert sorted(
        p.name.split("-")[0] for p in views.iterdir() if not p.name.endswith(".lock")
    ) == ["flow", "flow28"]
    assert not list((cache / "preprocess").rglob("*.tmp"))


STAGES = {"flow28": "flow28", "landmarks": "landmarks", "flow view": "view_flow"}
#: The assembled view set each stage's entries end up in (damaged with them, so that the run
#: reads the entries again).
ASSEMBLED = {"flow view": "flow-*"}


@pytest.mark.parametrize("how", ["truncated", "bit-flipped", "wrong shape"])
@pytest.mark.parametrize("stage", STAGES, ids=list(STAGES))
def test_a_damaged_preprocessing_entry_is_named_and_computed_again(stage, how, prepared, caplog):
    """One cached entry of a run's samples damaged (the old code stopped every run with
    "unexpected BadZipFile", naming no file): the next run names it, computes it again and
    reads the same arrays. The assembled view set is damaged too, and rebuilt. (The prepared
    cache is damaged in place, since its keys hold the frames' paths; each case repairs it.)"""
    cache = prepared[0]
    entry = sorted((cache / "preprocess" / STAGES[stage]).rglob("*.npz"))[1]
    if how == "wrong shape":
        np.savez(entry, flow=np.zeros((3, 27, 28), np.float32), points=np.zeros((4, 2)))
    else:
        ARRAY_DAMAGE[how](None, entry)
    for folder in (cache / "preprocess" / "views").glob(ASSEMBLED.get(stage, "-")):
        (folder / "data.npy").write_bytes((folder / "data.npy").read_bytes()[:-100])
    with caplog.at_level(logging.WARNING, logger="mer_bench"):
        again = _arrays(cache)
    _same(again, prepared[1])
    if stage == "flow28":
        # flow28 is one view among the others now: its intact assembled set serves the run and
        # the damaged per-sample entry is not read (the entry's own check is the landmarks and
        # flow view cases' code path)
        return
    notices = [r.getMessage() for r in caplog.records]
    assert any(f"cached array {entry} is damaged" in n for n in notices), notices
    if stage in ASSEMBLED:
        assert any("view set" in n and "assembling it again" in n for n in notices), notices
    assert all("\n" not in n for n in notices)
    with caplog.at_level(logging.WARNING, logger="mer_bench"):
        caplog.clear()
        _same(_arrays(cache), prepared[1])
    assert not caplog.records  # repaired: a third run reads it silently


# --- the spotting task's caches: the long-video demo and the motion view -------------------

LONG = LongSynthConfig(
    datasets=("casme2-lv",),
    subjects=2,
    videos_per_subject=1,
    seconds=3.0,
    micro_per_video=1,
    macro_per_video=0,
    seed=3,
)


def _fake_long_videos(out: Path, config: LongSynthConfig) -> dict[str, Path]:
    """Stands in for the renderer (minutes here): a few files, slowly, as a writer would."""
    root = Path(out) / "CASME2_LV"
    for t in range(1, 6):
        path = root / "rawpic" / "s15" / "15_0101" / f"img{t:03d}.jpg"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(bytes([t]) * 1000)
        time.sleep(0.05)
    (root / "annotations.xlsx").write_bytes(b"sheet")
    return {"casme2-lv": root}


def _long_files(cache: Path) -> int:
    roots = ensure_long_demo(cache, LONG)
    return len([p for p in roots["casme2-lv"].rglob("*") if p.is_file()])


def test_long_video_demo_at_once_is_generated_once_and_damage_is_named(
    tmp_path, monkeypatch, caplog
):
    generations = tmp_path / "generations.txt"

    def counting(out, config):
        with open(generations, "a") as handle:
            handle.write(f"{os.getpid()}\n")
        return _fake_long_videos(out, config)

    monkeypatch.setattr(long_synth, "generate_long_videos", counting)
    cache = tmp_path / "cache"
    assert at_once(_long_files, cache, delays=(0.0,) * 4 + (0.05, 0.1, 0.2, 0.3)) == [6] * RUNS
    assert len(generations.read_text().split()) == 1
    root = long_demo_dir(cache, LONG)
    frame = next(root.rglob("img003.jpg"))
    _flip(frame)
    with caplog.at_level(logging.WARNING, logger="mer_bench"):
        assert _long_files(cache) == 6
    notices = [r.getMessage() for r in caplog.records]
    assert len(notices) == 1 and str(root) in notices[0] and "img003.jpg" in notices[0], notices
    assert frame.read_bytes() == bytes([3]) * 1000


@pytest.mark.parametrize("how", ["truncated", "bit-flipped", "wrong shape"])
def test_a_damaged_motion_entry_is_named_and_computed_again(how, tmp_path, monkeypatch, caplog):
    folder = tmp_path / "video"
    folder.mkdir()
    for t in range(1, 11):
        (folder / f"img{t:03d}.jpg").write_bytes(b"frame")
    video = LongVideo("casme2-lv", "s15", "15_0101", folder, 1, 10, 30.0)
    values = np.arange(10 * len(REGIONS), dtype=np.float32).reshape(10, len(REGIONS))
    computed = []
    monkeypatch.setattr(
        motion_module, "compute_motion", lambda video, config: computed.append(1) or values.copy()
    )
    config = RegionMotionConfig()
    np.testing.assert_array_equal(video_motion(video, config, tmp_path).values, values)
    np.testing.assert_array_equal(video_motion(video, config, tmp_path).values, values)
    assert len(computed) == 1
    entry = next((tmp_path / "spotting-motion").rglob("*.npz"))
    if how == "wrong shape":
        np.savez(entry, values=np.zeros((9, len(REGIONS)), np.float32))
    else:
        ARRAY_DAMAGE[how](None, entry)
    with caplog.at_level(logging.WARNING, logger="mer_bench"):
        np.testing.assert_array_equal(video_motion(video, config, tmp_path).values, values)
    assert len(computed) == 2
    assert [f"cached array {entry} is damaged" in r.getMessage() for r in caplog.records] == [True]


@pytest.mark.parametrize("how", ["truncated", "bit-flipped", "wrong shape"])
def test_damaged_cached_face_points_of_the_flows_source_are_named(
    how, tmp_path, monkeypatch, caplog
):
    """`--source flows --faces`: the face points cached under the faces' digest."""
    from mer_bench.data.sources import flows as flows_module

    paths = [tmp_path / f"face{i}.png" for i in range(4)]
    points = np.arange(4 * 5 * 2, dtype=np.float32).reshape(4, 5, 2)
    fallback = np.array([False, True, False, False])
    found = []
    monkeypatch.setattr(
        flows_module,
        "face_points",
        lambda p, method: found.append(1) or (points.copy(), fallback.copy()),
    )
    first = flows_module.cached_face_points(paths, "d" * 16, tmp_path / "cache")
    assert len(found) == 1 and np.array_equal(first[0], points)
    entry = next((tmp_path / "cache" / "flows-points").glob("*.npz"))
    if how == "wrong shape":
        np.savez(entry, points=np.zeros((3, 5, 2), np.float32), fallback=np.zeros(3, bool))
    else:
        ARRAY_DAMAGE[how](None, entry)
    with caplog.at_level(logging.WARNING, logger="mer_bench"):
        again = flows_module.cached_face_points(paths, "d" * 16, tmp_path / "cache")
    assert len(found) == 2
    assert np.array_equal(again[0], points) and np.array_equal(again[1], fallback)
    notices = [r.getMessage() for r in caplog.records]
    assert len(notices) == 1 and f"cached face points {entry} are damaged" in notices[0], notices


def test_an_edited_view_set_description_is_named_and_rebuilt(prepared, caplog):
    """meta.json of an assembled set (its sample keys, fallbacks, notes) is checksummed too."""
    cache = prepared[0]
    folder = next((cache / "preprocess" / "views").glob("flow-*"))
    meta = json.loads((folder / "meta.json").read_text())
    meta["samples"][0] = "casme2/sub99/EP99"
    (folder / "meta.json").write_text(json.dumps(meta))
    with caplog.at_level(logging.WARNING, logger="mer_bench"):
        _same(_arrays(cache), prepared[1])
    notices = [r.getMessage() for r in caplog.records]
    assert len(notices) == 1 and f"view set {folder}" in notices[0], notices
    assert "meta.json does not match its checksum" in notices[0]
    assert json.loads((folder / "meta.json").read_text())["samples"][0] != "casme2/sub99/EP99"
