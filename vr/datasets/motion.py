"""Rendering clips of textured objects that follow one motion pattern (the synthetic action classes).

Every class moves the objects of a scene the same way (translate, rotate or zoom); appearance, start
positions, orientations, scales and speeds are random, and each pattern's frames have the same
distribution of positions, orientations and scales. So a single frame says nothing about the class:
only how frames change over time does.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
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

SCALE_RANGE = (0.5, 1.8)  # object scale relative to its base size, shared by every class
NOISE_SIGMA = 2.0  # per-frame sensor noise (grey levels)


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
    coarse = rng.uniform(0, 255, size=(max(2, cells * h // w), cells, 3)).astype(np.float32)
    return cv2.resize(coarse, (w, h), interpolation=cv2.INTER_CUBIC).clip(0, 255)


def _sprite(rng: np.random.Generator, size: int) -> Sprite:
    """A star-shaped polygon filled with stripes and blotches (so rotation is visible)."""
    p = size
    n_vertices = int(rng.integers(5, 9))
    angles = np.sort(rng.uniform(0, 2 * np.pi, n_vertices))
    radii = rng.uniform(0.55, 1.0, n_vertices) * p * 0.3
    pts = np.stack([p / 2 + radii * np.cos(angles), p / 2 + radii * np.sin(angles)], axis=1)
    alpha = np.zeros((p, p), np.float32)
    cv2.fillPoly(alpha, [np.round(pts * 16).astype(np.int32)], 1.0, lineType=cv2.LINE_AA, shift=4)
    yy, xx = np.mgrid[0:p, 0:p].astype(np.float32)
    theta = rng.uniform(0, np.pi)
    period = rng.uniform(0.12, 0.3) * p
    stripes = 0.5 + 0.5 * np.sin(2 * np.pi * (xx * np.cos(theta) + yy * np.sin(theta)) / period)
    colour_a = rng.uniform(0, 255, 3)
    colour_b = ((colour_a + rng.uniform(90, 165, 3)) % 255).astype(np.float32)  # always contrasted
    colour_a = colour_a.astype(np.float32)
    texture = stripes[..., None] * colour_a + (1 - stripes[..., None]) * colour_b
    texture = 0.7 * texture + 0.3 * _smooth_noise(rng, p, p, 6)
    return Sprite(texture.astype(np.float32), alpha)


def make_scene(rng: np.random.Generator, width: int, height: int, n_objects: int) -> Scene:
    """Background and objects of one group."""
    field = 0.7 * _smooth_noise(rng, height, width, 5) + 0.3 * _smooth_noise(rng, height, width, 20)
    background = 0.6 * field + 0.4 * rng.uniform(40, 215)  # calmer than the objects
    sprite_size = int(2 * round(min(width, height) * 0.9 / 2))
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
        speed = rng.uniform(0.012, 0.03) * width  # pixels per frame
        centre = centre + speed * t[:, None] * np.asarray(param)[None, :]
        centre = np.mod(centre, (width, height))
    elif kind == "rotate":
        angle = angle + param * rng.uniform(4.0, 10.0) * t
    return Track(centre, angle, scale)


def _composite(frame: np.ndarray, sprite: Sprite, cx: float, cy: float, angle: float, scale: float) -> None:
    """Alpha-blend ``sprite`` at pose into ``frame`` in place, wrapping around the borders."""
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
