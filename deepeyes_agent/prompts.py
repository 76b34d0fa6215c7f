"""Token-level prompt and observation builder.

The prompt is rendered once by the chat template and tokenised once; every observation is tokenised
on its own (it starts right after the model's ``<|im_end|>``, a special token, so token boundaries
cannot shift) and appended as ids. Each image placeholder (one ``<|image_pad|>``) is expanded to the
processor's grid: one pad per merged patch. Earlier text is never re-tokenised.
"""

from __future__ import annotations

from PIL import Image

from .images import ImageError
from .protocol import (
    ERROR_OBSERVATION_TEMPLATE,
    SYSTEM_PROMPT,
    USER_SUFFIX,
    USER_TEXT_TURN_TEMPLATE,
    USER_TURN_TEMPLATE,
    V5_CLOSE,
    V5_OPEN,
    tool_observation,
    tool_response_v5,
    user_text,
)


class PromptBuilder:
    """Token ids of the prompt and of every observation. ``user_suffix`` is the instruction after the question (and
    inside a one-call turn's ``<tool_response>``); ``multi_call``: observations of several calls in one user turn
    (visual_toolbox_v5's layout). A toolbox makes its own (``Toolbox.prompt_builder``)."""

    def __init__(
        self, processor, system_prompt: str = SYSTEM_PROMPT, *, user_suffix: str = USER_SUFFIX, multi_call: bool = False
    ):
        self.processor = processor
        self.tokenizer = processor.tokenizer
        self.image_processor = processor.image_processor
        self.system_prompt = system_prompt
        self.user_suffix = user_suffix
        self.multi_call = multi_call
        convert = self.tokenizer.convert_tokens_to_ids
        self.image_token_id = convert("<|image_pad|>")
        self.vision_start_id = convert("<|vision_start|>")
        self.vision_end_id = convert("<|vision_end|>")
        self.eos_token_id = convert("<|im_end|>")

    def num_image_tokens(self, image: Image.Image) -> int:
        try:
            patches = self.image_processor.get_number_of_image_patches(image.height, image.width, {})
        except ValueError as exc:  # e.g. aspect ratio ≥ 200: the Qwen-VL resize refuses it
            raise ImageError(f"image of {image.width}x{image.height} px cannot be fed to the model: {exc}") from exc
        return patches // (self.image_processor.merge_size**2)

    def messages(self, question: str, options: list[str] | None = None) -> list[dict]:
        return [
            {"role": "system", "content": self.system_prompt},
            {
                "role": "user",
                "content": [
                    {"type": "image"},
                    {"type": "text", "text": user_text(question, options, self.user_suffix)},
                ],
            },
        ]

    def prompt_ids(self, image: Image.Image, question: str, options: list[str] | None = None) -> list[int]:
        text = self.processor.apply_chat_template(
            self.messages(question, options), tokenize=False, add_generation_prompt=True
        )
        return self.expand(self._encode(text), [image])

    def observation_ids(self, crop: Image.Image) -> list[int]:
        """A one-call turn's crop (DeepEyes' observation, byte for byte with the zoom's suffix)."""
        return self.tool_observation_ids([(crop, None, None)])[0]

    def tool_observation_ids(self, results: list[tuple[Image.Image | None, str | None, str | None]]) -> list[list[int]]:
        """Token ids of a turn's observation, one list per call: ``results`` are ``(image, text, error)`` per call, in
        order. One call: DeepEyes' v2 observation (an error: its error turn). Several (``multi_call``): one user turn
        holding each call's ``<tool_response>`` (an error in place of its image), then the v5 turn prompt — the
        first call's ids carry the turn's opening, the last call's its close."""
        if not results:
            return []
        if not self.multi_call:
            image, text, error = results[0]
            if error is not None:
                return [self.error_observation_ids(error)]
            observation = tool_observation(image is not None, text, self.user_suffix)
            return [self.expand(self._encode(observation), [image] if image is not None else [])]
        out = []
        for k, (image, text, error) in enumerate(results):
            piece = tool_response_v5(image is not None, error if error is not None else text)
            piece = (V5_OPEN if k == 0 else "") + piece + (V5_CLOSE if k == len(results) - 1 else "")
            out.append(self.expand(self._encode(piece), [image] if image is not None and error is None else []))
        return out

    def user_turn_ids(self, image: Image.Image | None, question: str, options: list[str] | None = None) -> list[int]:
        """A later user turn of a chat (after the assistant's ``<|im_end|>``): image (if any) + question."""
        if image is None:
            return self._encode(USER_TEXT_TURN_TEMPLATE.format(text=user_text(question, options, self.user_suffix)))
        text = USER_TURN_TEMPLATE.format(text=user_text(question, options, self.user_suffix))
        return self.expand(self._encode(text), [image])

    def error_observation_ids(self, message: str) -> list[int]:
        return self._encode(ERROR_OBSERVATION_TEMPLATE.format(message=message))

    def expand(self, ids: list[int], images: list[Image.Image]) -> list[int]:
        """Replace the k-th single ``<|image_pad|>`` by the k-th image's token count."""
        positions = [i for i, t in enumerate(ids) if t == self.image_token_id]
        if len(positions) != len(images):
            raise ValueError(f"{len(positions)} image placeholders for {len(images)} images")
        out: list[int] = []
        last = 0
        for pos, image in zip(positions, images):
            out.extend(ids[last:pos])
            out.extend([self.image_token_id] * self.num_image_tokens(image))
            last = pos + 1
        out.extend(ids[last:])
        return out

    def _encode(self, text: str) -> list[int]:
        return list(self.tokenizer(text, add_special_tokens=False)["input_ids"])
