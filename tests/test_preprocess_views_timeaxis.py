"""The clip time axis: evenly spaced nearest frames from the onset to the span's end, and the
notes each bad input leaves (short clip, missing numbers, apex outside, unnumbered names)."""

from __future__ import annotations

from pathlib import Path

import pytest

from mer_bench.core.errors import DataError
from mer_bench.data.preprocess.frames import SampleFrames, select_frames
from mer_bench.data.preprocess.timeaxis import select_clip, uniform_times


def clip(
    numbers: list[int], apex: int | None, offset: int | None = None, names: str = "img{}.jpg"
) -> SampleFrames:
    frames = [Path("/data/sub01/EP01") / names.format(n) for n in numbers]
    return select_frames(
        {
            "dataset": "casme2",
            "sample": "EP01",
            "onset": numbers[0],
            "apex": apex,
            "offset": offset if offset is not None else numbers[-1],
            "frames": frames,
        }
    )


def test_uniform_times_include_both_ends_and_round_halves_up() -> None:
    assert uniform_times(10, 17, 8) == list(range(10, 18))
    assert uniform_times(10, 14, 8) == [10, 11, 11, 12, 12, 13, 13, 14]
    assert uniform_times(0, 99, 4) == [0, 33, 66, 99]
    assert uniform_times(0, 3, 3) == [0, 2, 3]  # 1.5 rounds up
    assert uniform_times(5, 5, 3) == [5, 5, 5]


def test_long_clip_is_subsampled_without_notes() -> None:
    selection = select_clip(clip(list(range(100, 131)), apex=112), 8, "offset")
    assert selection.times == (100, 104, 109, 113, 117, 121, 126, 130)
    assert [p.name for p in selection.paths][:2] == ["img100.jpg", "img104.jpg"]
    assert selection.notes == ()
    apex = select_clip(clip(list(range(100, 131)), apex=112), 4, "apex")
    assert apex.times == (100, 104, 108, 112) and apex.notes == ()


def test_short_clip_repeats_frames_and_says_so() -> None:
    selection = select_clip(clip([1, 2, 3], apex=2), 8, "offset")
    assert selection.times == (1, 1, 2, 2, 2, 2, 3, 3)
    assert selection.notes == (
        "short_clip: 3 frames in onset..offset for T=8, nearest frames repeated",
    )
    onset_is_apex = select_clip(clip([1, 2, 3], apex=1), 4, "apex")
    assert onset_is_apex.times == (1, 1, 1, 1) and onset_is_apex.notes[0].startswith("short_clip")


def test_missing_numbers_take_the_nearest_listed_frame() -> None:
    # 46..53 with 48 and 49 missing; T = 8 wants every number: 48 -> 47 (nearer), 49 -> 50.
    selection = select_clip(clip([46, 47, 50, 51, 52, 53], apex=47, offset=53), 8, "offset")
    assert selection.times == (46, 47, 47, 50, 50, 51, 52, 53)
    assert selection.notes == ("missing_frames: 48, 49 not listed, nearest listed frames used",)
    # A tie goes to the earlier frame: 11 is missing, 10 and 12 are both 1 away.
    tie = select_clip(clip([10, 12], apex=12, offset=12), 3, "offset")
    assert tie.times == (10, 10, 12)
    # Frames missing after the last listed one, up to the annotated offset.
    tail = select_clip(clip([10, 11, 12], apex=11, offset=14), 5, "offset")
    assert tail.times == (10, 11, 12, 12, 12) and "13, 14 not listed" in tail.notes[0]


def test_apex_outside_the_range_is_recorded_with_the_rule_used() -> None:
    frames = clip(list(range(10, 19)), apex=40)
    assert frames.apex_rule == "middle" and frames.apex_path.name == "img14.jpg"
    selection = select_clip(frames, 3, "apex")
    assert selection.times == (10, 12, 14)
    assert selection.notes == (
        "apex_outside: apex 40 not in onset..offset 10..18, middle frame img14.jpg used",
    )


def test_unnumbered_names_use_positions_and_errors_name_the_sample() -> None:
    frames = select_frames(
        {
            "dataset": "smic",
            "sample": "s1_po_01",
            "onset": None,
            "apex": None,
            "offset": None,
            "frames": [Path(f"/x/frame_{c}.bmp") for c in "abcde"],
        }
    )
    selection = select_clip(frames, 3, "offset")
    assert [p.name for p in selection.paths] == ["frame_a.bmp", "frame_c.bmp", "frame_e.bmp"]
    assert selection.notes[0].startswith("positions:")
    with pytest.raises(DataError, match="casme2/EP01: offset 5 is before the onset"):
        select_clip(clip([10, 11, 12], apex=11, offset=5), 4, "offset")
    # A hand-built sample without a frame list: its clip is the onset and apex.
    pair = SampleFrames("casme2", "EP02", Path("/x/img3.jpg"), Path("/x/img7.jpg"), "number")
    assert select_clip(pair, 3, "offset").times == (3, 3, 7)
