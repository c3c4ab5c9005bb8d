"""Per-subject identity: one of the demo photos, varied so that every subject looks different.

A subject is a photo placed in the demo frame with its own scale, small head pose (roll, yaw,
pitch), a smooth random change of face geometry, skin tone, lighting and background. Variation
between subjects is what makes leave-one-subject-out evaluation meaningful on synthetic data.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from mer_bench.data.synth.faces import FacePhoto

#: Frame size (width, height) of every generated video: small for speed, 4:3 like the cameras.
FRAME_SIZE = (320, 240)
#: Jaw width (landmark 0 to 16) of a subject at scale 1, in pixels.
FACE_WIDTH = 122.0


@dataclass(frozen=True)
class Subject:
    """A rendered neutral face: RGB float32 (H, W, 3) on 0..255 and its 68 landmarks (x, y)."""

    image: np.ndarray
    landmarks: np.ndarray
    photo: str

    @property
    def face_width(self) -> float:
        return float(np.linalg.norm(self.landmarks[16] - self.landmarks[0]))


def _placement(photo: FacePhoto, rng: np.random.Generator) -> np.ndarray:
    """3x3 similarity: photo -> frame, levelling the eyes, with the subject's scale, roll and shift."""
    lm = photo.landmarks
    eye_l, eye_r = lm[36:42].mean(0), lm[42:48].mean(0)
    level = np.degrees(np.arctan2(eye_r[1] - eye_l[1], eye_r[0] - eye_l[0]))
    scale = FACE_WIDTH * rng.uniform(0.88, 1.08) / np.linalg.norm(lm[16] - lm[0])
    roll = rng.uniform(-5.0, 5.0)
    centre = lm.mean(0)
    w, h = FRAME_SIZE
    target = np.array([w / 2 + rng.uniform(-14, 14), h * 0.55 + rng.uniform(-6, 6)])
    m = cv2.getRotationMatrix2D((float(centre[0]), float(centre[1])), level + roll, scale)
    m[:, 2] += target - centre
    return np.vstack([m, [0.0, 0.0, 1.0]])


def _pose(rng: np.random.Generator) -> np.ndarray:
    """3x3 homography of a small yaw and pitch of the (planar) face about the frame centre."""
    w, h = FRAME_SIZE
    focal = 2.0 * w
    k = np.array([[focal, 0, w / 2], [0, focal, h / 2], [0, 0, 1]])
    yaw, pitch = np.radians(rng.uniform(-9, 9)), np.radians(rng.uniform(-6, 6))
    ry = np.array([[np.cos(yaw), 0, np.sin(yaw)], [0, 1, 0], [-np.sin(yaw), 0, np.cos(yaw)]])
    rx = np.array(
        [[1, 0, 0], [0, np.cos(pitch), -np.sin(pitch)], [0, np.sin(pitch), np.cos(pitch)]]
    )
    return k @ ry @ rx @ np.linalg.inv(k)


def _smooth_field(rng: np.random.Generator, grid: tuple[int, int], amplitude: float) -> np.ndarray:
    """A smooth random field (H, W, C) upsampled bicubically from a coarse grid of normal values."""
    w, h = FRAME_SIZE
    coarse = rng.normal(0.0, amplitude, size=grid).astype(np.float32)
    return cv2.resize(coarse, (w, h), interpolation=cv2.INTER_CUBIC).reshape(h, w, -1)


def _face_mask(landmarks: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Feathered ellipse (H, W) in 0..1 around face and hair: what is kept of the photo."""
    w, h = FRAME_SIZE
    centre = landmarks.mean(0)
    width = np.linalg.norm(landmarks[16] - landmarks[0])
    axes = (int(width * rng.uniform(0.68, 0.8)), int(width * rng.uniform(0.9, 1.02)))
    mask = np.zeros((h, w), np.float32)
    top = (int(centre[0]), int(centre[1] - width * 0.12))
    cv2.ellipse(mask, top, axes, 0.0, 0.0, 360.0, 1.0, -1)
    return cv2.GaussianBlur(mask, (0, 0), width * 0.06)


def make_subject(photo: FacePhoto, rng: np.random.Generator) -> Subject:
    """A new identity from `photo`, fully determined by `rng`'s state."""
    w, h = FRAME_SIZE
    transform = _pose(rng) @ _placement(photo, rng)
    image = cv2.warpPerspective(
        photo.image.astype(np.float32),
        transform,
        (w, h),
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_REFLECT,
    )
    lm = cv2.perspectiveTransform(photo.landmarks[None].astype(np.float64), transform)[0]

    # Face geometry: a smooth displacement d, out(x) = in(x + d(x)), so points move by about -d.
    warp = _smooth_field(rng, (4, 5, 2), 2.6)
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    image = cv2.remap(
        image, xs + warp[..., 0], ys + warp[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT
    )
    moved = lm.copy()
    for _ in range(3):  # fixed point of p_out = p_in - d(p_out)
        ix = np.clip(np.round(moved).astype(int), 0, [w - 1, h - 1])
        moved = lm - warp[ix[:, 1], ix[:, 0]]
    lm = moved

    # Skin tone and overall brightness, then a lighting gradient across the face.
    tone = np.array([rng.uniform(0.85, 1.12), rng.uniform(0.82, 1.05), rng.uniform(0.75, 1.02)])
    image = image * (tone * rng.uniform(0.8, 1.12)).astype(np.float32)
    gx, gy = rng.uniform(-0.35, 0.35), rng.uniform(-0.2, 0.2)
    light = 1.0 + gx * (xs - w / 2) / w + gy * (ys - h / 2) / h
    image = image * light[..., None]

    # Background: a smooth random colour field with a little texture, outside a face ellipse.
    grey = rng.uniform(40, 200)
    colour = (grey + rng.uniform(-30, 30, size=3)).astype(np.float32)
    background = colour + _smooth_field(rng, (3, 4, 3), 18.0) + _smooth_field(rng, (12, 16, 1), 5.0)
    mask = _face_mask(lm, rng)[..., None]
    image = mask * image + (1.0 - mask) * background
    return Subject(
        image=np.clip(image, 0, 255).astype(np.float32),
        landmarks=lm.astype(np.float32),
        photo=photo.name,
    )
