"""Where things are in a zoom-world scene and in the model's view of it: boxes grown and snapped the way the
model is taught to write them, crops around a sign, and the per-sign labels the auxiliary probes read."""

from __future__ import annotations

import random

from PIL import Image

from ..data.zoomworld import Scene


def view_box(box, scene: Scene, view_w: int, view_h: int, margin: float = 1.0) -> list[float]:
    """A box around ``box`` (original pixels) grown by ``margin`` × its size, in the model's view frame."""
    x1, y1, x2, y2 = box
    gx, gy = (x2 - x1) * (margin - 1) / 2, (y2 - y1) * (margin - 1) / 2
    sx, sy = view_w / scene.width, view_h / scene.height
    return [(x1 - gx) * sx, (y1 - gy) * sy, (x2 + gx) * sx, (y2 + gy) * sy]


def snap_outward(box: list[float], grid: int, view_w: int, view_h: int) -> list[int]:
    """``box`` grown outward to multiples of ``grid`` view pixels (e.g. 14 = one patch): a coarse box a
    tiny model can emit as "which patch column/row", and still one that contains the target."""
    if grid <= 1:
        return [
            max(0, int(box[0])),
            max(0, int(box[1])),
            min(view_w, int(round(box[2] + 0.5))),
            min(view_h, int(round(box[3] + 0.5))),
        ]
    x1, y1 = int(box[0] // grid) * grid, int(box[1] // grid) * grid
    x2, y2 = -int(-box[2] // grid) * grid, -int(-box[3] // grid) * grid
    return [max(0, x1), max(0, y1), min(view_w, x2), min(view_h, y2)]


def crop_around(img: Image.Image, box, rng: random.Random, margin: tuple[float, float], jitter: float):
    """A square crop around ``box`` (side ``margin`` × the box's, centre jittered); returns (crop, its box)."""
    x1, y1, x2, y2 = box
    s = x2 - x1
    side = s * rng.uniform(*margin)
    cx = (x1 + x2) / 2 + rng.uniform(-jitter, jitter) * s
    cy = (y1 + y2) / 2 + rng.uniform(-jitter, jitter) * s
    left, top = max(0, cx - side / 2), max(0, cy - side / 2)
    bounds = (int(left), int(top), int(min(img.width, left + side)), int(min(img.height, top + side)))
    return img.crop(bounds), bounds


def regions_in(scene: Scene, origin: tuple[int, int] = (0, 0)) -> list:
    ox, oy = origin
    return [((b[0] - ox, b[1] - oy, b[2] - ox, b[3] - oy), s.colour, s.pattern) for s in scene.signs for b in [s.box]]


def box_text(box) -> str:
    """A box as the model writes it: ``[x1, y1, x2, y2]``."""
    return "[" + ", ".join(str(v) for v in box) + "]"
