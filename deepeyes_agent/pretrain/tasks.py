"""Pretraining samples: each is a chat prompt (system + image + text) and the assistant's target turn.

Skills, never chained: grounding (a description → ``bbox_2d`` in the model's frame), the tool-call
syntax on "zoom in on X" instructions, reading a crop, direct answers on the full view. No sample of these
``TASKS`` holds a question → tool call → crop → answer trajectory; RL has to discover that. The chain itself
(``COLD_START_TASKS``) exists only for the shipped model's cold start, a stage after the base (as DeepEyesV2's
cold-start SFT): the base model, from which RL's emergence is shown, never sees it.

Three multi-turn skills give the conversation competence an instruction-tuned VLM brings, without that
chain: the tool loop on an INSTRUCTION ("Zoom in on X." → the call → the tool's crop → a description of
what the crop shows), the same loop later in a chat (a question answered directly on the full view, then
"Zoom in on X." → call → crop → description: what the tool shows is described whatever came before), and
a multi-image chat (a grounding exchange, then a user turn with a crop and a question about it).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from PIL import Image

from ..data.zoomworld import Scene, make_scene, questions, render_scene
from .geometry import box_text, crop_around, regions_in, snap_outward, view_box
from .turns import Followup, chat_followup, think, tool_followup, zoom_instruction, zoom_later, zoom_target

TASKS = (
    "ground",
    "zoom_instruction",
    "read_crop",
    "direct",
    "explore",
    "zoom_followup",
    "chat_followup",
    "zoom_after_answer",
)
COLD_START_TASKS = ("zoom_to_answer",)  # the question → zoom → crop → answer chain: never in the base's stages
ALL_TASKS = TASKS + COLD_START_TASKS
BOX_TASKS = ("ground", "zoom_instruction", "explore", "zoom_to_answer")  # samples whose first target holds a box
MULTI_TURN_TASKS = ("zoom_followup", "chat_followup", "zoom_after_answer", "zoom_to_answer")  # with later turns


@dataclass
class PretrainSample:
    task: str
    image: Image.Image
    user_text: str  # the text after the image (the prompt builder adds the DeepEyes suffix)
    options: list[str] | None
    target: str  # the assistant turn, without <|im_end|>
    key_spans: list[str]  # substrings of target whose tokens carry extra loss weight
    truth: dict  # for evaluation: box in the view frame, answer, options ...
    regions: list[tuple[tuple[float, float, float, float], str, str]] = field(default_factory=list)
    """(sign box in this image's pixels, colour, pattern) — labels for the per-token auxiliary probes."""
    followups: list[Followup] = field(default_factory=list)

    @property
    def images(self) -> list[Image.Image]:
        return [self.image] + [f.image for f in self.followups if f.image is not None]


@dataclass
class _Draw:
    """What every task draws first, in this order: the scene, its rendering, the model's view size, one sign."""

    rng: random.Random
    scene: Scene
    img: Image.Image
    vw: int
    vh: int
    sign: object
    options: dict

    @property
    def label(self) -> str:
        return f"the {self.sign.colour} sign"

    def box(self, sign) -> list[int]:
        """The target box of a zoom or grounding answer: ``sign`` grown by ``ground_margin``, snapped outward."""
        o = self.options
        return snap_outward(
            view_box(sign.box, self.scene, self.vw, self.vh, o["ground_margin"]), o["box_grid"], self.vw, self.vh
        )

    def shown(self, options: list[str]) -> list[str] | None:
        """The options as the prompt shows them: none at all for a ``free_form_share`` of questions (the answer
        is then the option's words, as it always is)."""
        share = self.options.get("free_form_share", 0.0)
        return None if share > 0 and self.rng.random() < share else options

    def centre(self, sign) -> tuple[int, int]:
        """A sign's centre in the model's view, in whole pixels."""
        x1, y1, x2, y2 = view_box(sign.box, self.scene, self.vw, self.vh)
        return round((x1 + x2) / 2), round((y1 + y2) / 2)

    def box_truth(self, box, sign) -> dict:
        return {
            "box": box,
            "view": [self.vw, self.vh],
            "colour": sign.colour,
            "sign": view_box(sign.box, self.scene, self.vw, self.vh),
        }


def _ground(d: _Draw, task: str = "ground") -> PretrainSample:
    box = d.box(d.sign)
    text = d.rng.choice(
        [f"Locate {d.label}.", f"Where is {d.label}? Give its bbox_2d.", f"Find {d.label} in the image."]
    )
    target = think(f"I look for {d.label}.") + f'<answer>{{"bbox_2d": {box_text(box)}, "label": "{d.label}"}}</answer>'
    return PretrainSample(
        task, d.img, text, None, target, [box_text(box)], d.box_truth(box, d.sign), regions_in(d.scene)
    )


def _zoom_call(d: _Draw, task: str, sign, text: str, shown: list[str] | None) -> PretrainSample:
    """A first turn answered with a zoom on ``sign`` (its box grown and snapped, as a grounding answer's)."""
    box = d.box(sign)
    target = zoom_target(f"the {sign.colour} sign", box)
    return PretrainSample(
        task, d.img, text, shown, target, [box_text(box)], d.box_truth(box, sign), regions_in(d.scene)
    )


def _zoom_on_instruction(d: _Draw, task: str = "zoom_instruction") -> PretrainSample:
    return _zoom_call(d, task, d.sign, zoom_instruction(d.rng, d.label), None)


def _zoom_followup(d: _Draw) -> PretrainSample:
    """The tool loop on an instruction: the call, the tool's crop, its description."""
    sample = _zoom_on_instruction(d, "zoom_followup")
    sample.followups.append(
        tool_followup(d.img, d.scene, d.sign, d.label, sample.truth["box"], d.vw, d.vh, d.options["crop_reply"])
    )
    return sample


def _grounding_then_chat(d: _Draw) -> PretrainSample:
    """A grounding exchange, then a user turn with a crop and a question about it."""
    sample = _ground(d, "chat_followup")
    sample.followups.append(chat_followup(d.rng, d.img, d.scene, d.options["crop_margin"]))
    return sample


def _explore(d: _Draw) -> PretrainSample:
    """The exploration prior an instruction-tuned VLM brings: now and then a question (of EITHER kind, needed
    or not) is met with a zoom on its target — never followed by a crop and an answer."""
    qs = questions(d.scene, d.rng)
    pick = [q for q in qs if q[3] == d.rng.choice(["attribute", "relative_position"])]
    q, options, _, _, target_sign = d.rng.choice(pick or qs)
    return _zoom_call(d, "explore", target_sign, q, d.shown(options))


def _answer(
    task: str,
    img: Image.Image,
    q: str,
    options: list[str],
    answer_index: int,
    reason: str,
    regions,
    shown: list[str] | None = None,
    reason_spans: tuple[str, ...] = (),
) -> PretrainSample:
    # the answer is the option's text (the judge accepts text or letter): no letter lookup to learn
    answer = options[answer_index]
    return PretrainSample(
        task,
        img,
        q,
        shown,
        think(reason) + f"<answer>{answer}</answer>",
        [*reason_spans, f"<answer>{answer}"],
        {"answer": answer, "options": options, "answer_index": answer_index, "n_options": len(options)},
        regions,
    )


def _read_crop(d: _Draw) -> PretrainSample:
    q, options, answer_index, _, target_sign = d.rng.choice(
        [q for q in questions(d.scene, d.rng) if q[3] == "attribute"]
    )
    crop, bounds = crop_around(d.img, target_sign.box, d.rng, d.options["crop_margin"], jitter=0.12)
    return _answer(
        "read_crop",
        crop,
        q,
        options,
        answer_index,
        f"I read the pattern on the {target_sign.colour} sign.",
        regions_in(d.scene, bounds[:2]),
        d.shown(options),
    )


def _direct(d: _Draw, task: str = "direct") -> tuple[PretrainSample, object]:
    """A question answered from the full view: relative position is answerable; an attribute question is not
    (its label teaches the prior)."""
    qs = questions(d.scene, d.rng)
    pick = (
        [q for q in qs if q[3] == "relative_position"]
        if d.rng.random() < d.options["direct_relation_share"]
        else [q for q in qs if q[3] == "attribute"]
    )
    q, options, answer_index, _, target_sign = d.rng.choice(pick or qs)
    spans: tuple[str, ...] = ()
    box_truth: dict = {}
    if len(options) == 2 and d.options.get("relation_reasoning"):
        reason, spans, box_truth = _relation_reasoning(d, q, target_sign, options[answer_index])
    elif len(options) == 2:
        reason = "I compare the positions of the signs."
    else:
        reason = f"I look at the {target_sign.colour} sign."
    sample = _answer(task, d.img, q, options, answer_index, reason, regions_in(d.scene), d.shown(options), spans)
    sample.truth.update(box_truth)  # the first sign's box: supervised like a grounding answer (batch.box_queries)
    return sample, target_sign


def _relation_reasoning(d: _Draw, question: str, sign, truth: str) -> tuple[str, tuple[str, ...], dict]:
    """Where each sign is, said in the thinking in the grounding answer's own words, then the comparison of the
    boxes' first coordinates on the axis asked about: 'I look for the red sign. {"bbox_2d": [84, 56, 140, 112],
    "label": "the red sign"} I look for the blue sign. {…} 84 is less than 196.' — the grounding skill makes a
    relation the full view can answer. (With boxes grown 2.4× and snapped to patches, the first coordinates order
    the signs as their centres do.) Returns the thinking, its key spans, and the first box's truth, so the
    grounding losses supervise it as they do a grounding answer."""
    other = next(s for s in d.scene.signs if question.endswith(f"the {s.colour} sign?"))
    axis = 0 if truth in ("left", "right") else 1
    boxes = [d.box(sign), d.box(other)]
    said = [
        f'I look for the {s.colour} sign. {{"bbox_2d": {box_text(b)}, "label": "the {s.colour} sign"}}'
        for s, b in zip((sign, other), boxes)
    ]
    a, b = boxes[0][axis], boxes[1][axis]
    comparison = "less" if truth in ("left", "above") else "more"
    reason = f"{said[0]} {said[1]} {a} is {comparison} than {b}."
    return reason, (box_text(boxes[0]), box_text(boxes[1]), f"{comparison} than"), d.box_truth(boxes[0], sign)


def _zoom_after_answer(d: _Draw) -> PretrainSample:
    """A question answered directly; then the user asks for a zoom: the call, the crop, its description."""
    sample, asked_about = _direct(d, "zoom_after_answer")
    o = d.options
    sample.followups.extend(
        zoom_later(d.rng, d.img, d.scene, asked_about, d.vw, d.vh, o["ground_margin"], o["box_grid"], o["crop_reply"])
    )
    return sample


def _zoom_to_answer(d: _Draw) -> PretrainSample:
    """The cold start's chain: an attribute question (options shown or not) met with a zoom on its sign, the
    tool's crop, and the answer read from it in the tool loop's words. Only for the shipped model's cold start."""
    q, options, _, _, sign = d.rng.choice([q for q in questions(d.scene, d.rng) if q[3] == "attribute"])
    sample = _zoom_call(d, "zoom_to_answer", sign, q, d.shown(options))
    label, box = f"the {sign.colour} sign", sample.truth["box"]
    sample.followups.append(tool_followup(d.img, d.scene, sign, label, box, d.vw, d.vh, d.options["crop_reply"]))
    return sample


_BUILDERS = {
    "ground": _ground,
    "zoom_instruction": _zoom_on_instruction,
    "read_crop": _read_crop,
    "direct": lambda d: _direct(d)[0],
    "explore": _explore,
    "zoom_followup": _zoom_followup,
    "chat_followup": _grounding_then_chat,
    "zoom_after_answer": _zoom_after_answer,
    "zoom_to_answer": _zoom_to_answer,
}
assert set(_BUILDERS) == set(ALL_TASKS)


def make_sample(
    rng: random.Random,
    task: str,
    view_size,
    *,
    sign_size=(96, 160),
    max_signs: int = 3,
    crop_margin=(1.1, 2.0),
    ground_margin: float = 1.5,
    box_grid: int = 1,
    single_sign_grounding: bool = False,
    crop_reply: str = "sentence",
    relation_reasoning: bool = False,
    free_form_share: float = 0.0,
    direct_relation_share: float = 0.7,
) -> PretrainSample:
    """``view_size(w, h) -> (view_w, view_h)``: the processor's resize of an original of that size.
    A grounding target is the sign grown by ``ground_margin`` and snapped outward to ``box_grid`` view px.
    ``crop_reply``: how the tool loop's last reply describes the crop (see ``_tool_followup``)."""
    n = rng.randint(2, max(2, max_signs)) if task in ("direct", "explore") else rng.randint(1, max_signs)
    if task in ("ground", "zoom_instruction") and single_sign_grounding:
        n = 1
    scene = make_scene(rng, n_signs=n, sign_size=sign_size)
    img = render_scene(scene)
    vw, vh = view_size(scene.width, scene.height)
    sign = rng.choice(scene.signs)
    options = {
        "crop_margin": crop_margin,
        "ground_margin": ground_margin,
        "box_grid": box_grid,
        "crop_reply": crop_reply,
        "relation_reasoning": relation_reasoning,
        "free_form_share": free_form_share,
        "direct_relation_share": direct_relation_share,
    }
    return _BUILDERS[task](_Draw(rng, scene, img, vw, vh, sign, options))
