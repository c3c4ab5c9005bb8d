"""Which frames a clip view reads: T evenly spaced times from the onset to the end of the span.

Time is the frame number (the number ending each file name, as the loaders index frames), or the
position in the loader's list when the names carry no increasing numbers. With start s (the onset
frame) and end e (the annotated offset, or the apex frame the flow uses), frame k of T is the
frame numbered round(s + k (e - s) / (T - 1)), halves rounded up, k = 0..T-1: both ends included.

Bad input, each recorded per sample as a note "code: detail" (never a silent drop; no rule skips a
sample, so the view's rows stay aligned with the sample table):
- `short_clip`: fewer than T frames from s to e: the nearest-frame rule repeats frames evenly.
- `missing_frames`: a wanted number is not in the list (the loader lists only files it found):
  the nearest listed frame is used (the earlier one on a tie).
- `apex_outside`: the annotated apex is not within onset..offset: the apex rule of
  `select_frames` applies (the middle frame), the same apex as the flow views.
- `positions`: the file names carry no increasing frame numbers: list positions are the time.
Errors (DataError naming the sample and the file): an offset before the onset, an apex frame
not in the clip's list; a listed file that is absent or unreadable is raised when it is read.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from pathlib import Path

from mer_bench.core.errors import DataError
from mer_bench.data.preprocess.frames import SampleFrames, frame_number


@dataclass(frozen=True)
class ClipSelection:
    """The frames of a clip view, in time order, and the notes on how they were chosen."""

    paths: tuple[Path, ...]
    times: tuple[int, ...]  # the frame number (or list position) of each chosen frame
    notes: tuple[str, ...] = ()


def _axis(frames: SampleFrames) -> tuple[list[int], bool]:
    """(time of each listed frame, True when these are frame numbers rather than positions)."""
    clip = frames.clip
    numbers = [frame_number(p) for p in clip]
    if all(n is not None for n in numbers) and all(a < b for a, b in zip(numbers, numbers[1:])):
        return [int(n) for n in numbers], True  # type: ignore[arg-type]
    return list(range(len(clip))), False


def uniform_times(start: int, end: int, length: int) -> list[int]:
    """round(start + k (end - start) / (length - 1)) for k = 0..length-1, halves up (exact
    integer arithmetic, so the ends are always start and end)."""
    span, steps = end - start, length - 1
    return [start + (2 * k * span + steps) // (2 * steps) for k in range(length)]


def apex_notes(frames: SampleFrames) -> tuple[str, ...]:
    """The `apex_outside` note of a sample whose annotated apex is not within onset..offset."""
    onset, apex, offset = frames.onset, frames.apex, frames.offset
    if apex is None or onset is None or offset is None or onset <= apex <= offset:
        return ()
    return (
        f"apex_outside: apex {apex} not in onset..offset {onset}..{offset}, "
        f"{frames.apex_rule} frame {Path(frames.apex_path).name} used",
    )


def select_clip(frames: SampleFrames, length: int, span: str) -> ClipSelection:
    """The `length` frames of a clip view over `span` ("offset" or "apex"), with notes."""
    clip = frames.clip
    times, numbered = _axis(frames)
    notes: list[str] = list(apex_notes(frames))
    if not numbered and len(clip) > 1:
        notes.append("positions: frame names carry no increasing numbers, list positions used")
    start = times[0]
    if span == "apex":
        try:
            end = times[clip.index(Path(frames.apex_path))]
        except ValueError:
            raise DataError(
                f"sample {frames.key}: apex frame {frames.apex_path} is not in the "
                "clip's frame list"
            ) from None
    elif numbered and frames.offset is not None:
        end = frames.offset
        if end < start:
            raise DataError(
                f"sample {frames.key}: offset {end} is before the onset frame {clip[0]} ({start})"
            )
    else:
        end = times[-1]
    if end - start + 1 < length:
        notes.append(
            f"short_clip: {end - start + 1} frames in onset..{span} for T={length}, "
            "nearest frames repeated"
        )
    wanted = uniform_times(start, end, length)
    chosen, missing = [], []
    for t in wanted:
        i = bisect.bisect_left(times, t)
        if i < len(times) and times[i] == t:
            chosen.append(i)
            continue
        missing.append(t)
        before, after = i - 1, i
        if after >= len(times) or (before >= 0 and t - times[before] <= times[after] - t):
            chosen.append(max(before, 0))
        else:
            chosen.append(after)
    if missing:
        shown = ", ".join(str(t) for t in sorted(set(missing)))
        notes.append(f"missing_frames: {shown} not listed, nearest listed frames used")
    return ClipSelection(
        tuple(clip[i] for i in chosen), tuple(times[i] for i in chosen), tuple(notes)
    )
