"""zoom-world: seeded and valid; the detail is invisible at the model's full view and clear in a crop."""

import json
import random

import numpy as np
from PIL import Image

from deepeyes_agent.data.zoomworld import PATTERNS, generate, make_scene, render_scene
from deepeyes_agent.datasets import load_rows
from deepeyes_agent.zoom import ViewGeometry


def test_same_seed_same_set_and_rows_are_valid(tmp_path):
    a = generate(tmp_path / "a", 12, seed=5)
    b = generate(tmp_path / "b", 12, seed=5)
    c = generate(tmp_path / "c", 12, seed=6)
    assert a.read_text() == b.read_text() and a.read_text() != c.read_text()
    rows, skipped = load_rows(a)
    assert len(rows) == 12 and not skipped
    for row in rows:
        img = Image.open(row.image)
        assert max(img.size) >= 1000
        x1, y1, x2, y2 = row.bbox
        assert 0 <= x1 < x2 <= img.width and 0 <= y1 < y2 <= img.height
        assert len(row.options) == (4 if row.category == "attribute" else 2)


def test_relative_position_answers_follow_the_geometry(tmp_path):
    for line in generate(tmp_path, 40, seed=1, attribute_share=0.0).read_text().splitlines():
        row = json.loads(line)
        signs = {s["colour"]: s["box"] for s in row["extra"]["scene"]["signs"]}
        words = row["question"].split()
        a, b = words[2], words[-2]  # "Is the <a> sign ... the <b> sign?"
        (ax1, ay1, ax2, ay2), (bx1, by1, bx2, by2) = signs[a], signs[b]
        truth = row["options"][row["answer_index"]]
        expected = {
            "left": ax1 + ax2 < bx1 + bx2,
            "right": ax1 + ax2 > bx1 + bx2,
            "above": ay1 + ay2 < by1 + by2,
            "below": ay1 + ay2 > by1 + by2,
        }[truth]
        assert expected, row


def test_detail_is_invisible_in_the_view_and_clear_in_a_crop(processor):
    from deepeyes_agent.models import TinyModelSpec, build_processor

    image_processor = build_processor(TinyModelSpec(min_pixels=280 * 280, max_pixels=280 * 280)).image_processor
    view_std, crop_std = [], []
    for seed in range(6):
        scene = make_scene(random.Random(seed), n_signs=2)
        img = render_scene(scene)
        g = ViewGeometry.for_image(img.width, img.height, image_processor)
        view = np.asarray(img.resize((g.view_width, g.view_height), Image.BICUBIC)).astype(float).mean(-1)
        sx, sy = g.view_width / img.width, g.view_height / img.height
        for sign in scene.signs:
            x1, y1, x2, y2 = sign.box
            m = (x2 - x1) * 0.25
            view_std.append(
                view[int((y1 + m) * sy) : int((y2 - m) * sy), int((x1 + m) * sx) : int((x2 - m) * sx)].std()
            )
            crop = np.asarray(img.crop((int(x1 + m), int(y1 + m), int(x2 - m), int(y2 - m)))).astype(float).mean(-1)
            crop_std.append(crop.std())
    assert max(view_std) < 3 and min(crop_std) > 60
    assert set(PATTERNS) == {"horizontal stripes", "vertical stripes", "checkerboard", "diagonal stripes"}
