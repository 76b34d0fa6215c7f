"""Skill probes of a model on fixed zoom-world samples: grounding, crop reading, direct answers.

Used for the curves during pretraining and for the grounding figures of the report. Greedy decoding
through the same backend protocol the agent uses.
"""

from __future__ import annotations

import random

from ..answer_match import chosen_option
from ..backends.base import GenerationRequest, SamplingParams
from ..eval.boxes import contains, iou, parse_box, tight_hit
from ..parser import parse_turn
from ..prompts import PromptBuilder
from ..zoom import ViewGeometry
from .tasks import make_sample


def view_size_fn(image_processor):
    def view_size(width: int, height: int) -> tuple[int, int]:
        g = ViewGeometry.for_image(width, height, image_processor)
        return g.view_width, g.view_height

    return view_size


def probe_skills(
    backend, n: int = 48, seed: int = 12345, max_tokens: int = 128, system_prompt: str | None = None, **task_kwargs
) -> dict:
    """Accuracy-style metrics per skill on ``n`` fresh samples each (same samples for a given seed)."""
    builder = PromptBuilder(backend.processor, *([system_prompt] if system_prompt else []))
    view_size = view_size_fn(backend.processor.image_processor)
    metrics: dict[str, float] = {}
    for task in ("ground", "read_crop", "direct"):
        rng = random.Random(f"{seed}-{task}")
        samples = [make_sample(rng, task, view_size, **task_kwargs) for _ in range(n)]
        requests = [
            GenerationRequest(
                builder.prompt_ids(s.image, s.user_text, s.options),
                [s.image],
                SamplingParams(max_tokens=max_tokens, temperature=0.0),
            )
            for s in samples
        ]
        outs = []
        for i in range(0, len(requests), 16):
            outs.extend(backend.generate(requests[i : i + 16]))
        if task == "ground":
            ious, hits, tight, parsed = [], [], [], 0
            for s, o in zip(samples, outs):
                box = parse_box(o.text)
                truth = s.truth["box"]
                if box is None:
                    ious.append(0.0), hits.append(0.0), tight.append(0.0)
                    continue
                parsed += 1
                ious.append(iou(box, truth))
                sign = s.truth["sign"]  # the sign itself (without the training margin) must lie inside
                hits.append(float(contains(box, sign)))
                tight.append(float(tight_hit(box, sign)))
            metrics.update(
                ground_parsed=parsed / n,
                ground_iou=sum(ious) / n,
                ground_hit=sum(hits) / n,
                ground_hit_tight=sum(tight) / n,
            )
        else:
            correct = [
                float(chosen_option(parse_turn(o.text).answer, s.truth["options"]) == s.truth["answer_index"])
                for s, o in zip(samples, outs)
            ]
            if task == "read_crop":
                metrics["read_acc"] = sum(correct) / n
            else:
                rel = [c for s, c in zip(samples, correct) if s.truth["n_options"] == 2]
                att = [c for s, c in zip(samples, correct) if s.truth["n_options"] == 4]
                metrics["direct_relative_acc"] = sum(rel) / max(1, len(rel))
                metrics["direct_attribute_acc"] = sum(att) / max(1, len(att))
    return metrics
