"""Synthetic long videos: a neutral face for tens of seconds with micro- and macro-expressions
planted at known intervals, written in CAS(ME)^2's and SAMM Long Videos' layouts.

It reuses the demo's faces and action-unit motion (`mer_bench.data.synth`): each planted
expression is the AU displacement field of an emotion, scaled by the clip time course; between
them the face drifts slowly, blinks now and then and carries sensor noise, so a spotter must tell
expressions from distractors. Micro-expressions last MEGC's micro range (CAS(ME)^2 9-15 frames at
30 fps; SAMM 60-100 at 200 fps) and are weaker than macro ones (CAS(ME)^2 24-60; SAMM 140-400).
Frames are stored at `FRAME_SIZE` (small, so tests and the demo stay fast). Rendering streams:
frames are written as they are made, never held as a whole video.
"""

from __future__ import annotations

import io
import json
import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path

import cv2
import numpy as np

from mer_bench.core.cache_files import build_folder, check_marker, write_marker
from mer_bench.core.cards import stable_hash
from mer_bench.data.synth.faces import load_photos
from mer_bench.data.synth.identity import Subject, make_subject
from mer_bench.data.synth.motion import EMOTION_AUS, au_field, time_course
from mer_bench.data.synth.writers import _normalise_zip

log = logging.getLogger(__name__)

#: Bumped whenever the generated videos would change for the same config.
LONG_GENERATOR_VERSION = "1"
#: Stored frame size (width, height): half the demo's rendering size.
FRAME_SIZE = (160, 120)
#: Written last; a tree without it is incomplete and is regenerated.
MARKER = "COMPLETE.json"

#: Each dataset's frame rate, folder under the demo root and expression lengths (frames).
LAYOUTS = {
    "casme2-lv": {"fps": 30, "folder": "CASME2_LV", "micro": (9, 15), "macro": (24, 60)},
    "samm-lv": {"fps": 200, "folder": "SAMM_LV", "micro": (60, 100), "macro": (140, 400)},
}
#: Emotion label of the sheets -> the AU prototype the demo renders for it.
EMOTION_PROTOTYPE = {
    "negative": "disgust",
    "positive": "happiness",
    "surprise": "surprise",
    "others": "others",
}
#: CAS(ME)^2 video codes and names (naming rule2), as the owners number them.
CASME2_VIDEOS = (
    ("0101", "disgust1", "disgustingteeth"),
    ("0102", "disgust2", "smellingdisgust"),
    ("0401", "anger1", "angerwhole"),
    ("0502", "happy2", "happycoffee"),
)


@dataclass(frozen=True)
class LongSynthConfig:
    """What to generate: per dataset, subjects x videos of `seconds`, with planted expressions."""

    datasets: tuple[str, ...] = ("casme2-lv", "samm-lv")
    subjects: int = 3
    videos_per_subject: int = 2
    seconds: float = 30.0
    samm_seconds: float = 12.0  # SAMM is 200 fps: shorter videos keep the demo small
    micro_per_video: int = 3
    macro_per_video: int = 2
    seed: int = 0

    def __post_init__(self) -> None:
        unknown = [d for d in self.datasets if d not in LAYOUTS]
        if unknown:
            raise ValueError(
                f"unknown long-video dataset {unknown[0]!r} (known: {', '.join(LAYOUTS)})"
            )
        if self.subjects < 2:
            raise ValueError(f"LOSO needs at least 2 subjects, got {self.subjects}")


@dataclass
class PlantedExpression:
    """One planted expression: frames in the video's numbering (1-based, inclusive)."""

    onset: int
    apex: int
    offset: int
    kind: str
    emotion: str
    aus: tuple[tuple[int, float], ...]


@dataclass
class PlannedVideo:
    dataset: str
    subject: str
    video: str
    n_frames: int
    fps: int
    expressions: list[PlantedExpression] = field(default_factory=list)


def _plan_video(
    rng: np.random.Generator,
    dataset: str,
    subject: str,
    video: str,
    seconds: float,
    config: LongSynthConfig,
) -> PlannedVideo:
    layout = LAYOUTS[dataset]
    fps = int(layout["fps"])
    n = round(seconds * fps)
    planned = PlannedVideo(dataset, subject, video, n, fps)
    kinds = ["micro"] * config.micro_per_video + ["macro"] * config.macro_per_video
    rng.shuffle(kinds)
    lengths = [int(rng.integers(layout[k][0], layout[k][1] + 1)) for k in kinds]
    gap_total = n - sum(lengths)
    if gap_total < (len(kinds) + 1) * fps // 2:
        raise ValueError(f"{seconds} s at {fps} fps is too short for {len(kinds)} expressions")
    # Gaps of at least half a second between expressions and at the ends.
    cuts = np.sort(rng.uniform(0, 1, size=len(kinds) + 1))
    weights = np.diff(np.concatenate([[0.0], cuts, [1.0]]))[: len(kinds) + 1]
    free = gap_total - (len(kinds) + 1) * (fps // 2)
    gaps = (fps // 2) + np.floor(weights / weights.sum() * free).astype(int)
    t = 1
    for kind, length, gap in zip(kinds, lengths, gaps):
        t += int(gap)
        emotion = str(rng.choice(list(EMOTION_PROTOTYPE)))
        proto = EMOTION_PROTOTYPE[emotion]
        level = (1.6 if kind == "micro" else 3.2) * float(rng.uniform(0.85, 1.15))
        if proto in EMOTION_AUS:
            aus = tuple((au, level) for au in EMOTION_AUS[proto][0])
        else:
            aus = ((int(rng.choice([4, 14, 7])), level),)
        apex = t + round(length * float(rng.uniform(0.35, 0.6)))
        planned.expressions.append(PlantedExpression(t, apex, t + length - 1, kind, emotion, aus))
        t += length
    return planned


def plan(config: LongSynthConfig) -> list[PlannedVideo]:
    """Every video to generate, with its planted expressions (deterministic per config)."""
    rng = np.random.default_rng(config.seed)
    videos = []
    for dataset in config.datasets:
        seconds = config.samm_seconds if dataset == "samm-lv" else config.seconds
        for s in range(config.subjects):
            for v in range(config.videos_per_subject):
                if dataset == "casme2-lv":
                    subject = f"s{15 + s}"
                    video = f"{15 + s}_{CASME2_VIDEOS[v % len(CASME2_VIDEOS)][0]}"
                else:
                    subject = f"{6 + s:03d}"
                    video = f"{subject}_{v + 1}"
                videos.append(_plan_video(rng, dataset, subject, video, seconds, config))
    return videos


def _course(e: PlantedExpression) -> np.ndarray:
    """Intensity over [onset, offset]: up to the apex, back to 0 at the offset."""
    length = e.offset - e.onset + 1
    course = time_course(length, e.apex - e.onset)
    # time_course eases back to 0.2 at the offset (a cut clip); a planted one returns to neutral.
    fade = np.clip((length - 1 - np.arange(length)) / max(1, length - 1 - (e.apex - e.onset)), 0, 1)
    return np.where(np.arange(length) <= e.apex - e.onset, course, course * fade)


def render_video(subject: Subject, video: PlannedVideo, rng: np.random.Generator):
    """Frames of one planned video, RGB uint8 at FRAME_SIZE, yielded one at a time."""
    h, w = subject.image.shape[:2]
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    fields = [au_field(subject, e.aus) for e in video.expressions]
    courses = [_course(e) for e in video.expressions]
    # Slow head drift (a smooth random path, under a pixel) and a few blinks as distractors.
    knots = rng.normal(0.0, 0.35, size=(max(2, video.n_frames // (2 * video.fps) + 2), 2))
    path = np.stack(
        [
            np.interp(
                np.linspace(0, len(knots) - 1, video.n_frames), np.arange(len(knots)), knots[:, i]
            )
            for i in range(2)
        ],
        axis=1,
    )
    blink_len = max(3, video.fps // 8)
    blinks = set()
    for _ in range(max(1, video.n_frames // (video.fps * 10))):
        start = int(rng.integers(1, max(2, video.n_frames - blink_len)))
        blinks.update(range(start, start + blink_len))
    lids = _lid_field(subject)
    for t in range(1, video.n_frames + 1):
        dx = xs - np.float32(path[t - 1, 0])
        dy = ys - np.float32(path[t - 1, 1])
        for e, f, c in zip(video.expressions, fields, courses):
            if e.onset <= t <= e.offset:
                weight = np.float32(c[t - e.onset])
                dx = dx - f[..., 0] * weight
                dy = dy - f[..., 1] * weight
        if t in blinks:
            dx = dx - lids[..., 0]
            dy = dy - lids[..., 1]
        frame = cv2.remap(subject.image, dx, dy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
        frame = cv2.resize(frame, FRAME_SIZE, interpolation=cv2.INTER_AREA)
        frame = frame + rng.normal(0.0, 1.5, size=frame.shape).astype(np.float32)
        yield np.clip(np.rint(frame), 0, 255).astype(np.uint8)


def _lid_field(subject: Subject) -> np.ndarray:
    """A partial blink: upper lids down by about half the eye opening."""
    from mer_bench.data.synth.motion import _UPPER_LIDS, Anchor, _field

    lm = subject.landmarks
    opening = float(np.mean(np.linalg.norm(lm[[41, 40, 47, 46]] - lm[[37, 38, 43, 44]], axis=1)))
    return _field(subject, [(Anchor(_UPPER_LIDS, 0.0, 0.5, sigma=0.045), opening)])


def _frame_path(root: Path, video: PlannedVideo, t: int) -> Path:
    if video.dataset == "casme2-lv":
        code = video.video.split("_")[1]
        name = next(n for c, _, n in CASME2_VIDEOS if c == code)
        return root / "rawpic" / video.subject / f"{video.video}{name}" / f"img{t:03d}.jpg"
    return root / "SAMM_longvideos" / video.video / f"{video.video}_{t:04d}.jpg"


def _write_book(path: Path, sheets: list[tuple[str, list[list]]]) -> None:
    """A workbook of several sheets, byte-identical for equal rows."""
    from openpyxl import Workbook

    book = Workbook()
    book.remove(book.active)
    for title, rows in sheets:
        sheet = book.create_sheet(title)
        for row in rows:
            sheet.append(row)
    buffer = io.BytesIO()
    book.save(buffer)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(_normalise_zip(buffer.getvalue()))


def write_annotations(root: Path, dataset: str, videos: list[PlannedVideo]) -> Path:
    """The dataset's annotation workbook, as its owners lay it out."""
    if dataset == "casme2-lv":
        subjects = sorted({v.subject for v in videos}, key=lambda s: int(s[1:]))
        participant = {s: i + 1 for i, s in enumerate(subjects)}
        rows = []
        for v in videos:
            name = next(n for c, n, _ in CASME2_VIDEOS if c == v.video.split("_")[1])
            for k, e in enumerate(v.expressions, start=1):
                rows.append(
                    [
                        participant[v.subject],
                        f"{name}_{k}",
                        e.onset,
                        e.apex,
                        e.offset,
                        "+".join(str(au) for au, _ in e.aus),
                        e.emotion,
                        f"{e.kind}-expression",
                        e.emotion,
                    ]
                )
        rule1 = [[s, s[1:], participant[s]] for s in subjects]
        rule2 = [[int(c), n] for c, n, _ in CASME2_VIDEOS]
        path = root / "CAS(ME)^2code_final.xlsx"
        _write_book(
            path, [("CASFEcode_final", rows), ("naming rule1", rule1), ("naming rule2", rule2)]
        )
        return path
    preamble = [["SAMM Long Videos (synthetic copy made by mer-bench)"]] + [[]] * 8
    header = [
        "Subject",
        "Filename",
        "Inducement Code",
        "Onset",
        "Apex",
        "Offset",
        "Duration",
        "Type",
        "Action Units",
        "Notes",
    ]
    rows = []
    for v in videos:
        for k, e in enumerate(v.expressions, start=1):
            rows.append(
                [
                    v.subject,
                    f"{v.video}_{k}",
                    1,
                    e.onset,
                    e.apex,
                    e.offset,
                    e.offset - e.onset + 1,
                    "Micro - 1/2" if e.kind == "micro" else "Macro",
                    "+".join(str(au) for au, _ in e.aus),
                    None,
                ]
            )
    path = root / "SAMM_LongVideos_V2_Release.xlsx"
    _write_book(path, [("FACS_Movement_Only", [*preamble, header, *rows])])
    return path


def generate_long_videos(out: Path, config: LongSynthConfig) -> dict[str, Path]:
    """Write every dataset of `config` under `out/<folder>`; returns dataset -> root."""
    photos = load_photos()
    rng = np.random.default_rng(config.seed + 1)
    subjects: dict[str, Subject] = {}
    roots: dict[str, Path] = {}
    videos = plan(config)
    for dataset in config.datasets:
        root = out / str(LAYOUTS[dataset]["folder"])
        mine = [v for v in videos if v.dataset == dataset]
        for v in mine:
            key = f"{dataset}/{v.subject}"
            if key not in subjects:
                subjects[key] = make_subject(photos[len(subjects) % len(photos)], rng)
            frame_rng = np.random.default_rng([config.seed, len(roots), mine.index(v)])
            for t, frame in enumerate(render_video(subjects[key], v, frame_rng), start=1):
                path = _frame_path(root, v, t)
                if t == 1:
                    path.parent.mkdir(parents=True, exist_ok=True)
                cv2.imwrite(
                    str(path),
                    cv2.cvtColor(frame, cv2.COLOR_RGB2BGR),
                    [cv2.IMWRITE_JPEG_QUALITY, 92],
                )
        write_annotations(root, dataset, mine)
        roots[dataset] = root
        log.info("wrote %d %s videos into %s", len(mine), dataset, root)
    return roots


def long_demo_dir(cache_dir: Path, config: LongSynthConfig) -> Path:
    """<cache>/demo-long/<hash of the config and generator version>."""
    return (
        Path(cache_dir)
        / "demo-long"
        / stable_hash({"config": asdict(config), "generator": LONG_GENERATOR_VERSION})
    )


def ensure_long_demo(cache_dir: Path, config: LongSynthConfig) -> dict[str, Path]:
    """The demo's long videos for `config`, generated once into the cache; dataset -> root.

    As the short demo (`mer_bench.data.sources.demo.ensure_demo`): generated under a lock into
    a temporary folder renamed into place, its marker listing every file's checksum, verified
    before use; runs started at once generate it once, and a damaged copy is generated again
    with a notice naming it."""
    root = long_demo_dir(cache_dir, config)
    expect = {"config": json.loads(json.dumps(asdict(config))), "generator": LONG_GENERATOR_VERSION}

    def build(folder: Path) -> None:
        log.info("generating the long-video demo into %s", root)
        generate_long_videos(folder, config)
        write_marker(folder, MARKER, expect)

    build_folder(
        root, lambda folder: check_marker(folder, MARKER, expect), build, "long-video demo"
    )
    return {d: root / str(LAYOUTS[d]["folder"]) for d in config.datasets}
