"""Long-video loaders (CAS(ME)^2, SAMM Long Videos) on test-built trees in the owners' layouts,
their checks, and `mer-bench spot doctor`."""

from __future__ import annotations

import pytest
from _cli import cli
from _long_videos import SMALL, copy_tree, edit_cell, small_trees

from mer_bench.core.errors import DataError
from mer_bench.data.longvideo import inspect_long_videos, load_long_videos
from mer_bench.data.longvideo.synth import plan

CAS_BOOK = "CAS(ME)^2code_final.xlsx"
SAMM_BOOK = "SAMM_LongVideos_V2_Release.xlsx"
SAMM_FIRST_ROW = 11  # nine preamble rows and the header


@pytest.fixture(scope="module")
def trees(tmp_path_factory):
    return small_trees(tmp_path_factory.mktemp("long"))


def test_loaders_read_what_was_planted(trees):
    planned = plan(SMALL)
    for dataset in ("casme2-lv", "samm-lv"):
        found = load_long_videos(dataset, trees[dataset])
        mine = [v for v in planned if v.dataset == dataset]
        assert sorted(found.videos) == sorted(v.video for v in mine)
        for v in mine:
            video = found.videos[v.video]
            assert (video.first, video.last) == (1, v.n_frames)
            assert len(video.frame_paths()) == v.n_frames
            got = [
                (e.onset, e.apex, e.offset, e.kind) for e in found.expressions if e.video == v.video
            ]
            assert got == [(e.onset, e.apex, e.offset, e.kind) for e in v.expressions]
        assert found.problems == []
    cas = load_long_videos("casme2-lv", trees["casme2-lv"])
    assert cas.fps == 30 and cas.subjects() == ["s15", "s16"]
    assert {e.emotion for e in cas.expressions} <= {"negative", "positive", "surprise", "others"}
    samm = load_long_videos("samm-lv", trees["samm-lv"])
    assert samm.fps == 200 and samm.subjects() == ["006", "007"]


@pytest.mark.parametrize(
    "dataset,book,row,column,value,words",
    [
        (
            "casme2-lv",
            CAS_BOOK,
            1,
            5,
            2,
            "row 1: 15_0101: reversed interval: offset 2 before onset",
        ),
        ("casme2-lv", CAS_BOOK, 2, 5, 999, "outside the video's frames 1..360"),
        ("samm-lv", SAMM_BOOK, SAMM_FIRST_ROW, 6, 99999, "outside the video's frames 1..1000"),
        ("casme2-lv", CAS_BOOK, 1, 3, "x", "onset 'x' is not a frame number"),
        ("casme2-lv", CAS_BOOK, 1, 8, "tiny-expression", "type 'tiny-expression' is neither"),
        ("casme2-lv", CAS_BOOK, 1, 2, "joy1_1", "expression 'joy1_1' has no code"),
    ],
)
def test_bad_rows_name_file_and_row(trees, tmp_path, dataset, book, row, column, value, words):
    root = copy_tree(trees[dataset], tmp_path / "copy")
    edit_cell(
        root / book,
        "CASFEcode_final" if dataset == "casme2-lv" else "FACS_Movement_Only",
        row,
        column,
        value,
    )
    with pytest.raises(DataError) as err:
        load_long_videos(dataset, root)
    assert str(root / book) in str(err.value) and words in str(err.value)


def test_overlapping_intervals_of_one_type_are_refused(trees, tmp_path):
    root = copy_tree(trees["casme2-lv"], tmp_path / "copy")
    first = plan(SMALL)[0]
    micro = [e for e in first.expressions if e.kind == "micro"]
    # The second micro-expression of the video moved onto the first one.
    row = 1 + first.expressions.index(micro[1])
    edit_cell(root / CAS_BOOK, "CASFEcode_final", row, 3, micro[0].onset + 1)
    edit_cell(root / CAS_BOOK, "CASFEcode_final", row, 4, micro[0].onset + 2)
    edit_cell(root / CAS_BOOK, "CASFEcode_final", row, 5, micro[0].offset + 3)
    with pytest.raises(DataError, match=rf"row {row}: 15_0101: micro interval .* overlaps"):
        load_long_videos("casme2-lv", root)


def test_owner_quirks_are_warnings(trees, tmp_path):
    # CAS(ME)^2's offset 0 (the apex is used) and SAMM's fractional frames (rounded half up).
    cas = copy_tree(trees["casme2-lv"], tmp_path / "cas")
    edit_cell(cas / CAS_BOOK, "CASFEcode_final", 1, 5, 0)
    found = inspect_long_videos("casme2-lv", cas)
    first = plan(SMALL)[0].expressions[0]
    assert [p.fatal for p in found.problems] == [False]
    assert "offset 0: the apex" in found.problems[0].line()
    assert (found.expressions[0].onset, found.expressions[0].offset) == (first.onset, first.apex)
    samm = copy_tree(trees["samm-lv"], tmp_path / "samm")
    planned = next(v for v in plan(SMALL) if v.dataset == "samm-lv").expressions[0]
    edit_cell(samm / SAMM_BOOK, "FACS_Movement_Only", SAMM_FIRST_ROW, 4, planned.onset + 0.5)
    found = load_long_videos("samm-lv", samm)
    assert found.expressions[0].onset == planned.onset + 1
    assert "rounded half up" in found.problems[0].line() and not found.problems[0].fatal


def test_spot_doctor_reports_and_fails_on_unreadable_frame(trees, tmp_path, capsys):
    code, out, err = cli(
        ["spot", "doctor", "-d", "casme2-lv", "--root", str(trees["casme2-lv"])], capsys
    )
    assert code == 0, err
    assert "casme2-lv: 2 videos (0.4 min at 30 fps), 2 subjects, 4 micro, 2 macro" in out
    root = copy_tree(trees["casme2-lv"], tmp_path / "copy")
    frame = root / "rawpic" / "s16" / "16_0101disgustingteeth" / "img360.jpg"
    frame.write_bytes(b"not a jpeg")
    code, out, err = cli(["spot", "doctor", "-d", "casme2-lv", "--root", str(root)], capsys)
    assert code == 3 and "Traceback" not in err
    assert err.strip().splitlines()[-1] == f"error: {frame}: 16_0101: frame 360 cannot be decoded"
