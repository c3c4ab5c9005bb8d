"""`mer-bench predict`: a stored fold's model on new inputs gives that fold's stored prediction;
the fold is chosen by key or subject; a wrong checkpoint is refused before anything is computed."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
from conftest import TINY, TinyCNN, tiny_spec
from safetensors import safe_open
from safetensors.torch import save_file
from test_cli import cli

import mer_bench.run.predict as predict_module
from mer_bench.core import registry
from mer_bench.data.contract import FALLBACK_POINTS
from mer_bench.run.engine import RunConfig, run_benchmark
from mer_bench.core.errors import DataError, MerBenchError, UnknownNameError
from mer_bench.run.predict import clip_frames, frames_inputs, predict
from mer_bench.data.preprocess.config import PreprocessConfig
from mer_bench.data.resolve import protocol_samples
from mer_bench.data.sources import make_source, source_options
from mer_bench.data.sources.demo import DemoOptions
from mer_bench.results.store import Store
from mer_bench.run.weights import CheckpointError, run_artifacts


@pytest.fixture(scope="module")
def loso(tmp_path_factory, flows_dir):
    """A megc2019 LOSO run of the tiny model with every fold's weights kept."""
    registry.register(tiny_spec())
    path = tmp_path_factory.mktemp("predict") / "results.sqlite"
    store = Store(path)
    summary = run_benchmark(
        RunConfig(
            model=TINY,
            protocol="megc2019",
            source="flows",
            device="cpu",
            executor="sequential",
            source_options=source_options("flows", data_root=flows_dir),
            epochs=2,
            save_weights=True,
        ),
        store,
    )
    return path, store, summary.run_id


def test_flow_png_prediction_equals_the_folds_stored_one(loso, flows_dir, capsys):
    path, store, run_id = loso
    stored = store.predictions(run_id)
    for row in stored.sample(4, random_state=0).itertuples(index=False):
        png = flows_dir / f"{row.subject}_{row.sample} .png"  # as the fixture names them
        result = predict(store, run_id, f"{row.dataset}:{row.subject}", flow_png=png)
        assert result.fold_key == f"{row.dataset}:{row.subject}"
        assert np.abs(result.probs - np.array(row.probs)).max() < 1e-6
        assert result.predicted == ("negative", "positive", "surprise")[row.pred]
    row = stored.iloc[0]
    png = flows_dir / f"{row.subject}_{row['sample']} .png"
    code, out, err = cli(
        [
            "predict",
            "--run",
            run_id,
            "--fold",
            row.subject,
            "--flow-png",
            str(png),
            "--store",
            str(path),
            "--json",
        ],
        capsys,
    )
    assert code == 0, err
    answer = json.loads(out)
    assert answer["fold"] == f"{row.dataset}:{row.subject}"
    assert np.abs(np.array(answer["probs"]) - np.array(row.probs)).max() < 1e-6


def test_the_fold_is_named_by_key_or_subject(loso, flows_dir):
    _, store, run_id = loso
    png = next(flows_dir.glob("*.png"))
    assert predict(store, run_id, "sub05", flow_png=png).fold_key == "casme2:sub05"
    with pytest.raises(
        MerBenchError,
        match=r"has 68 fold models: choose one with --fold \(e\.g\. "
        r"casme2:sub01, casme2:sub02, casme2:sub03\)",
    ):
        predict(store, run_id, flow_png=png)
    with pytest.raises(UnknownNameError, match=r"unknown fold 'casme2:sub99'; did you mean"):
        predict(store, run_id, "casme2:sub99", flow_png=png)
    with pytest.raises(
        MerBenchError,
        match=r"^give exactly one of --frames ONSET APEX, --clip "
        r"DIR, --flow-png FILE \(got --clip, --flow-png\)$",
    ):
        predict(store, run_id, "sub05", clip=flows_dir, flow_png=png)


def test_a_wrong_checkpoint_is_refused_before_any_computation(
    loso, flows_dir, tmp_path, monkeypatch, capsys
):
    path, store, run_id = loso
    run = store.run(run_id)
    key, file = run_artifacts(store, run)[0]
    original = file.read_bytes()
    with safe_open(str(file), "pt") as fh:
        meta = fh.metadata()
    for name in ("frames_inputs", "flow_png_inputs", "clip_frames", "class_probabilities"):
        monkeypatch.setattr(predict_module, name, lambda *a, **k: pytest.fail("computed"))
    try:
        save_file(TinyCNN(4).state_dict(), str(file), metadata=meta)  # another head
        with pytest.raises(CheckpointError, match=r"tensor net\.4\.weight is F32 \[4, 128\]"):
            predict(store, run_id, key, frames=(tmp_path / "a.png", tmp_path / "b.png"))
        save_file(TinyCNN(3).state_dict(), str(file), metadata={**meta, "model": "ststnet"})
        code, _, err = cli(
            [
                "predict",
                "--run",
                run_id,
                "--fold",
                key,
                "--flow-png",
                str(next(flows_dir.glob("*.png"))),
                "--store",
                str(path),
            ],
            capsys,
        )
        assert code == 3 and err.count("\n") == 1
        assert "a checkpoint of model 'ststnet', not 'test-tiny-cnn'" in err
    finally:
        file.write_bytes(original)


def test_runs_without_weights_say_how_to_get_them(tiny_model, flows_dir, store_path):
    store = Store(store_path)
    summary = run_benchmark(
        RunConfig(
            model=TINY,
            protocol="megc2019-lodo",
            source="flows",
            device="cpu",
            epochs=1,
            executor="sequential",
            source_options=source_options("flows", data_root=flows_dir),
        ),
        store,
    )
    with pytest.raises(MerBenchError, match=r"kept no weights: run it again with --save-weights"):
        predict(store, summary.run_id, "smic", flow_png=next(flows_dir.glob("*.png")))


def _frame(path, value: int = 90) -> None:
    cv2.imwrite(str(path), np.full((64, 64), value, np.uint8))


def test_clip_folders_give_onset_and_apex(tmp_path):
    for n in (7, 8, 9, 10, 11):
        _frame(tmp_path / f"img{n}.jpg")
    (tmp_path / "notes.txt").write_text("not a frame")
    assert [p.name for p in clip_frames(tmp_path, apex=10)] == ["img7.jpg", "img10.jpg"]
    assert [p.name for p in clip_frames(tmp_path)] == ["img7.jpg", "img9.jpg"]  # the middle
    with pytest.raises(DataError, match=r"no frame number 30 \(frames 7\.\.11\)$"):
        clip_frames(tmp_path, apex=30)
    _frame(tmp_path / "cover.jpg")
    with pytest.raises(DataError, match=r"frame cover\.jpg has no number at the end of its name"):
        clip_frames(tmp_path)


def test_frames_without_a_face_use_the_fixed_fallback(tmp_path):
    _frame(tmp_path / "onset.png", 80)
    rng = np.random.default_rng(0)
    cv2.imwrite(str(tmp_path / "apex.png"), rng.integers(70, 90, (64, 64)).astype(np.uint8))
    arrays, fallback = frames_inputs(
        tmp_path / "onset.png", tmp_path / "apex.png", PreprocessConfig()
    )
    assert fallback == "fixed" and arrays.flow.shape == (1, 3, 28, 28)
    assert arrays.points_fallback.tolist() == [True]
    assert np.allclose(arrays.points[0], FALLBACK_POINTS)
    with pytest.raises(DataError, match=r"missing frame .*absent\.png"):
        frames_inputs(tmp_path / "onset.png", tmp_path / "absent.png", PreprocessConfig())


def test_new_frames_get_the_runs_view_exactly_as_the_pipeline_computes_it(tmp_path):
    """Any view, not only flow28: predict asks the view to compute itself, as the pipeline does."""
    from mer_bench.data.preprocess.frames import SampleFrames
    from mer_bench.data.preprocess.view_pipeline import compute_views
    from mer_bench.data.preprocess.views import ClipView, FramesView

    rng = np.random.default_rng(1)
    for name in ("onset.png", "apex.png"):
        cv2.imwrite(str(tmp_path / name), rng.integers(0, 255, (64, 64)).astype(np.uint8))
    onset, apex = tmp_path / "onset.png", tmp_path / "apex.png"
    config, view = PreprocessConfig(), FramesView(32, "grey")
    arrays, fallback = frames_inputs(onset, apex, config, view)
    pipeline = compute_views(
        [SampleFrames("new", "apex", onset, apex, "given")],
        [view],
        config,
        tmp_path / "cache",
        workers=1,
    )
    assert fallback == pipeline.fallbacks[0] == "fixed"
    assert arrays.data.shape == (1, 2, 1, 32, 32) and arrays.data.dtype == np.uint8
    np.testing.assert_array_equal(arrays.data, pipeline["frames"].data)
    with pytest.raises(MerBenchError, match=r"view clip cannot be made from a flow image"):
        predict_module.flow_png_inputs(onset, ClipView())


# --- on the demo: the same preprocessing and weights as the run ---------------------------------

DEMO = {"subjects": 3, "clips_per_subject": 4, "difficulty": "easy", "seed": 1}


def small_demo(tmp_path_factory) -> DemoOptions:
    """A 12-clip demo, cached once per test session (shared by the slow tests that use it)."""
    return DemoOptions(cache_dir=tmp_path_factory.getbasetemp() / "small-demo", workers=2, **DEMO)


@pytest.mark.slow
def test_predict_on_demo_frames_equals_the_stored_fold_prediction(
    tmp_path_factory, tiny_model, capsys
):
    options = small_demo(tmp_path_factory)
    path = tmp_path_factory.mktemp("demo-predict") / "results.sqlite"
    store = Store(path)
    config = RunConfig(
        model=TINY,
        protocol="megc2019",
        source="demo",
        source_options=options,
        device="cpu",
        executor="sequential",
        epochs=3,
        save_weights=True,
    )
    run_id = run_benchmark(config, store).run_id
    source = make_source("demo", options)
    samples, _ = protocol_samples(registry.get_protocol("megc2019"), source)
    frames = source.raw.sample_frames(samples)
    stored = store.predictions(run_id).set_index(["dataset", "subject", "sample"])["probs"]
    for dataset in ("smic", "casme2", "samm"):
        i = int(np.flatnonzero(samples["dataset"].to_numpy() == dataset)[0])
        row = samples.iloc[i]
        result = predict(
            store,
            run_id,
            f"{dataset}:{row['subject']}",
            frames=(frames[i].onset_path, frames[i].apex_path),
        )
        assert result.fallback == ""
        expected = np.array(stored[(dataset, row["subject"], row["sample"])])
        assert np.abs(result.probs - expected).max() < 1e-5
    # the CASME II clip folder (onset..offset frames), apex by number, through the CLI
    i = int(np.flatnonzero(samples["dataset"].to_numpy() == "casme2")[0])
    row, clip = samples.iloc[i], frames[i]
    code, out, err = cli(
        [
            "predict",
            "--run",
            run_id,
            "--fold",
            row["subject"],
            "--clip",
            str(clip.onset_path.parent),
            "--apex",
            str(clip.apex),
            "--store",
            str(path),
            "--json",
        ],
        capsys,
    )
    assert code == 0, err
    answer = json.loads(out)
    assert answer["inputs"] == {"onset": str(clip.onset_path), "apex": str(clip.apex_path)}
    expected = np.array(stored[("casme2", row["subject"], row["sample"])])
    assert np.abs(np.array(answer["probs"]) - expected).max() < 1e-5
    # a final model applies to the same frames: its probabilities are its model's on the
    # pipeline's arrays for that sample
    from mer_bench.run.final import train_final
    from mer_bench.run.weights import load_model

    final = train_final(config, store)
    result = predict(store, final.run_id, frames=(clip.onset_path, clip.apex_path))
    ((_, file),) = run_artifacts(store, store.run(final.run_id))
    model, _ = load_model(file, registry.get_model(TINY), 3)
    import torch

    with torch.no_grad():
        direct = torch.softmax(model(torch.as_tensor(source.arrays(samples).flow[i : i + 1])), 1)
    assert result.fold_key == "all"
    assert np.abs(result.probs - direct.numpy()[0]).max() < 1e-5
