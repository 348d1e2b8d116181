"""Rendering clips of textured objects that follow one motion pattern (the synthetic action classes).

Every class moves the objects of a scene the same way (translate, rotate or zoom); appearance, start
positions, orientations, scales and speeds are random, and each pattern's frames have the same
distribution of positions, orientations and scales. So a single frame says nothing about the class:
only how frames change over time does.

Two choices keep the motion learnable by a 3D CNN trained from scratch on a few hundred clips:

- Object textures are smooth luminance blobs with features larger than a frame's displacement. Fine
  stripes alias (a grating moving most of its period per frame seems to move backwards) and only show
  motion across them (the aperture problem).
- Every scene has about the same mean colour (mid grey, zero-mean textures). A per-video colour cast
  is the first thing a small network fits, and it swamps the motion signal for hundreds of steps.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

# Name -> (kind, parameter): translate direction (dx, dy) in image coordinates (y points down),
# rotation sign (+1 counterclockwise on screen), zoom sign (+1 grows).
MOTIONS: dict[str, tuple[str, tuple[float, float] | int]] = {
    "MoveRight": ("translate", (1.0, 0.0)),
    "MoveLeft": ("translate", (-1.0, 0.0)),
    "MoveUp": ("translate", (0.0, -1.0)),
    "MoveDown": ("translate", (0.0, 1.0)),
    "RotateClockwise": ("rotate", -1),
    "RotateCounterclockwise": ("rotate", 1),
    "ZoomIn": ("zoom", 1),
    "ZoomOut": ("zoom", -1),
    "MoveUpRight": ("translate", (math.sqrt(0.5), -math.sqrt(0.5))),
    "MoveDownLeft": ("translate", (-math.sqrt(0.5), math.sqrt(0.5))),
    "MoveUpLeft": ("translate", (-math.sqrt(0.5), -math.sqrt(0.5))),
    "MoveDownRight": ("translate", (math.sqrt(0.5), math.sqrt(0.5))),
}

SCALE_RANGE = (0.6, 1.5)  # object scale relative to its base size, shared by every class
NOISE_SIGMA = 2.0  # per-frame sensor noise (grey levels)
SPRITE_SIZE = 0.7  # an object's canvas side relative to the frame's short side (at scale 1)
OBJECT_CONTRAST = 50.0  # std of an object's luminance texture (grey levels)
BACKGROUND_CONTRAST = 0.3  # the background's texture, relative to the objects' (calmer)
TRANSLATE_SPEED = (0.04, 0.07)  # frame widths per frame
ROTATE_SPEED = (14.0, 24.0)  # degrees per frame


@dataclass
class Sprite:
    """A textured object: RGB texture and alpha mask on a square canvas centred on the object."""

    texture: np.ndarray  # (P, P, 3) float32
    alpha: np.ndarray  # (P, P) float32 in [0, 1]


@dataclass
class Scene:
    """What one group (same background and objects, as one UCF101 group) looks like."""

    background: np.ndarray  # (H, W, 3) float32
    sprites: list[Sprite]


def _smooth_noise(rng: np.random.Generator, h: int, w: int, cells: int) -> np.ndarray:
    """Random colour field with features about ``1/cells`` of the frame wide, (h, w, 3) in 0..255."""
    import cv2  # lazily: `vr --help` and `vr datasets --help` stay light

    coarse = rng.uniform(0, 255, size=(max(2, cells * h // w), cells, 3)).astype(np.float32)
    return cv2.resize(coarse, (w, h), interpolation=cv2.INTER_CUBIC).clip(0, 255)


def _sprite(rng: np.random.Generator, size: int) -> Sprite:
    """A star-shaped polygon filled with a zero-mean luminance texture and a faint colour tint."""
    import cv2  # lazily: `vr --help` and `vr datasets --help` stay light

    p = size
    n_vertices = int(rng.integers(5, 9))
    angles = np.sort(rng.uniform(0, 2 * np.pi, n_vertices))
    radii = rng.uniform(0.55, 1.0, n_vertices) * p * 0.3
    pts = np.stack([p / 2 + radii * np.cos(angles), p / 2 + radii * np.sin(angles)], axis=1)
    alpha = np.zeros((p, p), np.float32)
    cv2.fillPoly(alpha, [np.round(pts * 16).astype(np.int32)], 1.0, lineType=cv2.LINE_AA, shift=4)
    luminance = _smooth_noise(rng, p, p, 4)[..., :1]
    luminance = (luminance - luminance.mean()) / max(1e-6, float(luminance.std())) * OBJECT_CONTRAST
    tint = _smooth_noise(rng, p, p, 2)
    texture = 128 + luminance + 0.25 * (tint - tint.mean(axis=(0, 1)))
    return Sprite(texture.astype(np.float32), alpha)


def make_scene(rng: np.random.Generator, width: int, height: int, n_objects: int) -> Scene:
    """Background and objects of one group."""
    field = 0.7 * _smooth_noise(rng, height, width, 5) + 0.3 * _smooth_noise(rng, height, width, 20)
    grey = rng.uniform(112, 144) + rng.uniform(-10, 10, 3)  # nearly the same mean colour in every scene
    background = grey + BACKGROUND_CONTRAST * (field - field.mean(axis=(0, 1)))
    sprite_size = int(2 * round(min(width, height) * SPRITE_SIZE / 2))
    return Scene(background.astype(np.float32), [_sprite(rng, sprite_size) for _ in range(n_objects)])


@dataclass
class Track:
    """One object's pose over time: centre (x, y), angle in degrees, scale."""

    centre: np.ndarray  # (T, 2)
    angle: np.ndarray  # (T,)
    scale: np.ndarray  # (T,)


def make_track(rng: np.random.Generator, motion: str, n_frames: int, width: int, height: int) -> Track:
    """Random start pose and speed; the pose follows ``motion`` (positions wrap around the frame)."""
    kind, param = MOTIONS[motion]
    t = np.arange(n_frames, dtype=np.float64)
    centre = np.tile(rng.uniform((0, 0), (width, height)), (n_frames, 1))
    angle = np.full(n_frames, rng.uniform(0, 360))
    log_lo, log_hi = np.log(SCALE_RANGE[0]), np.log(SCALE_RANGE[1])
    if kind == "zoom":
        # Trajectory inside the shared log-scale range, so scales at any frame look the same for both signs.
        span = rng.uniform(0.5, 0.9) * (log_hi - log_lo)
        start = rng.uniform(log_lo, log_hi - span)
        log_scale = start + span * t / max(1, n_frames - 1)
        scale = np.exp(log_scale if param > 0 else log_scale[::-1])
    else:
        scale = np.full(n_frames, np.exp(rng.uniform(log_lo, log_hi)))
    if kind == "translate":
        speed = rng.uniform(*TRANSLATE_SPEED) * width  # pixels per frame
        centre = centre + speed * t[:, None] * np.asarray(param)[None, :]
        centre = np.mod(centre, (width, height))
    elif kind == "rotate":
        angle = angle + param * rng.uniform(*ROTATE_SPEED) * t
    return Track(centre, angle, scale)


def _composite(frame: np.ndarray, sprite: Sprite, cx: float, cy: float, angle: float, scale: float) -> None:
    """Alpha-blend ``sprite`` at pose into ``frame`` in place, wrapping around the borders."""
    import cv2  # lazily: `vr --help` and `vr datasets --help` stay light

    h, w = frame.shape[:2]
    p = sprite.alpha.shape[0]
    reach = p * scale / 2
    for ox in (-w, 0, w):
        for oy in (-h, 0, h):
            x, y = cx + ox, cy + oy
            if x + reach < 0 or x - reach > w or y + reach < 0 or y - reach > h:
                continue
            m = cv2.getRotationMatrix2D((p / 2, p / 2), angle, scale)
            m[:, 2] += (x - p / 2, y - p / 2)
            rgba = np.dstack([sprite.texture, sprite.alpha])
            warped = cv2.warpAffine(rgba, m, (w, h), flags=cv2.INTER_LINEAR, borderValue=0)
            a = warped[..., 3:4]
            frame *= 1 - a
            frame += warped[..., :3] * a


def render_clip(scene: Scene, tracks: list[Track], rng: np.random.Generator, n_frames: int) -> np.ndarray:
    """The clip as (T, H, W, 3) uint8 RGB."""
    h, w = scene.background.shape[:2]
    clip = np.empty((n_frames, h, w, 3), np.uint8)
    for i in range(n_frames):
        frame = scene.background.copy()
        for sprite, track in zip(scene.sprites, tracks, strict=True):
            _composite(frame, sprite, *track.centre[i], track.angle[i], track.scale[i])
        frame += rng.normal(0, NOISE_SIGMA, frame.shape).astype(np.float32)
        clip[i] = frame.clip(0, 255).round().astype(np.uint8)
    return clip
