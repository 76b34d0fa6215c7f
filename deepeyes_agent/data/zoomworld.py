"""zoom-world: seeded, V*-like scenes whose small targets are locatable at full view but only
readable in a crop.

A scene is a high-resolution canvas (1000–1600 px wide, varied aspect) with muted clutter and 1–3
"signs": saturated squares of distinct colours. Each sign carries a fine texture (period 4 px) on its
inner 60 %: visible in a crop at full resolution, averaged away to flat grey in a ~280-px full view.
Questions mirror V*: attribute (4 options: which texture is on the <colour> sign — needs a zoom) and
relative position (2 options: is the <colour> sign left/right of — or above/below — the other one —
answerable from the full view). Every sample carries the target's ground-truth box.
"""

from __future__ import annotations

import json
import random
from dataclasses import asdict, dataclass, field
from pathlib import Path

from PIL import Image, ImageDraw

COLOURS = {
    "red": (215, 35, 35),
    "green": (30, 160, 60),
    "blue": (35, 75, 215),
    "yellow": (235, 200, 25),
    "purple": (140, 50, 185),
    "orange": (240, 125, 20),
}
PATTERNS = ["horizontal stripes", "vertical stripes", "checkerboard", "diagonal stripes"]
PERIOD = 4  # texture period in original pixels: 2 px on, 2 px off (averaged away below ~1/3 scale)


@dataclass
class Sign:
    colour: str
    pattern: str
    box: tuple[int, int, int, int]


@dataclass
class Scene:
    width: int
    height: int
    signs: list[Sign]
    seed: int


@dataclass
class Sample:
    """One V*-style row: ``options[answer_index]`` is correct; ``bbox`` is the target in original pixels."""

    id: str
    image: str
    question: str
    options: list[str]
    answer_index: int
    category: str  # "attribute" (needs a zoom) or "relative_position" (full view suffices)
    bbox: list[int]
    target: str
    needs_zoom: bool
    extra: dict = field(default_factory=dict)

    @property
    def answer_letter(self) -> str:
        return "ABCDEF"[self.answer_index]


def _texture(draw: ImageDraw.ImageDraw, box: tuple[int, int, int, int], pattern: str) -> None:
    x1, y1, x2, y2 = box
    half = PERIOD // 2
    for y in range(y1, y2):
        for x in range(x1, x2):
            if pattern == "horizontal stripes":
                on = (y - y1) % PERIOD < half
            elif pattern == "vertical stripes":
                on = (x - x1) % PERIOD < half
            elif pattern == "checkerboard":
                on = ((x - x1) // half + (y - y1) // half) % 2 == 0
            else:
                on = (x - x1 + y - y1) % PERIOD < half
            if on:
                draw.point((x, y), fill=(250, 250, 250))


def _clutter(draw: ImageDraw.ImageDraw, rng: random.Random, w: int, h: int) -> None:
    for _ in range(rng.randint(25, 60)):
        grey = rng.randint(70, 200)
        tint = tuple(max(0, min(255, grey + rng.randint(-18, 18))) for _ in range(3))
        x, y = rng.randint(-50, w), rng.randint(-50, h)
        sw, sh = rng.randint(20, 220), rng.randint(20, 220)
        (draw.rectangle if rng.random() < 0.5 else draw.ellipse)([x, y, x + sw, y + sh], fill=tint)


def render_scene(scene: Scene) -> Image.Image:
    rng = random.Random(scene.seed)
    base = tuple(rng.randint(110, 170) for _ in range(3))
    img = Image.new("RGB", (scene.width, scene.height), base)
    draw = ImageDraw.Draw(img)
    _clutter(draw, rng, scene.width, scene.height)
    for sign in scene.signs:
        x1, y1, x2, y2 = sign.box
        draw.rectangle([x1, y1, x2 - 1, y2 - 1], fill=COLOURS[sign.colour], outline=(255, 255, 255), width=2)
        s = x2 - x1
        m = round(s * 0.2)
        inner = (x1 + m, y1 + m, x2 - m, y2 - m)
        draw.rectangle([inner[0], inner[1], inner[2] - 1, inner[3] - 1], fill=(20, 20, 20))
        _texture(draw, inner, sign.pattern)
    return img


def make_scene(rng: random.Random, n_signs: int | None = None, sign_size: tuple[int, int] = (96, 160)) -> Scene:
    width = rng.randint(1000, 1600)
    height = max(750, min(1600, round(width / rng.uniform(0.7, 1.5))))
    n = n_signs or rng.choice([1, 2, 2, 3])
    colours = rng.sample(list(COLOURS), n)
    signs: list[Sign] = []
    while len(signs) < n:
        s = rng.randint(*sign_size)
        x, y = rng.randint(20, width - s - 20), rng.randint(20, height - s - 20)
        box = (x, y, x + s, y + s)
        if all(_apart(box, o.box) for o in signs):
            signs.append(Sign(colours[len(signs)], rng.choice(PATTERNS), box))
    return Scene(width, height, signs, seed=rng.randrange(2**31))


def _apart(a, b, gap: int = 40) -> bool:
    return a[2] + gap < b[0] or b[2] + gap < a[0] or a[3] + gap < b[1] or b[3] + gap < a[1]


def _centre(box) -> tuple[float, float]:
    return (box[0] + box[2]) / 2, (box[1] + box[3]) / 2


def questions(scene: Scene, rng: random.Random) -> list[tuple[str, list[str], int, str, Sign]]:
    """Every question the scene supports: (question, options, answer index, category, target sign)."""
    out = []
    for sign in scene.signs:
        options = rng.sample(PATTERNS, len(PATTERNS))
        out.append(
            (f"What pattern is on the {sign.colour} sign?", options, options.index(sign.pattern), "attribute", sign)
        )
    if len(scene.signs) >= 2:
        a, b = rng.sample(scene.signs, 2)
        (ax, ay), (bx, by) = _centre(a.box), _centre(b.box)
        if abs(ax - bx) >= abs(ay - by):
            truth, q = (
                ("left" if ax < bx else "right"),
                f"Is the {a.colour} sign on the left or right side of the {b.colour} sign?",
            )
            options = rng.sample(["left", "right"], 2)
        else:
            truth, q = ("above" if ay < by else "below"), f"Is the {a.colour} sign above or below the {b.colour} sign?"
            options = rng.sample(["above", "below"], 2)
        out.append((q, options, options.index(truth), "relative_position", a))
    return out


def generate(out_dir: str | Path, n: int, seed: int, *, attribute_share: float = 0.7) -> Path:
    """Write ``n`` rows (``zoomworld.jsonl``) and their images under ``out_dir``; returns the JSONL path."""
    out_dir = Path(out_dir)
    (out_dir / "images").mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    path = out_dir / "zoomworld.jsonl"
    with path.open("w") as f:
        for i in range(n):
            want = "attribute" if rng.random() < attribute_share else "relative_position"
            scene = make_scene(rng, n_signs=rng.choice([2, 3]) if want == "relative_position" else None)
            candidates = [q for q in questions(scene, rng) if q[3] == want] or questions(scene, rng)
            question, options, answer_index, category, target = rng.choice(candidates)
            name = f"images/zw_{seed}_{i:06d}.png"
            render_scene(scene).save(out_dir / name, optimize=False, compress_level=1)
            sample = Sample(
                id=f"zw-{seed}-{i}",
                image=name,
                question=question,
                options=options,
                answer_index=answer_index,
                category=category,
                bbox=list(target.box),
                target=f"the {target.colour} sign",
                needs_zoom=category == "attribute",
                extra={"scene": asdict(scene)},
            )
            f.write(json.dumps(asdict(sample)) + "\n")
    return path


def looks_like_zoomworld(image: Image.Image, min_pixels: int = 400, tolerance: int = 12) -> bool:
    """Whether ``image`` holds a zoom-world sign: at least ``min_pixels`` pixels within ``tolerance`` of one sign
    colour (they are drawn flat). The embedded model knows zoom-world's signs and nothing else."""
    import numpy as np

    small = image.convert("RGB")
    scale = max(1.0, (small.width * small.height / 4e6) ** 0.5)  # large photos: count on a ≤ 4 MP copy
    if scale > 1:
        small = small.resize((int(small.width / scale), int(small.height / scale)), Image.NEAREST)
    pixels = np.asarray(small, dtype=np.int16).reshape(-1, 3)
    need = min_pixels / scale**2
    return any(int((np.abs(pixels - np.array(rgb)).max(axis=1) <= tolerance).sum()) >= need for rgb in COLOURS.values())
