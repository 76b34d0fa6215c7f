"""Published Qwen2.5-VL configurations, built with random weights (nothing is downloaded) for the benchmarks
that measure the library at real sizes (``real_size.py`` on the CPU, ``gpu.py`` on a GPU).

The tokenizer is the tiny-model kit's, its special tokens placed at Qwen's ids so the configs' token ids hold; the
image processor is Qwen's (28-px blocks) with the pixel bounds asked for.
"""

from __future__ import annotations

import torch

# Qwen2.5-VL-3B-Instruct's config.json (text and vision), as published.
QWEN25_VL_3B = {
    "architectures": ["Qwen2_5_VLForConditionalGeneration"],
    "model_type": "qwen2_5_vl",
    "hidden_size": 2048,
    "intermediate_size": 11008,
    "num_hidden_layers": 36,
    "num_attention_heads": 16,
    "num_key_value_heads": 2,
    "max_position_embeddings": 128000,
    "rms_norm_eps": 1e-6,
    "vocab_size": 151936,
    "rope_theta": 1000000.0,
    "rope_scaling": {"type": "mrope", "mrope_section": [16, 24, 24]},
    "tie_word_embeddings": True,
    "bos_token_id": 151643,
    "eos_token_id": 151645,
    "image_token_id": 151655,
    "video_token_id": 151656,
    "vision_start_token_id": 151652,
    "vision_end_token_id": 151653,
    "vision_config": {
        "depth": 32,
        "hidden_act": "silu",
        "hidden_size": 1280,
        "intermediate_size": 3420,
        "num_heads": 16,
        "in_chans": 3,
        "out_hidden_size": 2048,
        "patch_size": 14,
        "spatial_merge_size": 2,
        "spatial_patch_size": 14,
        "window_size": 112,
        "fullatt_block_indexes": [7, 15, 23, 31],
        "tokens_per_second": 2,
        "temporal_patch_size": 2,
    },
}

# Qwen2.5-VL-7B-Instruct's config.json (text and vision), as published: the base of DeepEyes-7B.
QWEN25_VL_7B = {
    **QWEN25_VL_3B,
    "hidden_size": 3584,
    "intermediate_size": 18944,
    "num_hidden_layers": 28,
    "num_attention_heads": 28,
    "num_key_value_heads": 4,
    "vocab_size": 152064,
    "tie_word_embeddings": False,
    "vision_config": {**QWEN25_VL_3B["vision_config"], "out_hidden_size": 3584},
}

# The same architecture, a few layers of a few hundred dims: the scripts' --quick mode on a CPU (seconds, not GB).
QWEN25_VL_QUICK = {
    **QWEN25_VL_3B,
    "hidden_size": 256,
    "intermediate_size": 512,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "rope_scaling": {"type": "mrope", "mrope_section": [8, 12, 12]},
    "vision_config": {
        **QWEN25_VL_3B["vision_config"],
        "depth": 2,
        "hidden_size": 128,
        "intermediate_size": 256,
        "num_heads": 2,
        "out_hidden_size": 256,
        "fullatt_block_indexes": [1],
    },
}

CONFIGS = {"3b": QWEN25_VL_3B, "7b": QWEN25_VL_7B, "quick": QWEN25_VL_QUICK}


def qwen_processor(min_pixels: int = 3136, max_pixels: int = 12845056):
    """Qwen's image processor and the kit's tokenizer (vocabulary 4096, Qwen's special-token ids)."""
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

    from deepeyes_agent.models.processor import ImageOnlyQwenVLProcessor
    from deepeyes_agent.models.tokenizer import build_tokenizer

    tokenizer = build_tokenizer(vocab_size=4096, seed=0)
    return ImageOnlyQwenVLProcessor(
        image_processor=Qwen2VLImageProcessorPil(min_pixels=min_pixels, max_pixels=max_pixels),
        tokenizer=tokenizer,
        chat_template=tokenizer.chat_template,
    )


def build_model(name: str, processor, device: str | torch.device = "cpu", dtype: torch.dtype = torch.bfloat16):
    """The published architecture ``name`` (3b, 7b) with random weights, built directly on ``device`` in ``dtype``."""
    from transformers import Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration

    values = CONFIGS[name]
    config = Qwen2_5_VLConfig(**{k: v for k, v in values.items() if k != "architectures"})
    ids = processor.tokenizer.convert_tokens_to_ids
    config.image_token_id, config.video_token_id = ids("<|image_pad|>"), ids("<|video_pad|>")
    config.vision_start_token_id, config.vision_end_token_id = ids("<|vision_start|>"), ids("<|vision_end|>")
    config.text_config.eos_token_id = ids("<|im_end|>")
    config.text_config.pad_token_id = ids("<|endoftext|>")
    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        with torch.device(device):
            model = Qwen2_5_VLForConditionalGeneration(config)
    finally:
        torch.set_default_dtype(previous)
    model.generation_config.eos_token_id = config.text_config.eos_token_id
    model.generation_config.pad_token_id = config.text_config.pad_token_id
    return model.eval()
