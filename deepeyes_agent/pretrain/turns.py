"""Turns after a pretraining sample's first: the zoom tool's crop and what it shows, a zoom asked for later in a
chat, a user turn with a crop and a question — and the words the tool loop is written in."""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field

from PIL import Image

from ..data.zoomworld import Scene, questions
from ..protocol import TOOL_NAME
from ..zoom import CoordinateFrame, ViewGeometry, ZoomConfig, map_box, validate_box
from .geometry import box_text, crop_around, regions_in, snap_outward, view_box


@dataclass
class Followup:
    """A later turn of the same conversation: the zoom tool's observation (``kind="tool"``) or a user turn
    with an image (or none) and a question or instruction (``kind="user"``), then the assistant's reply
    (``target``)."""

    kind: str
    image: Image.Image | None
    target: str
    key_spans: list[str]
    regions: list = field(default_factory=list)
    question: str | None = None
    options: list[str] | None = None


def think(text: str) -> str:
    return f"<think>{text}</think>\n"


def zoom_instruction(rng: random.Random, label: str) -> str:
    return rng.choice([f"Zoom in on {label}.", f"Zoom into {label}.", f"Take a closer look at {label}."])


def zoom_target(label: str, box) -> str:
    call = {"name": TOOL_NAME, "arguments": {"bbox_2d": box, "label": label}}
    return think(f"I zoom in on {label}.") + f"<tool_call>\n{json.dumps(call)}\n</tool_call>"


def tool_followup(
    img: Image.Image, scene: Scene, sign, label: str, box, vw: int, vh: int, crop_reply: str = "sentence"
) -> Followup:
    """The zoom tool's crop of ``box`` (view frame, as the tool maps it), then what the crop shows: the answer
    "The pattern on X is P." (``crop_reply="sentence"``), or that sentence said in the thinking and the answer
    in the words a reading answer writes, "<answer>P</answer>" (``"think"``) — so describing a crop and
    answering about one never pull apart, and the pattern is still read at the end of a sentence."""
    geom = ViewGeometry(scene.width, scene.height, vw, vh)
    bounds = validate_box(map_box(box, geom, CoordinateFrame.QWEN25_PIXELS), geom, ZoomConfig())
    seen = f"The pattern on {label} is {sign.pattern}."
    if crop_reply == "sentence":
        reply = think(f"I see {label} up close.") + f"<answer>{seen}</answer>"
    elif crop_reply == "think":
        reply = think(f"I see {label} up close. {seen}") + f"<answer>{sign.pattern}</answer>"
    else:
        raise ValueError(f"crop_reply must be 'sentence' or 'think', not {crop_reply!r}")
    return Followup("tool", img.crop(bounds), reply, [sign.pattern], regions_in(scene, bounds[:2]))


def zoom_later(
    rng: random.Random,
    img: Image.Image,
    scene: Scene,
    sign,
    vw: int,
    vh: int,
    ground_margin: float,
    box_grid: int,
    crop_reply: str,
) -> list[Followup]:
    """A text-only user turn "Zoom in on X." (X: mostly the sign just asked about), the call, then the tool's
    crop and its description."""
    if rng.random() < 0.3:
        sign = rng.choice(scene.signs)
    label = f"the {sign.colour} sign"
    box = snap_outward(view_box(sign.box, scene, vw, vh, ground_margin), box_grid, vw, vh)
    ask = Followup("user", None, zoom_target(label, box), [box_text(box)], question=zoom_instruction(rng, label))
    return [ask, tool_followup(img, scene, sign, label, box, vw, vh, crop_reply)]


def chat_followup(rng: random.Random, img: Image.Image, scene: Scene, crop_margin) -> Followup:
    """A user turn with a crop around one sign and the pattern question about it, answered."""
    q, options, answer_index, _, sign = rng.choice([q for q in questions(scene, rng) if q[3] == "attribute"])
    crop, bounds = crop_around(img, sign.box, rng, crop_margin, jitter=0.12)
    answer = options[answer_index]
    reply = think(f"I read the pattern on the {sign.colour} sign.") + f"<answer>{answer}</answer>"
    return Followup("user", crop, reply, [f"<answer>{answer}"], regions_in(scene, bounds[:2]), q, options)
