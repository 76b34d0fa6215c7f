"""The sizes of a tiny model (light: configs that name one stay importable without torch)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class TinyModelSpec(BaseModel):
    """Sizes of the tiny model. Defaults: ~2 M parameters, a 448×448 (256-token) maximum view."""

    hidden_size: int = 128
    num_layers: int = 4
    num_heads: int = 4
    num_kv_heads: int = 2
    intermediate_size: int = 384
    vision_depth: int = 2
    vision_hidden: int = 64
    vision_heads: int = 4
    vision_intermediate: int = 128
    min_pixels: int = Field(56 * 56, description="smallest image the processor feeds (pixels)")
    max_pixels: int = Field(448 * 448, description="largest image the processor feeds (pixels)")
    max_position_embeddings: int = 8192
    rope_theta: float = Field(
        1_000_000.0,
        description="RoPE base. Qwen's 1e6 leaves a tiny head's w-section "
        "(the lowest frequencies) nearly unrotated across an image: columns become invisible",
    )
    mrope_section: list[int] | None = Field(
        None,
        description="frequency pairs given to the (t, h, w) position ids, highest frequencies first; "
        "None = Qwen's 2:3:3 split of head_dim / 2",
    )
    vocab_size: int = 4096
    seed: int = 0
    family: Literal["qwen2.5-vl", "qwen3-vl"] = Field("qwen2.5-vl", description="the architecture to build")

    @property
    def patch_size(self) -> int:
        return 16 if self.family == "qwen3-vl" else 14
