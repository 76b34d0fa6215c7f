"""A tiny byte-level BPE tokenizer with the Qwen special tokens, built offline in seconds.

Numbers 0..999 are single tokens (the pre-tokenizer splits digit runs into groups of at most three
and the training corpus holds every such number), so a box ``[x1, y1, x2, y2]`` costs a handful of
tokens instead of one per digit: a tiny model learns coordinates far more easily that way.
"""

from __future__ import annotations

import random

from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerFast

from ..protocol import SYSTEM_PROMPT, USER_SUFFIX

# Order matters only for readability; ids follow the trained vocabulary.
SPECIAL_TOKENS = [
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|object_ref_start|>",
    "<|object_ref_end|>",
    "<|box_start|>",
    "<|box_end|>",
    "<|quad_start|>",
    "<|quad_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|vision_pad|>",
    "<|image_pad|>",
    "<|video_pad|>",
]
# Qwen2.5 keeps these as ordinary added tokens: they are decoded, never skipped.
TAG_TOKENS = [
    "<tool_call>",
    "</tool_call>",
    "<think>",
    "</think>",
    "<answer>",
    "</answer>",
    "<tool_response>",
    "</tool_response>",
]

# Qwen2's pre-tokenizer regex with digit runs split into groups of up to three.
PRETOKENIZE_REGEX = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+| ?\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
    r"|\s*[\r\n]+|\s+(?!\S)|\s+"
)

_TURNS = (
    "<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for content in message['content'] %}"
    "{% if content['type'] == 'image' or 'image' in content or 'image_url' in content %}"
    "<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif content['type'] == 'text' %}{{ content['text'] }}{% endif %}"
    "{% endfor %}{% endif %}<|im_end|>\n"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
# Qwen2-VL's: a default system message when the chat has none
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{% if loop.first and message['role'] != 'system' %}<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n{% endif %}"
    + _TURNS
)
# Qwen3-VL's renders the same turns, with no default system message
QWEN3_CHAT_TEMPLATE = "{% for message in messages %}" + _TURNS

_WORDS = (
    "the a an of in on at to is are was what which where who how why color colour shape object sign "
    "left right top bottom above below upper lower middle center centre corner side near far small "
    "large big tiny red green blue yellow orange purple pink brown black white gray grey cyan magenta "
    "circle square triangle star cross diamond ring dot stripe stripes checker plain mark inner outer "
    "image picture photo scene crop zoom region box label answer question option options think "
    "first then call if needed tool tools function arguments name bbox_2d format strictly use "
    "located relative position object the apple desk table cup book car person dog cat tree house "
    "sky road window door chair bottle phone clock lamp bag hat shirt flag ball sign board text "
    "number digit letter word read see look find locate count there this that it its with and or not "
    "yes no true false one two three four five six seven eight nine ten please just choose correct "
    "without any explanation model assistant user system helpful you may provided within tags xml "
    "return json object example specific cropping based bounding optional"
).split()


def _corpus(seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    lines = [SYSTEM_PROMPT, USER_SUFFIX] * 20
    for _ in range(3000):
        lines.append(" ".join(rng.choice(_WORDS) for _ in range(rng.randint(3, 12))) + ".")
        lines.append(" ".join(w.capitalize() for w in rng.sample(_WORDS, 3)) + "?")
    for n in range(1000):  # every number 0..999 as its own word, several times
        lines.extend([f"{n}", f" {n}", f"[{n}, {rng.randint(0, 999)}]"] * 3)
    for _ in range(2000):
        box = [rng.randint(0, 999) for _ in range(4)]
        lines.append(
            '<tool_call>\n{"name": "image_zoom_in_tool", "arguments": {"bbox_2d": '
            f'[{box[0]}, {box[1]}, {box[2]}, {box[3]}], "label": "the {rng.choice(_WORDS)}"}}}}\n</tool_call>'
        )
    return lines


def build_tokenizer(vocab_size: int = 4096, seed: int = 0) -> PreTrainedTokenizerFast:
    """Train the tiny tokenizer (deterministic for a seed) and wrap it for transformers."""
    tok = Tokenizer(models.BPE(unk_token=None, byte_fallback=False))
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(PRETOKENIZE_REGEX), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=2,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(_corpus(seed), trainer=trainer)
    # Specials must be added on the raw Tokenizer before wrapping, or ids get reordered.
    tok.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in SPECIAL_TOKENS])
    tok.add_tokens([AddedToken(t, special=False, normalized=False) for t in TAG_TOKENS])
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        unk_token=None,
        bos_token=None,
        clean_up_tokenization_spaces=False,
        model_max_length=32768,
    )
    fast.chat_template = CHAT_TEMPLATE
    return fast
