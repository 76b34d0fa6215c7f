"""What the vLLM tests share: the logprob tolerance, a free port for a server, a two-image request."""

from __future__ import annotations

import socket

from deepeyes_agent.backends import GenerationRequest, SamplingParams
from deepeyes_agent.prompts import PromptBuilder

ATOL = 1e-3  # float32 on CPU, vLLM's kernels vs transformers': logprobs agree within this (measured ~1e-5)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def two_image_request(processor, scene_path, crop_box=(850, 650, 1050, 850)) -> GenerationRequest:
    """A first turn's prompt plus one observation with a crop: the multi-image form of a later turn."""
    from PIL import Image

    builder = PromptBuilder(processor)
    image = Image.open(scene_path).convert("RGB")
    crop = image.crop(crop_box)
    ids = builder.prompt_ids(image, "What is inside the red square?", ["checkerboard", "stripes"])
    ids = ids + builder.observation_ids(crop)
    return GenerationRequest(ids, [image, crop], SamplingParams(max_tokens=24, temperature=0.0))
