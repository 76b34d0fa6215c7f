"""Turn pretraining samples into a padded batch with per-token loss weights."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..data.zoomworld import COLOURS, PATTERNS
from ..models.forward import mm_token_type_ids, to_device, vision_inputs
from ..prompts import PromptBuilder
from .tasks import BOX_TASKS, PretrainSample, box_text

COLOUR_CLASSES = ["none", *COLOURS]
PATTERN_CLASSES = ["none", *PATTERNS]


@dataclass
class Batch:
    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    mm_token_type_ids: torch.Tensor
    weights: torch.Tensor  # loss weight of predicting token t (0 outside the assistant turn)
    vision: dict
    tasks: list[str]
    samples: list[PretrainSample]

    def to(self, device) -> Batch:
        return to_device(self, device)


def _reply(tok, target: str, key_spans: list[str], key_weight: float) -> tuple[list[int], list[float]]:
    """An assistant turn (+ ``<|im_end|>``) and its loss weights: ``key_weight`` on the key spans' tokens."""
    enc = tok(target + "<|im_end|>", add_special_tokens=False, return_offsets_mapping=True)
    weights = [1.0] * len(enc["input_ids"])
    for span in key_spans:
        start = target.find(span)
        end = start + len(span)
        for i, (a, b) in enumerate(enc["offset_mapping"]):
            if start >= 0 and a < end and b > start:
                weights[i] = key_weight
    return list(enc["input_ids"]), weights


def encode(builder: PromptBuilder, sample: PretrainSample, key_weight: float) -> tuple[list[int], list[float]]:
    """Prompt, reply, then each follow-up turn (observation or user turn: no loss) and its reply."""
    ids = builder.prompt_ids(sample.image, sample.user_text, sample.options)
    weights = [0.0] * len(ids)
    reply, w = _reply(builder.tokenizer, sample.target, sample.key_spans, key_weight)
    ids, weights = ids + reply, weights + w
    for turn in sample.followups:
        obs = (
            builder.observation_ids(turn.image)
            if turn.kind == "tool"
            else builder.user_turn_ids(turn.image, turn.question, turn.options)
        )
        reply, w = _reply(builder.tokenizer, turn.target, turn.key_spans, key_weight)
        ids, weights = ids + obs + reply, weights + [0.0] * len(obs) + w
    return ids, weights


def collate(builder: PromptBuilder, samples: list[PretrainSample], key_weight: float, pad_id: int, dtype) -> Batch:
    encoded = [encode(builder, s, key_weight) for s in samples]
    width = max(len(ids) for ids, _ in encoded)
    ids = torch.full((len(samples), width), pad_id, dtype=torch.long)
    mask = torch.zeros_like(ids)
    weights = torch.zeros(len(samples), width)
    for row, (seq, w) in enumerate(encoded):  # right padding: training needs no generation
        ids[row, : len(seq)] = torch.tensor(seq)
        mask[row, : len(seq)] = 1
        weights[row, : len(seq)] = torch.tensor(w)
    image_token = builder.image_token_id
    return Batch(
        ids,
        mask,
        mm_token_type_ids(ids, image_token),
        weights,
        vision_inputs(builder.image_processor, [im for s in samples for im in s.images], dtype),
        [s.task for s in samples],
        samples,
    )


def grid_targets(batch: Batch, image_token_id: int, merge: int) -> torch.Tensor:
    """Normalised (row, col) of every image pad token, in the order they appear in the batch."""
    out = []
    for _, h, w in batch.vision["image_grid_thw"].tolist():
        rows, cols = h // merge, w // merge
        r = (torch.arange(rows).float() + 0.5) / rows
        c = (torch.arange(cols).float() + 0.5) / cols
        out.append(torch.stack(torch.meshgrid(r, c, indexing="ij"), -1).reshape(-1, 2))
    return torch.cat(out)


def token_labels(batch: Batch, merge: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Per image token (every image of every sample, in batch order): the colour of the sign under its
    centre (a sign that covers no token centre: the token under the sign's centre) and the pattern of the
    sign's textured inner part under it ("none" elsewhere) — targets of the
    auxiliary probes on the image features. Patterns are labelled in crops only (-100 = ignored): in a
    full view they are invisible by design."""
    images = []  # (image, its sign regions, is it a crop) in the order the batch feeds them
    for s in batch.samples:
        images.append((s.image, s.regions, s.task == "read_crop"))
        images.extend((f.image, f.regions, True) for f in s.followups if f.image is not None)
    colours, patterns = [], []
    for (image, regions, is_crop), (_, h, w) in zip(images, batch.vision["image_grid_thw"].tolist()):
        rows, cols = h // merge, w // merge
        sx, sy = image.width / cols, image.height / rows
        colour = [[0] * cols for _ in range(rows)]
        pattern = [[0] * cols for _ in range(rows)]
        for (x1, y1, x2, y2), name, pat in regions:
            m = 0.2 * (x2 - x1)
            for r in range(rows):
                for c in range(cols):
                    x, y = (c + 0.5) * sx, (r + 0.5) * sy
                    if x1 <= x < x2 and y1 <= y < y2:
                        colour[r][c] = COLOUR_CLASSES.index(name)
                        if x1 + m <= x < x2 - m and y1 + m <= y < y2 - m:
                            pattern[r][c] = PATTERN_CLASSES.index(pat)
            # a sign smaller than a token may hold no token centre: the token under the sign's centre is labelled
            r = min(rows - 1, max(0, int((y1 + y2) / 2 / sy)))
            c = min(cols - 1, max(0, int((x1 + x2) / 2 / sx)))
            if not colour[r][c]:
                colour[r][c], pattern[r][c] = COLOUR_CLASSES.index(name), PATTERN_CLASSES.index(pat)
        colours += [v for line in colour for v in line]
        patterns += [v if is_crop else -100 for line in pattern for v in line]
    return torch.tensor(colours), torch.tensor(patterns)


def first_image_offsets(batch: Batch, merge: int) -> list[int]:
    """Per row: the index (among all image tokens of the batch) of its first image's first token."""
    sizes = [(h // merge) * (w // merge) for (_, h, w) in batch.vision["image_grid_thw"].tolist()]
    out, k, total = [], 0, 0
    for sample in batch.samples:
        out.append(total)
        for _ in sample.images:
            total += sizes[k]
            k += 1
    return out + [total]


def box_queries(builder: PromptBuilder, batch: Batch) -> list[tuple[int, list[int], list[int]]]:
    """For grounding samples: (row, positions that predict the box's four numbers, image-token positions
    inside the target sign). The number tokens are the key spans' number tokens; each is predicted from
    the token right before it."""
    out = []
    tok = builder.tokenizer
    for row, sample in enumerate(batch.samples):
        if sample.task not in BOX_TASKS and not (sample.task == "direct" and "box" in sample.truth):
            continue  # (a direct answer holds a box when it reasons about positions: relation_reasoning)
        ids = batch.input_ids[row].tolist()
        n = int(batch.attention_mask[row].sum())
        text = box_text(sample.truth["box"])
        start = sample.target.find(text)
        enc = tok(sample.target, add_special_tokens=False, return_offsets_mapping=True)
        target_start = n - len(tok(sample.target + "<|im_end|>", add_special_tokens=False)["input_ids"])
        queries = []
        for i, (a, b) in enumerate(enc["offset_mapping"]):
            piece = sample.target[a:b].strip()
            if start <= a < start + len(text) and piece.isdigit():
                queries.append(target_start + i - 1)
        image_pos = [i for i, t in enumerate(ids[:n]) if t == builder.image_token_id]
        out.append((row, queries[:4], image_pos))
    return out
