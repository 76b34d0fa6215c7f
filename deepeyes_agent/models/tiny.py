"""Build a tiny Qwen2.5-VL- or Qwen3-VL-architecture model fully offline (random weights; pretraining is separate).

The two families differ where this library must get them right: Qwen3-VL sees 16-px patches (32-px blocks after
its 2×2 merge, against Qwen2.5-VL's 28), grounds in a 0..1000 frame, feeds "deepstack" features of some vision
layers into the first decoder layers, and has its own chat template (no default system message).
"""

from __future__ import annotations

import math
from pathlib import Path

import torch
from transformers import (
    Qwen2_5_VLConfig,
    Qwen2_5_VLForConditionalGeneration,
    Qwen3VLConfig,
    Qwen3VLForConditionalGeneration,
)
from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

from .processor import ImageOnlyQwenVLProcessor
from .spec import TinyModelSpec
from .tokenizer import QWEN3_CHAT_TEMPLATE, build_tokenizer


def build_processor(spec: TinyModelSpec) -> ImageOnlyQwenVLProcessor:
    tokenizer = build_tokenizer(vocab_size=spec.vocab_size, seed=spec.seed)
    image_processor = Qwen2VLImageProcessorPil(
        min_pixels=spec.min_pixels, max_pixels=spec.max_pixels, patch_size=spec.patch_size, merge_size=2
    )
    if spec.family == "qwen3-vl":
        tokenizer.chat_template = QWEN3_CHAT_TEMPLATE
    return ImageOnlyQwenVLProcessor(
        image_processor=image_processor, tokenizer=tokenizer, chat_template=tokenizer.chat_template
    )


def _mrope(spec: TinyModelSpec, head_dim: int) -> list[int]:
    """mRoPE (t, h, w) frequency pairs summing to head_dim / 2 (Qwen's ratio 2:3:3 unless the spec says)."""
    half = head_dim // 2
    hw = half * 3 // 8
    mrope = list(spec.mrope_section or [half - 2 * hw, hw, hw])
    if sum(mrope) != half or len(mrope) != 3:
        raise ValueError(f"mrope_section {mrope} must be three numbers summing to head_dim / 2 = {half}")
    return mrope


def _text_config(spec: TinyModelSpec, tokenizer, **rope_extra) -> dict:
    ids = tokenizer.convert_tokens_to_ids
    head_dim = spec.hidden_size // spec.num_heads
    rope = {
        "rope_type": "default",
        "rope_theta": spec.rope_theta,
        "mrope_section": _mrope(spec, head_dim),
        **rope_extra,
    }
    return dict(
        vocab_size=len(tokenizer),
        hidden_size=spec.hidden_size,
        intermediate_size=spec.intermediate_size,
        num_hidden_layers=spec.num_layers,
        num_attention_heads=spec.num_heads,
        num_key_value_heads=spec.num_kv_heads,
        max_position_embeddings=spec.max_position_embeddings,
        rope_parameters=rope,
        bos_token_id=ids("<|endoftext|>"),
        eos_token_id=ids("<|im_end|>"),
        pad_token_id=ids("<|endoftext|>"),
        tie_word_embeddings=True,
    )


def _vision_config(spec: TinyModelSpec, **family) -> dict:
    return dict(
        depth=spec.vision_depth,
        hidden_size=spec.vision_hidden,
        intermediate_size=spec.vision_intermediate,
        num_heads=spec.vision_heads,
        out_hidden_size=spec.hidden_size,
        patch_size=spec.patch_size,
        spatial_merge_size=2,
        temporal_patch_size=2,
        **family,
    )


def _special_ids(tokenizer) -> dict:
    ids = tokenizer.convert_tokens_to_ids
    return dict(
        image_token_id=ids("<|image_pad|>"),
        video_token_id=ids("<|video_pad|>"),
        vision_start_token_id=ids("<|vision_start|>"),
        vision_end_token_id=ids("<|vision_end|>"),
        tie_word_embeddings=True,
    )


def tiny_config(spec: TinyModelSpec, tokenizer) -> Qwen2_5_VLConfig:
    return Qwen2_5_VLConfig(
        text_config=_text_config(spec, tokenizer),
        vision_config=_vision_config(spec, fullatt_block_indexes=[spec.vision_depth - 1], window_size=112),
        **_special_ids(tokenizer),
    )


def tiny_qwen3_config(spec: TinyModelSpec, tokenizer) -> Qwen3VLConfig:
    """Qwen3-VL: an explicit ``head_dim``, interleaved mRoPE sections, deepstack layers inside the vision depth,
    and a square grid of learned position embeddings."""
    side = int(math.ceil(math.sqrt(spec.max_pixels)) / spec.patch_size) + 1
    text = _text_config(spec, tokenizer, mrope_interleaved=True)
    text["head_dim"] = spec.hidden_size // spec.num_heads
    return Qwen3VLConfig(
        text_config=text,
        vision_config=_vision_config(
            spec,
            num_position_embeddings=side * side,
            deepstack_visual_indexes=list(range(min(spec.vision_depth, spec.num_layers, 3)))[-2:],
        ),
        **_special_ids(tokenizer),
    )


def build_tiny_model(out_dir: str | Path | None = None, spec: TinyModelSpec | None = None):
    """Build (and optionally save) a random tiny model and its processor; deterministic for ``spec.seed``."""
    spec = spec or TinyModelSpec()
    processor = build_processor(spec)
    torch.manual_seed(spec.seed)
    if spec.family == "qwen3-vl":
        model = Qwen3VLForConditionalGeneration(tiny_qwen3_config(spec, processor.tokenizer)).eval()
    else:
        model = Qwen2_5_VLForConditionalGeneration(tiny_config(spec, processor.tokenizer)).eval()
    config = model.config
    model.generation_config.eos_token_id = config.text_config.eos_token_id
    model.generation_config.pad_token_id = config.text_config.pad_token_id
    if out_dir is not None:
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        model.save_pretrained(out_dir)
        processor.save_pretrained(out_dir)
    return model, processor


@torch.no_grad()
def ordinal_number_embeddings(model, tokenizer, dims: int = 32, scale: float = 0.05) -> int:
    """Give the number tokens 0..999 (with and without a leading space) smooth sinusoidal features in
    their first ``dims`` embedding dimensions, so nearby numbers start out nearby: coordinates are read
    and emitted as an ordered quantity rather than 1000 unrelated classes. Returns how many were set."""
    emb = model.get_input_embeddings().weight
    freqs = torch.exp(torch.linspace(math.log(0.5), math.log(0.002), dims // 2))  # periods 12..3000
    count = 0
    for n in range(1000):
        feats = torch.cat([torch.sin(n * freqs), torch.cos(n * freqs)]) * scale
        for text in (str(n), f" {n}"):
            ids = tokenizer(text, add_special_tokens=False)["input_ids"]
            if len(ids) == 1:
                emb[ids[0], :dims] = feats
                count += 1
    return count


def with_kv_heads(model, kv_heads: int):
    """The same function with ``kv_heads`` key/value heads: each shared K/V projection is copied to the query
    heads that read it (what grouped-query attention repeats at run time), so the outputs are unchanged and
    each group can then learn its own keys. Returns a new model; ``kv_heads`` must divide the query heads and
    be at least the current count."""
    text = model.config.text_config
    heads, old = text.num_attention_heads, text.num_key_value_heads
    if kv_heads == old:
        return model
    if heads % kv_heads or kv_heads % old:
        raise ValueError(
            f"kv_heads={kv_heads}: must divide the {heads} query heads and be a multiple of the current {old}"
        )
    config = model.config.__class__.from_dict(model.config.to_dict())
    config.text_config.num_key_value_heads = kv_heads
    repeat = kv_heads // old
    head_dim = text.hidden_size // heads
    state = {}
    for name, tensor in model.state_dict().items():
        if name.endswith(
            ("self_attn.k_proj.weight", "self_attn.k_proj.bias", "self_attn.v_proj.weight", "self_attn.v_proj.bias")
        ):
            tensor = (
                tensor.reshape(old, head_dim, *tensor.shape[1:])
                .repeat_interleave(repeat, 0)
                .reshape(kv_heads * head_dim, *tensor.shape[1:])
            )
        state[name] = tensor
    new = model.__class__(config).to(next(model.parameters()).dtype)
    new.load_state_dict(state)
    return new
