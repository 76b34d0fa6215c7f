"""Box metrics: IoU, containment, a zoom that can still be read, and a box read from model text.

Boxes are ``[x1, y1, x2, y2]`` in one frame (original pixels in eval).
"""

from __future__ import annotations

import re

_BOX_RE = re.compile(r'"bbox_2d"\s*:\s*\[\s*(-?[\d.]+)\s*,\s*(-?[\d.]+)\s*,\s*(-?[\d.]+)\s*,\s*(-?[\d.]+)\s*\]')


def area(box) -> float:
    return max(0.0, box[2] - box[0]) * max(0.0, box[3] - box[1])


def iou(a, b) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = area(a) + area(b) - inter
    return inter / union if union > 0 else 0.0


def contains(outer, inner) -> bool:
    return outer[0] <= inner[0] and outer[1] <= inner[1] and outer[2] >= inner[2] and outer[3] >= inner[3]


def tight_hit(box, target, max_area_ratio: float = 9.0) -> bool:
    """The box contains the whole target and is at most ``max_area_ratio`` × its area (≤ 3× per side):
    a zoom that can still be read, unlike a box around the whole image."""
    return contains(box, target) and area(box) <= max_area_ratio * area(target)


def parse_box(text: str) -> list[float] | None:
    """The first ``"bbox_2d": [x1, y1, x2, y2]`` in a model's text."""
    m = _BOX_RE.search(text)
    return [float(v) for v in m.groups()] if m else None
