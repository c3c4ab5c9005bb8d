"""Action-unit-like facial motions and the distractors around them, rendered frame by frame.

Each action unit (AU) moves a few of the 68 landmarks by a vector given in face coordinates
(x towards the face's left-to-right in the image, y towards the chin; "in" towards the midline)
and in units of the apex amplitude. A Gaussian around each anchor turns the vectors into a
smooth displacement field; a frame is the neutral face resampled through that field (cv2.remap)
scaled by the onset -> apex -> offset time course. Each emotion has its own AU prototype, so the
emotions inside one composite class differ as they do in real data. Distractors (head motion,
blinks, sensor noise, illumination flicker) are added on top: a model must find the AUs in noise.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from mer_bench.data.synth.identity import FACE_WIDTH, Subject

_BROW_INNER = (19, 20, 21, 22, 23, 24)
_BROW_OUTER = (17, 18, 25, 26)
_UPPER_LIDS = (37, 38, 43, 44)
_LOWER_LIDS = (40, 41, 46, 47)
_MOUTH_CORNERS = (48, 54)
_NEAR_CORNERS = (49, 59, 53, 55)


@dataclass(frozen=True)
class Anchor:
    """Landmarks moved together: vector (dx_in, dy) in amplitude units; dx_in > 0 = towards the midline.

    `below` shifts the anchor down by that fraction of the face width (the cheek under the eye).
    """

    points: tuple[int, ...]
    dx_in: float
    dy: float
    sigma: float = 0.075
    below: float = 0.0


#: Action units used by the demo (FACS numbers), each a set of anchors.
ACTION_UNITS: dict[int, tuple[Anchor, ...]] = {
    1: (Anchor((20, 21, 22, 23), 0.1, -1.0), Anchor((19, 24), 0.0, -0.5)),  # inner brow raiser
    2: (Anchor((17, 18, 25, 26), -0.1, -0.9), Anchor((19, 24), 0.0, -0.5)),  # outer brow raiser
    4: (Anchor(_BROW_INNER, 0.6, 0.8), Anchor(_BROW_OUTER, 0.2, 0.4)),  # brow lowerer
    5: (Anchor(_UPPER_LIDS, 0.0, -0.55, sigma=0.05),),  # upper lid raiser
    6: (
        Anchor(_LOWER_LIDS, 0.0, -0.3, sigma=0.05),
        Anchor((40, 47), 0.0, -0.55, sigma=0.08, below=0.17),
    ),  # cheek raiser
    7: (
        Anchor(_LOWER_LIDS, 0.0, -0.45, sigma=0.05),
        Anchor(_UPPER_LIDS, 0.0, 0.15, sigma=0.05),
    ),  # lid tightener
    12: (
        Anchor(_MOUTH_CORNERS, -0.6, -0.7, sigma=0.085),
        Anchor(_NEAR_CORNERS, -0.3, -0.35, sigma=0.07),
    ),  # lip corner puller
    9: (
        Anchor((31, 35), 0.15, -0.7, sigma=0.06),
        Anchor((21, 22), 0.2, 0.3, sigma=0.06),
    ),  # nose wrinkler
    14: (Anchor((54,), -0.45, -0.25, sigma=0.08),),  # dimpler, one side
    15: (
        Anchor(_MOUTH_CORNERS, 0.1, 0.8, sigma=0.085),
        Anchor(_NEAR_CORNERS, 0.0, 0.4, sigma=0.07),
    ),  # lip corner depressor
}

#: Per emotion: the AUs always present and optional ones with their probability (after the
#: usual FACS prototypes). Emotions of one composite class differ, as in the real datasets: a
#: fearful face raises its brows like a surprised one, a contemptuous one pulls one lip corner.
EMOTION_AUS: dict[str, tuple[tuple[int, ...], dict[int, float]]] = {
    "happiness": ((12,), {6: 0.6}),
    "surprise": ((1, 2), {5: 0.6}),
    "anger": ((4,), {7: 0.6, 15: 0.2}),
    "disgust": ((4, 9), {7: 0.4, 15: 0.3}),
    "repression": ((15,), {14: 0.5, 4: 0.3}),
    "contempt": ((14,), {4: 0.3}),
    "fear": ((1, 4), {2: 0.5, 5: 0.5}),
    "sadness": ((1, 4), {15: 0.7}),
}
#: The composite classes' emotions (what SMIC-HS's "negative" folder mixes), with weights.
CLASS_EMOTIONS: dict[str, tuple[tuple[str, float], ...]] = {
    "positive": (("happiness", 1.0),),
    "surprise": (("surprise", 1.0),),
    "negative": (
        ("anger", 0.35),
        ("disgust", 0.25),
        ("repression", 0.15),
        ("contempt", 0.08),
        ("fear", 0.09),
        ("sadness", 0.08),
    ),
}
#: Single AUs of the samples the composite drops ("others").
OTHER_AUS = (2, 5, 6, 7, 9, 14, 15)


@dataclass(frozen=True)
class Difficulty:
    """How hard the demo is: apex amplitude (pixels at FACE_WIDTH) against the distractors."""

    name: str
    amplitude: float
    amplitude_spread: float  # sigma of the log-normal per-sample amplitude factor
    head_motion: float  # pixels of global drift from onset to apex, at most
    noise: float  # sensor noise sigma (0-255 scale)
    flicker: float  # sigma of the per-frame gain change
    blink: float  # probability of a blink during the clip
    confuser: float  # probability of an AU of another emotion on top
    confuser_strength: tuple[float, float] = (0.2, 0.45)  # its amplitude, relative to the class's


#: Tuned so that a linear classifier on the demo's 28x28 flow (12 subjects, LOSO) reaches UF1
#: about 0.97 (easy), 0.86 (standard) and 0.7-0.8 (hard): learnable, never trivially so.
DIFFICULTIES: dict[str, Difficulty] = {
    "easy": Difficulty("easy", 2.2, 0.35, 0.8, 2.0, 0.01, 0.15, 0.25, (0.2, 0.45)),
    "standard": Difficulty("standard", 1.0, 0.8, 1.5, 3.5, 0.015, 0.3, 0.5, (0.4, 1.0)),
    "hard": Difficulty("hard", 0.6, 1.0, 2.0, 5.0, 0.025, 0.4, 0.6, (0.6, 1.2)),
}


@dataclass(frozen=True)
class ClipMotion:
    """Everything that moves in one clip. Frames are numbered 0..length-1; apex is an index."""

    aus: tuple[tuple[int, float], ...]  # (AU, apex amplitude in pixels at FACE_WIDTH)
    length: int
    apex: int
    head_shift: tuple[float, float]  # global drift at the last frame, pixels
    head_roll: float  # degrees at the last frame
    blink_frame: int  # -1 = no blink
    noise: float
    flicker: tuple[float, ...]  # per-frame gain offsets
    seed: int  # sensor noise stream


def draw_motion(
    rng: np.random.Generator, emotion: str, length: int, apex: int, difficulty: Difficulty
) -> ClipMotion:
    """The random motion of one clip showing `emotion` (EMOTION_AUS; anything else: "others")."""
    level = difficulty.amplitude * float(np.exp(rng.normal(0.0, difficulty.amplitude_spread)))
    if emotion not in EMOTION_AUS:
        aus = [(int(rng.choice(OTHER_AUS)), 0.8 * level)]
    else:
        always, optional = EMOTION_AUS[emotion]
        aus = [(au, level * rng.uniform(0.8, 1.2)) for au in always]
        aus += [
            (au, level * rng.uniform(0.5, 1.0)) for au, p in optional.items() if rng.random() < p
        ]
        if rng.random() < difficulty.confuser:
            others = [e for e in EMOTION_AUS if e != emotion]
            other = others[int(rng.integers(len(others)))]
            aus.append(
                (EMOTION_AUS[other][0][0], level * rng.uniform(*difficulty.confuser_strength))
            )
    angle = rng.uniform(0, 2 * np.pi)
    drift = difficulty.head_motion * rng.uniform(0.2, 1.0) * length / max(apex, 1)
    return ClipMotion(
        aus=tuple(aus),
        length=length,
        apex=apex,
        head_shift=(float(drift * np.cos(angle)), float(drift * np.sin(angle))),
        head_roll=float(rng.normal(0.0, 0.15 * difficulty.head_motion)),
        blink_frame=int(rng.integers(1, length)) if rng.random() < difficulty.blink else -1,
        noise=difficulty.noise,
        flicker=tuple(float(x) for x in rng.normal(0.0, difficulty.flicker, size=length)),
        seed=int(rng.integers(2**31)),
    )


def time_course(length: int, apex: int) -> np.ndarray:
    """Expression intensity per frame: 0 at onset, 1 at apex, easing back towards 0 at offset."""
    t = np.arange(length, dtype=np.float64)
    rise = np.sin(0.5 * np.pi * np.clip(t / max(apex, 1), 0, 1)) ** 2
    fall = np.cos(0.5 * np.pi * np.clip((t - apex) / max(length - 1 - apex, 1), 0, 1)) ** 2
    return np.where(t <= apex, rise, 0.2 + 0.8 * fall)


def _face_axes(lm: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """Unit x (eye to eye), unit y (towards the chin) and the face's midline x-coordinate offset."""
    ex = lm[42:48].mean(0) - lm[36:42].mean(0)
    ex = ex / np.linalg.norm(ex)
    ey = np.array([-ex[1], ex[0]])
    return ex, ey, float(np.dot(lm[27:36].mean(0), ex))


def _field(subject: Subject, anchors: list[tuple[Anchor, float]]) -> np.ndarray:
    """Displacement (H, W, 2), pixels: each anchor's vector times `amplitude`, spread by a Gaussian."""
    lm = subject.landmarks.astype(np.float64)
    h, w = subject.image.shape[:2]
    ex, ey, mid = _face_axes(lm)
    scale = subject.face_width / FACE_WIDTH
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    field = np.zeros((h, w, 2), np.float32)
    for anchor, amplitude in anchors:
        sigma = anchor.sigma * subject.face_width
        for i in anchor.points:
            p = lm[i] + anchor.below * subject.face_width * ey
            inward = 1.0 if np.dot(p, ex) < mid else -1.0
            vec = amplitude * scale * (anchor.dx_in * inward * ex + anchor.dy * ey)
            g = np.exp(-((xs - p[0]) ** 2 + (ys - p[1]) ** 2) / (2 * sigma**2))
            field[..., 0] += vec[0] * g
            field[..., 1] += vec[1] * g
    return field


def au_field(subject: Subject, aus: tuple[tuple[int, float], ...]) -> np.ndarray:
    """Apex displacement (H, W, 2), pixels, of the AUs (AU, amplitude) on this subject's face."""
    return _field(subject, [(anchor, amp) for au, amp in aus for anchor in ACTION_UNITS[au]])


def _blink_field(subject: Subject) -> np.ndarray:
    """Upper lids moved down by most of the eye opening: a full blink at weight 1."""
    lm = subject.landmarks
    opening = float(np.mean(np.linalg.norm(lm[[41, 40, 47, 46]] - lm[[37, 38, 43, 44]], axis=1)))
    scale = subject.face_width / FACE_WIDTH
    return _field(subject, [(Anchor(_UPPER_LIDS, 0.0, 0.8, sigma=0.045), opening / scale)])


def render_clip(subject: Subject, motion: ClipMotion) -> list[np.ndarray]:
    """The clip's frames as RGB uint8 (H, W, 3), onset first."""
    h, w = subject.image.shape[:2]
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    expression = au_field(subject, motion.aus)
    blink = _blink_field(subject) if motion.blink_frame >= 0 else None
    course = time_course(motion.length, motion.apex)
    centre = subject.landmarks.mean(0)
    noise_rng = np.random.default_rng(motion.seed)
    frames = []
    for t in range(motion.length):
        disp = expression * np.float32(course[t])
        if blink is not None:
            weight = max(0.0, 1.0 - abs(t - motion.blink_frame) / 1.5)
            disp = disp + blink * np.float32(weight)
        # Head motion: rigid drift and roll about the face centre, growing linearly over the clip.
        frac = t / max(motion.length - 1, 1)
        rot = cv2.getRotationMatrix2D(
            (float(centre[0]), float(centre[1])), motion.head_roll * frac, 1.0
        )
        rot[:, 2] += np.array(motion.head_shift) * frac
        inv = cv2.invertAffineTransform(rot)
        # out(x) = neutral(R^-1(x) - disp(x)): expression displacement, then head pose.
        bx = inv[0, 0] * xs + inv[0, 1] * ys + inv[0, 2] - disp[..., 0]
        by = inv[1, 0] * xs + inv[1, 1] * ys + inv[1, 2] - disp[..., 1]
        frame = cv2.remap(
            subject.image,
            bx.astype(np.float32),
            by.astype(np.float32),
            cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_REFLECT,
        )
        frame = frame * np.float32(1.0 + motion.flicker[t])
        frame = frame + noise_rng.normal(0.0, motion.noise, size=frame.shape).astype(np.float32)
        frames.append(np.clip(np.rint(frame), 0, 255).astype(np.uint8))
    return frames
