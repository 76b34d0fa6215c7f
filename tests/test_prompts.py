"""Prompt and observation ids: the DeepEyes templates, image pads expanded to the processor's grid."""

from PIL import Image

from deepeyes_agent.prompts import PromptBuilder
from deepeyes_agent.protocol import SYSTEM_PROMPT, USER_SUFFIX, user_text


def test_prompt_has_system_prompt_question_and_one_expanded_image(processor):
    pb = PromptBuilder(processor)
    img = Image.new("RGB", (2000, 1500))
    ids = pb.prompt_ids(img, "What colour is the sign?", ["red", "blue"])
    grid = processor.image_processor(images=[img], return_tensors="pt")["image_grid_thw"][0]
    assert ids.count(pb.image_token_id) == int(grid.prod()) // 4
    text = processor.tokenizer.decode(ids)
    assert SYSTEM_PROMPT in text
    assert "Question: What colour is the sign?\nOptions: \nA. red\nB. blue\n\n" + USER_SUFFIX in text
    assert text.endswith("<|im_start|>assistant\n")
    assert text.count("<|vision_start|>") == 1 and text.count("<|vision_end|>") == 1


def test_observation_matches_the_deepeyes_template(processor):
    pb = PromptBuilder(processor)
    crop = Image.new("RGB", (100, 60))
    text = processor.tokenizer.decode(pb.observation_ids(crop))
    pad = "<|image_pad|>" * pb.num_image_tokens(crop)
    assert (
        text
        == f"\n<|im_start|>user\n<tool_response><|vision_start|>{pad}<|vision_end|>{USER_SUFFIX}</tool_response><|im_end|>\n<|im_start|>assistant\n"
    )


def test_error_observation(processor):
    pb = PromptBuilder(processor)
    text = processor.tokenizer.decode(pb.error_observation_ids("Error: ZOOM IN ARGUMENTS ARE INVALID"))
    assert text == "\n<|im_start|>user\nError: ZOOM IN ARGUMENTS ARE INVALID<|im_end|>\n<|im_start|>assistant\n"


def test_user_text_without_options():
    assert user_text("Where is it?") == "Where is it?" + USER_SUFFIX
