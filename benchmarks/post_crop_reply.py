"""The reply after a crop, in the two contexts that matter for RL: after a "Zoom in on X." instruction (what
pretraining shows) and after a question with options (what an RL episode that zooms looks like; pretraining
never shows it). Each scene's first turn is the model's own kind of tool call on the named sign's true box,
then the zoom tool's crop as a ``<tool_response>``; the model writes the next turn.

    python benchmarks/post_crop_reply.py [--model DIR] [--scenes 50] [--samples 4] [--temperature 0.6] [--seed 0]

Prints, per context: the share of replies with a well-formed ``<answer>`` and the share naming the sign's
true pattern (option judge), over scenes × samples replies.
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

import torch

from deepeyes_agent.answer_match import chosen_option
from deepeyes_agent.backends import SamplingParams, TransformersBackend
from deepeyes_agent.backends.base import GenerationRequest
from deepeyes_agent.data.zoomworld import PATTERNS
from deepeyes_agent.models import default_model_dir
from deepeyes_agent.parser import parse_turn
from deepeyes_agent.pretrain.batch import encode
from deepeyes_agent.pretrain.skills import view_size_fn
from deepeyes_agent.pretrain.tasks import make_sample
from deepeyes_agent.prompts import PromptBuilder


def requests(builder, view_size, context: str, scenes: int, samples: int, temperature: float, seed: int):
    rng = random.Random(f"{seed}-post-crop")
    out, truth = [], []
    for _ in range(scenes):
        s = make_sample(rng, "zoom_followup", view_size, ground_margin=2.4, box_grid=14)
        crop = s.followups[0]
        if context == "question":  # the same scene, call and crop; the first turn asks instead of instructing
            s.user_text, s.options = (
                f"What pattern is on the {s.truth['colour']} sign?",
                rng.sample(PATTERNS, len(PATTERNS)),
            )
        s.followups = []
        ids = encode(builder, s, 1.0)[0] + builder.observation_ids(crop.image)
        for k in range(samples):
            out.append(
                GenerationRequest(
                    ids,
                    [s.image, crop.image],
                    SamplingParams(max_tokens=48, temperature=temperature, seed=seed * 1000 + k),
                )
            )
            truth.append(PATTERNS.index(crop.key_spans[0]))
    return out, truth


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", type=Path, default=None)
    ap.add_argument("--scenes", type=int, default=50)
    ap.add_argument("--samples", type=int, default=4)
    ap.add_argument("--temperature", type=float, default=0.6)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--quick", action="store_true", help="2 scenes, 1 sample: the script, tested")
    args = ap.parse_args()
    if args.quick:
        args.scenes, args.samples = 2, 1
    torch.set_num_threads(2)
    model_dir = args.model or default_model_dir()
    backend = TransformersBackend.from_pretrained(model_dir, max_batch_size=32)
    system_prompt = json.loads((model_dir / "deepeyes_agent.json").read_text())["system_prompt"]
    builder = PromptBuilder(backend.processor, system_prompt)
    view_size = view_size_fn(backend.processor.image_processor)
    for context in ("instruction", "question"):
        reqs, truth = requests(builder, view_size, context, args.scenes, args.samples, args.temperature, args.seed)
        replies = [parse_turn(c.text) for c in backend.generate(reqs)]
        valid = [p.format_ok and p.answer is not None for p in replies]
        right = [v and chosen_option(p.answer, PATTERNS) == t for p, v, t in zip(replies, valid, truth)]
        print(
            f"after {context}: n {len(replies)}, temperature {args.temperature}: well-formed answer "
            f"{sum(valid) / len(replies):.3f}, right pattern {sum(right) / len(replies):.3f}; "
            f"e.g. {replies[0].text[:100]!r}"
        )


if __name__ == "__main__":
    main()
