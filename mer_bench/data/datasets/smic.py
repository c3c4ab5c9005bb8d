"""SMIC-HS (Li et al. 2013): 100 fps, 16 subjects, labels from folder names.

Layouts under the dataset root (first found wins): `SMIC_all_raw/HS/`, `SMIC_all_cropped/HS/`,
`HS/`, or the subject folders directly in the root; then `s1/micro/negative/s1_ne_01/
image559740.bmp` (cropped: `reg_image559740.bmp`). SMIC-HS ships no annotation sheet and no apex:
onset and offset are the first and last frames of a clip folder and the apex is its middle frame
(frame number of the ((n - 1) // 2)-th file). `non_micro/` folders are ignored.
"""

from __future__ import annotations

import re
from pathlib import Path

from mer_bench.data.datasets._common import (
    DatasetInfo,
    LoadResult,
    Problem,
    RawRow,
    find_dir,
    finish,
    has_child,
    index_frames,
)
from mer_bench.core.errors import DataError

NAME = "smic"
EMOTIONS = ("negative", "positive", "surprise")
LAYOUTS = ("SMIC_all_raw/HS", "SMIC_all_cropped/HS", "SMIC_all_raw", "SMIC_all_cropped", "HS")
_SUBJECT_DIR = r"s\d+"


def canonical_subject(text: str) -> str:
    """`s01`, `S1`, `1` -> `s1` (the owners' folder name)."""
    m = re.fullmatch(r"[sS]?0*(\d+)", text)
    return f"s{int(m.group(1))}" if m else text


def canonical_sample(text: str) -> str:
    """`s01_ne_01` -> `s1_ne_01` (the owners' clip folder name)."""
    m = re.fullmatch(r"[sS]0*(\d+)_(.+)", text)
    return f"s{int(m.group(1))}_{m.group(2)}" if m else text


def file_subject(canonical: str) -> str:
    """HTNet's flow files write `s01` where the owners write `s1`."""
    return f"s{int(canonical[1:]):02d}" if canonical[1:].isdigit() else canonical


def subject_spellings(canonical: str) -> tuple[str, ...]:
    """HTNet's spelling of a subject (`s01`)."""
    return (file_subject(canonical),)


def sample_spellings(canonical: str) -> tuple[str, ...]:
    """HTNet's spelling of a sample id: `s01_ne_01` for `s1_ne_01`."""
    head, _, tail = canonical.partition("_")
    return (f"{file_subject(head)}_{tail}",) if tail else ()


def frames_root(root: Path) -> Path | None:
    """The folder holding the `sN` subject folders, preferring the layouts in LAYOUTS order."""
    for name in LAYOUTS:
        if (root / name).is_dir() and has_child(_SUBJECT_DIR)(root / name):
            return root / name
    return find_dir(root, has_child(_SUBJECT_DIR), depth=3)


def inspect(root: Path) -> LoadResult:
    """Read SMIC-HS under `root`; every problem is collected, nothing raised per clip."""
    frames = frames_root(root)
    if frames is None:
        raise DataError(
            f"{root}: no SMIC-HS subject folders (looked for {', '.join(LAYOUTS)} "
            "holding s1, s2, ...)"
        )
    rows, problems = [], []
    subjects = sorted(
        (d for d in frames.iterdir() if d.is_dir() and re.fullmatch(_SUBJECT_DIR, d.name)),
        key=lambda d: int(d.name[1:]),
    )
    for subject_dir in subjects:
        subject = canonical_subject(subject_dir.name)
        micro = subject_dir / "micro"
        if not micro.is_dir():
            problems.append(Problem(NAME, str(micro), None, None, "no micro/ folder", fatal=False))
            continue
        for emotion_dir in sorted(d for d in micro.iterdir() if d.is_dir()):
            for clip in sorted(d for d in emotion_dir.iterdir() if d.is_dir()):
                sample = canonical_sample(clip.name)
                numbers = sorted(index_frames(clip))
                if not numbers:
                    problems.append(Problem(NAME, str(clip), None, sample, "no frames"))
                    continue
                rows.append(
                    RawRow(
                        subject,
                        sample,
                        numbers[0],
                        numbers[(len(numbers) - 1) // 2],
                        numbers[-1],
                        emotion_dir.name,
                        "",
                        clip,
                        None,
                        clip,
                    )
                )
    return finish(
        NAME, root, rows, EMOTIONS, {"annotation": "", "frames": str(frames)}, problems=problems
    )


DATASET = DatasetInfo(
    name="smic",
    folder="SMIC",
    order=2,
    inspect=inspect,
    title="SMIC-HS",
    aliases=("smic-hs", "smic_hs", "smichs"),
    canonical_subject=canonical_subject,
    canonical_sample=canonical_sample,
    file_subject=file_subject,
    subject_spellings=subject_spellings,
    sample_spellings=sample_spellings,
)
