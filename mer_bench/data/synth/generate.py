"""Plan and write a whole synthetic MEGC2019-shaped collection: SMIC-HS, CASME II and SAMM trees.

The plan (subjects, clips, emotions, frame numbers) depends only on the seed and the counts; the
difficulty changes only how strongly and cleanly the faces move. Every random draw comes from a
generator seeded by (seed, dataset, subject, clip), so the output is identical for a seed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from mer_bench.data.datasets.corrections import corrections_for
from mer_bench.data.synth.faces import load_photos
from mer_bench.data.synth.identity import Subject, make_subject
from mer_bench.data.synth.motion import CLASS_EMOTIONS, DIFFICULTIES, draw_motion, render_clip
from mer_bench.data.synth.writers import ClipRecord, write_annotations, write_frames

#: Composite counts (negative, positive, surprise) and subject counts of the real datasets.
COMPOSITE_COUNTS: dict[str, tuple[int, int, int]] = {
    "smic": (70, 51, 43),
    "casme2": (88, 32, 25),
    "samm": (92, 26, 15),
}
REAL_SUBJECTS = {"smic": 16, "casme2": 24, "samm": 28}
CLASSES = ("negative", "positive", "surprise")
DATASETS = ("smic", "casme2", "samm")

#: Bump when the generator's output changes for the same parameters (names the demo cache).
GENERATOR_VERSION = "1"
DEFAULT_SUBJECTS = 12
DEFAULT_CLIPS_PER_SUBJECT = 10
#: Share of extra clips with emotions the composite drops (CASME II "others", SAMM "Other").
OTHERS_SHARE = 0.08

#: Composite class -> (owner's emotion, weight) for each dataset, weights as in the real sheets.
EMOTIONS: dict[str, dict[str, tuple[tuple[str, float], ...]]] = {
    "smic": {c: ((c, 1.0),) for c in CLASSES},
    "casme2": {
        "negative": (("disgust", 63), ("repression", 27)),
        "positive": (("happiness", 1.0),),
        "surprise": (("surprise", 1.0),),
        "other": (("others", 1.0),),
    },
    "samm": {
        "negative": (("Anger", 57), ("Contempt", 12), ("Disgust", 9), ("Fear", 8), ("Sadness", 6)),
        "positive": (("Happiness", 1.0),),
        "surprise": (("Surprise", 1.0),),
        "other": (("Other", 1.0),),
    },
}
_SMIC_CODES = {"negative": "ne", "positive": "po", "surprise": "sur"}
_OBJECTIVE = {"positive": 1, "negative": 2, "surprise": 4, "other": 7}


@dataclass(frozen=True)
class SynthConfig:
    """What `generate` makes; its stable hash names the demo's cache folder."""

    subjects: int = DEFAULT_SUBJECTS
    seed: int = 0
    difficulty: str = "standard"
    clips_per_subject: int = DEFAULT_CLIPS_PER_SUBJECT

    def __post_init__(self) -> None:
        if self.subjects < len(DATASETS):
            raise ValueError(
                f"need at least {len(DATASETS)} subjects (one per dataset), got {self.subjects}"
            )
        if self.difficulty not in DIFFICULTIES:
            raise ValueError(
                f"difficulty must be one of {', '.join(DIFFICULTIES)}, got {self.difficulty!r}"
            )
        if self.clips_per_subject < 1:
            raise ValueError(f"clips_per_subject must be positive, got {self.clips_per_subject}")


@dataclass(frozen=True)
class PlannedClip:
    """A clip to render: its annotation record, composite class and where its randomness comes from."""

    record: ClipRecord
    cls: str
    expression: str  # the emotion the face shows (EMOTION_AUS key; "other" for dropped clips)
    subject_index: int  # global, picks the identity
    length: int
    apex_index: int
    seed: tuple[int, ...]


def _apportion(total: int, weights: list[float], minimum: int = 0) -> list[int]:
    """Integer counts summing to `total`, proportional to `weights` (largest remainder)."""
    raw = np.asarray(weights, dtype=float) / sum(weights) * total
    counts = np.maximum(
        np.floor(raw).astype(int), minimum if total >= minimum * len(weights) else 0
    )
    order = np.argsort(-(raw - np.floor(raw)), kind="stable")
    i = 0
    while counts.sum() < total:
        counts[order[i % len(order)]] += 1
        i += 1
    while counts.sum() > total:
        j = int(np.argmax(counts))
        counts[j] -= 1
    return [int(c) for c in counts]


def subject_counts(subjects: int) -> dict[str, int]:
    """Subjects per dataset, in the real datasets' proportions, at least one each."""
    counts = _apportion(subjects, [REAL_SUBJECTS[d] for d in DATASETS], minimum=1)
    return dict(zip(DATASETS, counts))


def _subject_id(dataset: str, number: int) -> str:
    return {"smic": f"s{number}", "casme2": f"sub{number:02d}", "samm": f"{number + 5:03d}"}[
        dataset
    ]


def plan(config: SynthConfig) -> list[PlannedClip]:
    """Every clip of the collection, in writing order."""
    per_dataset = subject_counts(config.subjects)
    total = config.subjects * config.clips_per_subject
    totals = dict(zip(DATASETS, _apportion(total, [sum(COMPOSITE_COUNTS[d]) for d in DATASETS], 1)))
    clips: list[PlannedClip] = []
    subject_offset = 0
    for d_index, dataset in enumerate(DATASETS):
        rng = np.random.default_rng([config.seed, d_index])
        n_subjects = per_dataset[dataset]
        counts = _apportion(totals[dataset], list(COMPOSITE_COUNTS[dataset]), minimum=1)
        labels = [c for c, n in zip(CLASSES, counts) for _ in range(n)]
        if dataset != "smic":
            labels += ["other"] * max(1, int(round(OTHERS_SHARE * totals[dataset])))
        labels = [labels[i] for i in rng.permutation(len(labels))]
        start = rng.integers(n_subjects)
        owner = [(start + i) % n_subjects for i in range(len(labels))]  # deal round-robin
        for s in range(n_subjects):
            mine = [c for c, o in zip(labels, owner) if o == s]
            clips += _subject_clips(dataset, d_index, s, subject_offset + s, mine, config.seed)
        subject_offset += n_subjects
    return clips


def _subject_clips(
    dataset: str, d_index: int, s: int, global_index: int, labels: list[str], seed: int
) -> list[PlannedClip]:
    """One subject's clips: names, emotions and frame numbers in the owner's conventions."""
    rng = np.random.default_rng([seed, d_index, s, 7])
    subject = _subject_id(dataset, s + 1)
    # Names of real samples with a correction are avoided: a fix must never touch synthetic rows.
    used: set[str] = {c.sample for c in corrections_for(dataset) if c.sample != "*"}
    counters: dict[object, int] = {}
    out = []
    for k, cls in enumerate(labels):
        choices = EMOTIONS[dataset][cls]
        weights = np.array([w for _, w in choices], dtype=float)
        emotion = choices[int(rng.choice(len(choices), p=weights / weights.sum()))][0]
        expression = emotion.lower() if cls != "other" else "other"
        if dataset == "smic":  # SMIC-HS labels only the class: draw the emotion shown
            shown = CLASS_EMOTIONS[cls]
            w = np.array([x for _, x in shown], dtype=float)
            expression = shown[int(rng.choice(len(shown), p=w / w.sum()))][0]
        length = int(rng.choice([9, 11])) if dataset == "smic" else int(rng.integers(8, 13))
        apex_index = (length - 1) // 2 if dataset == "smic" else int(rng.integers(3, 6))
        inducement = 0
        if dataset == "casme2":
            while True:
                name = f"EP{int(rng.integers(1, 20)):02d}_{int(rng.integers(1, 10)):02d}"
                name += "f" if rng.random() < 0.2 else ""
                if name not in used:
                    break
            onset = int(rng.integers(10, 250))
        elif dataset == "samm":
            inducement = int(rng.integers(1, 8))
            name = ""
            while not name or name in used:
                counters[inducement] = counters.get(inducement, 0) + 1
                name = f"{subject}_{inducement}_{counters[inducement]}"
            onset = int(rng.integers(1000, 9000))
        else:
            counters[cls] = counters.get(cls, 0) + 1
            name = f"{subject}_{_SMIC_CODES[cls]}_{counters[cls]:02d}"
            onset = int(rng.integers(100000, 900000))
        used.add(name)
        record = ClipRecord(
            dataset=dataset,
            subject=subject,
            clip=name,
            emotion=emotion,
            action_units="",
            onset=onset,
            apex=onset + apex_index,
            offset=onset + length - 1,
            inducement=inducement,
            objective_class=_OBJECTIVE[cls],
        )
        out.append(
            PlannedClip(
                record, cls, expression, global_index, length, apex_index, (seed, d_index, s, k)
            )
        )
    return out


def generate(
    out: Path,
    subjects: int = DEFAULT_SUBJECTS,
    seed: int = 0,
    difficulty: str = "standard",
    clips_per_subject: int = DEFAULT_CLIPS_PER_SUBJECT,
    progress: Callable[[int, int], None] | None = None,
) -> list[ClipRecord]:
    """Write the three trees and their annotation sheets under `out`; return the clip records.

    `progress(done, total)` is called after each clip. The same arguments give identical files.
    """
    config = SynthConfig(subjects, seed, difficulty, clips_per_subject)
    photos = load_photos()
    level = DIFFICULTIES[difficulty]
    planned = plan(config)
    identities: dict[int, Subject] = {}
    records = []
    for i, clip in enumerate(planned):
        if clip.subject_index not in identities:
            identities.clear()  # clips are grouped by subject: keep one identity in memory
            rng = np.random.default_rng([seed, 1_000_003, clip.subject_index])
            identities[clip.subject_index] = make_subject(
                photos[clip.subject_index % len(photos)], rng
            )
        subject = identities[clip.subject_index]
        motion = draw_motion(
            np.random.default_rng(list(clip.seed)),
            clip.expression,
            clip.length,
            clip.apex_index,
            level,
        )
        record = _with_action_units(clip.record, motion.aus)
        write_frames(out, record, render_clip(subject, motion))
        records.append(record)
        if progress is not None:
            progress(i + 1, len(planned))
    write_annotations(out, records)
    return records


def _with_action_units(record: ClipRecord, aus: tuple[tuple[int, float], ...]) -> ClipRecord:
    """The record with its FACS string ("4+7") listing the AUs that were rendered."""
    return replace(record, action_units="+".join(str(au) for au in sorted({au for au, _ in aus})))
