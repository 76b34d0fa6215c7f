"""The tiny-model kit: tokenizer, processor round trip, and loading a stock-layout Qwen folder."""

import json
import shutil

import pytest
from transformers import AutoProcessor, Qwen2_5_VLForConditionalGeneration

from deepeyes_agent.models import ImageOnlyQwenVLProcessor, build_processor, load_processor
from deepeyes_agent.models.tiny import TinyModelSpec
from deepeyes_agent.models.tokenizer import SPECIAL_TOKENS, TAG_TOKENS, build_tokenizer


def test_numbers_are_single_tokens(processor):
    tok = processor.tokenizer
    for n in (0, 7, 42, 448, 999):
        assert len(tok(str(n), add_special_tokens=False).input_ids) == 1
        assert len(tok(f" {n}", add_special_tokens=False).input_ids) == 1
    box = tok("[12, 340, 56, 789]", add_special_tokens=False).input_ids
    assert len(box) == 9  # [ 12 , ␣340 , ␣56 , ␣789 ]


def test_special_and_tag_tokens_are_atomic(processor):
    tok = processor.tokenizer
    for t in SPECIAL_TOKENS + TAG_TOKENS:
        ids = tok(t, add_special_tokens=False).input_ids
        assert len(ids) == 1 and tok.decode(ids) == t


def test_tokenizer_is_deterministic():
    assert build_tokenizer().get_vocab() == build_tokenizer().get_vocab()


def test_saved_folder_loads_with_auto_classes(tiny_dir):
    proc = AutoProcessor.from_pretrained(tiny_dir)
    assert isinstance(proc, ImageOnlyQwenVLProcessor)  # not a bare tokenizer
    model = Qwen2_5_VLForConditionalGeneration.from_pretrained(tiny_dir)
    assert model.config.image_token_id == proc.tokenizer.convert_tokens_to_ids("<|image_pad|>")
    text = model.config.text_config
    assert sum(text.rope_parameters["mrope_section"]) == text.hidden_size // text.num_attention_heads // 2


def test_mrope_sections_are_configurable_and_checked():
    from deepeyes_agent.models.tiny import tiny_config

    spec = TinyModelSpec(hidden_size=64, num_heads=2, mrope_section=[2, 2, 12])  # head_dim 32: 16 pairs
    tok = build_processor(spec).tokenizer
    assert tiny_config(spec, tok).text_config.rope_parameters["mrope_section"] == [2, 2, 12]
    assert tiny_config(spec.model_copy(update={"mrope_section": None}), tok).text_config.rope_parameters[
        "mrope_section"
    ] == [4, 6, 6]
    with pytest.raises(ValueError, match="sum"):
        tiny_config(spec.model_copy(update={"mrope_section": [4, 4, 4]}), tok)


def test_kv_heads_can_be_split_without_changing_the_model(tiny_dir, tmp_path):
    """Giving each query head its own copy of the shared keys/values is exact; the new heads then train apart."""
    import torch

    from deepeyes_agent.models.tiny import with_kv_heads

    model = Qwen2_5_VLForConditionalGeneration.from_pretrained(tiny_dir).eval()  # 4 heads, 2 KV heads
    split = with_kv_heads(model, 4).eval()
    assert split.config.text_config.num_key_value_heads == 4
    attn = split.model.language_model.layers[0].self_attn
    assert attn.k_proj.out_features == attn.q_proj.out_features  # one key per query head
    ids = torch.randint(0, 3000, (2, 24))
    with torch.no_grad():
        assert torch.allclose(model(input_ids=ids).logits, split(input_ids=ids).logits, atol=1e-5)
    split.save_pretrained(tmp_path / "split")
    assert (
        Qwen2_5_VLForConditionalGeneration.from_pretrained(tmp_path / "split").config.text_config.num_key_value_heads
        == 4
    )
    assert with_kv_heads(model, 2) is model
    with pytest.raises(ValueError, match="divide"):
        with_kv_heads(model, 3)


def test_stock_qwen_layout_loads_without_torchvision(tiny_dir, tmp_path):
    """A real Qwen2.5-VL folder names the stock processor (which needs a video processor); we fall back."""
    stock = tmp_path / "stock"
    shutil.copytree(tiny_dir, stock)
    cfg = json.loads((stock / "processor_config.json").read_text())
    image_cfg = cfg.pop("image_processor")
    (stock / "preprocessor_config.json").write_text(json.dumps(image_cfg | {"processor_class": "Qwen2_5_VLProcessor"}))
    (stock / "processor_config.json").write_text(json.dumps(cfg | {"processor_class": "Qwen2_5_VLProcessor"}))
    proc = load_processor(stock)
    assert hasattr(proc, "image_processor") and proc.image_processor.size["longest_edge"] == 448 * 448
    assert proc.chat_template


def test_small_max_pixels():
    proc = build_processor(TinyModelSpec(max_pixels=224 * 224))
    assert proc.image_processor.get_number_of_image_patches(1500, 2000, {}) // 4 <= 64


def test_both_embedded_models_ship_and_stay_small():
    """The shipped model (after RL) is the default; the base model (before RL) is --model base; together ≤ 30 MB."""
    from deepeyes_agent.models import BASE_MODEL_DIR, SHIPPED_MODEL_DIR, default_model_dir, resolve_model_dir

    assert default_model_dir() == SHIPPED_MODEL_DIR and resolve_model_dir(None) == SHIPPED_MODEL_DIR
    assert resolve_model_dir("base") == BASE_MODEL_DIR and (BASE_MODEL_DIR / "model.safetensors").exists()
    size = sum(p.stat().st_size for d in (SHIPPED_MODEL_DIR, BASE_MODEL_DIR) for p in d.iterdir())
    assert size <= 30 * 1024**2, f"{size / 1024**2:.1f} MB"
