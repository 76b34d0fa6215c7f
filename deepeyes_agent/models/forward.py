"""Model inputs shared by generation and training: pixel values, grids, mm token types, scoring.

transformers' Qwen-VL ``get_rope_index`` needs ``mm_token_type_ids``; without it the forward pass
silently falls back to 1-D positions. Everything that calls the model goes through here.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from PIL import Image


def to_device(batch, device):
    """A dataclass of tensors (and dicts of tensors, e.g. the vision inputs) with every tensor on ``device``; other
    fields as they are."""
    import dataclasses

    def move(value):
        if isinstance(value, torch.Tensor):
            return value.to(device)
        if isinstance(value, dict):
            return {k: move(v) for k, v in value.items()}
        return value

    return dataclasses.replace(batch, **{f.name: move(getattr(batch, f.name)) for f in dataclasses.fields(batch)})


def mm_token_type_ids(input_ids: torch.Tensor, image_token_id: int, video_token_id: int | None = None) -> torch.Tensor:
    types = (input_ids == image_token_id).to(torch.int32)
    if video_token_id is not None:
        types = types + 2 * (input_ids == video_token_id).to(torch.int32)
    return types


def vision_inputs(image_processor, images: Sequence[Image.Image], dtype: torch.dtype) -> dict:
    """``pixel_values`` and ``image_grid_thw`` for images in sequence order (empty dict without images)."""
    if not images:
        return {}
    out = image_processor(images=list(images), return_tensors="pt")
    return {"pixel_values": out["pixel_values"].to(dtype), "image_grid_thw": out["image_grid_thw"]}


def check_image_tokens(
    input_ids: torch.Tensor, grid_thw: torch.Tensor | None, image_token_id: int, merge_size: int
) -> None:
    """The pads in the ids must match the images' grids exactly, or positions and features misalign."""
    n_pads = int((input_ids == image_token_id).sum())
    expected = 0 if grid_thw is None else int(grid_thw.prod(-1).sum()) // merge_size**2
    if n_pads != expected:
        raise ValueError(f"{n_pads} image pad tokens in the ids but the images need {expected}")


def next_token_logprobs(
    model,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor,
    mm_types: torch.Tensor,
    vision: dict,
    where: torch.Tensor | None = None,
    *,
    with_entropy: bool = False,
    chunk: int = 256,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """log p(token t+1 | ≤ t) for every position (B, L-1), and the entropy there; computed only ``where`` (a
    (B, L-1) bool mask, e.g. the action tokens), zeros elsewhere.

    Never a (B, L, vocab) float tensor: the vocabulary projection runs on ``chunk`` positions at a time, and in
    training each chunk is recomputed in the backward pass (activation checkpointing), so memory is
    O(chunk × vocab) — at Qwen's 151,936-token vocabulary and thousands of image tokens, full logits in float32
    are gigabytes."""
    hidden = model.model(input_ids=input_ids, attention_mask=attention_mask, mm_token_type_ids=mm_types, **vision)
    hidden = hidden.last_hidden_state[:, :-1]
    targets = input_ids[:, 1:]
    where = torch.ones_like(targets, dtype=torch.bool) if where is None else where.bool()
    rows, cols = where.nonzero(as_tuple=True)
    logp = torch.zeros(targets.shape, dtype=torch.float32, device=hidden.device)
    entropy = torch.zeros_like(logp) if with_entropy else None
    head = model.lm_head

    def score(h: torch.Tensor, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        logits = head(h).float()
        all_logp = torch.log_softmax(logits, dim=-1)
        picked = all_logp.gather(-1, t[:, None])[:, 0]
        ent = -(all_logp.exp() * all_logp).sum(-1) if with_entropy else picked.new_zeros(())
        return picked, ent

    for start in range(0, len(rows), chunk):
        r, c = rows[start : start + chunk], cols[start : start + chunk]
        h, t = hidden[r, c], targets[r, c]
        if torch.is_grad_enabled() and h.requires_grad:
            picked, ent = torch.utils.checkpoint.checkpoint(score, h, t, use_reentrant=False)
        else:
            picked, ent = score(h, t)
        logp = logp.index_put((r, c), picked)
        if with_entropy:
            entropy = entropy.index_put((r, c), ent)
    return logp, entropy


@torch.no_grad()
def score_tokens(model, processor, input_ids: Sequence[int], images: Sequence[Image.Image]) -> torch.Tensor:
    """Training-style forward over one whole sequence with all its images: logprob of token t given < t.

    Returns a float tensor of length ``len(input_ids)``; entry 0 is 0 (no context).
    """
    dtype = next(model.parameters()).dtype
    device = next(model.parameters()).device
    ids = torch.tensor([list(input_ids)], dtype=torch.long, device=device)
    image_token_id = model.config.image_token_id
    vis = {k: v.to(device) for k, v in vision_inputs(processor.image_processor, images, dtype).items()}
    check_image_tokens(ids, vis.get("image_grid_thw"), image_token_id, processor.image_processor.merge_size)
    types = mm_token_type_ids(ids, image_token_id, model.config.video_token_id)
    logp, _ = next_token_logprobs(model, ids, torch.ones_like(ids), types, vis)
    return torch.cat([torch.zeros(1, device=device), logp[0]]).cpu()
