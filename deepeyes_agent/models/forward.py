"""Model inputs shared by generation and training: pixel values, grids, mm token types, scoring.

transformers' Qwen-VL ``get_rope_index`` needs ``mm_token_type_ids``; without it the forward pass
silently falls back to 1-D positions. Everything that calls the model goes through here.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from PIL import Image


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
    logits = model(
        input_ids=ids,
        attention_mask=torch.ones_like(ids),
        mm_token_type_ids=mm_token_type_ids(ids, image_token_id, model.config.video_token_id),
        **vis,
    ).logits.float()
    logp = torch.log_softmax(logits[0, :-1], dim=-1).gather(-1, ids[0, 1:, None])[:, 0]
    return torch.cat([torch.zeros(1, device=device), logp]).cpu()
