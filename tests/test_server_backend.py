"""The vLLM server backend's request and response handling, without a server (tests/test_vllm.py runs a real one):
what it sends, how it reads vLLM's token-in/token-out answer, and that drift between sent and run ids is caught."""

import base64
import io

import pytest
from PIL import Image

from deepeyes_agent.backends import GenerationRequest, SamplingParams, ServerBackend, TokenDrift, collapse_image_pads
from deepeyes_agent.prompts import PromptBuilder
from deepeyes_agent.serving import ServeConfig, server_command


@pytest.fixture
def request_and_client(tiny_dir, processor):
    img = Image.new("RGB", (640, 480), (30, 120, 200))
    ids = PromptBuilder(processor).prompt_ids(img, "What is here?")
    request = GenerationRequest(ids, [img], SamplingParams(max_tokens=5, temperature=0.0, seed=7))
    return request, ServerBackend("http://127.0.0.1:9", tiny_dir, model="deepeyes")


def answer(prompt_ids, token_ids, logprobs, finish="stop") -> dict:
    content = [{"token_id": t, "logprob": lp, "top_logprobs": []} for t, lp in zip(token_ids, logprobs)]
    return {
        "prompt_token_ids": prompt_ids,
        "choices": [{"index": 0, "token_ids": token_ids, "finish_reason": finish, "logprobs": {"content": content}}],
    }


def test_payload_sends_one_pad_per_image_the_image_losslessly_and_asks_for_logprobs(request_and_client):
    request, client = request_and_client
    body = client.payload(request)
    assert body["token_ids"] == collapse_image_pads(request.prompt_ids, client.image_token_id)
    assert body["token_ids"].count(client.image_token_id) == 1
    url = body["content_parts"][0]["url"]
    sent = Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))).convert("RGB")
    assert sent.size == (504, 364)  # the model's view of the 640×480 original (28-px blocks), not the original
    assert body["sampling_params"] == {
        "max_tokens": 5,
        "temperature": 0.0,
        "top_p": 1.0,
        "top_k": -1,
        "logprobs": 0,
        "skip_special_tokens": False,
        "include_stop_str_in_output": True,  # the text ends as the token ids do, as transformers decodes it
        "seed": 7,
    }
    assert body["return_token_ids"] is True and body["model"] == "deepeyes"


def test_the_answer_becomes_a_completion_with_the_sampled_logprobs(request_and_client):
    request, client = request_and_client
    ids = client.tokenizer("<answer>A</answer><|im_end|>", add_special_tokens=False)["input_ids"]
    done = client._completion(request, answer(request.prompt_ids, ids, [-0.5] * len(ids)))
    assert done.token_ids == ids and done.logprobs == [-0.5] * len(ids) and done.finish_reason == "stop"
    assert done.text == "<answer>A</answer><|im_end|>"


def test_a_server_that_ran_other_prompt_ids_is_drift_not_a_trajectory(request_and_client):
    request, client = request_and_client
    ran = list(request.prompt_ids)
    ran.insert(ran.index(client.image_token_id), client.image_token_id)  # one pad more than the request holds
    with pytest.raises(TokenDrift, match="first difference at position"):
        client._completion(request, answer(ran, [5], [-0.1]))


def test_logprobs_for_other_tokens_are_refused(request_and_client):
    request, client = request_and_client
    bad = answer(request.prompt_ids, [5, 6], [-0.1, -0.2])
    bad["choices"][0]["logprobs"]["content"][1]["token_id"] = 9
    with pytest.raises(ValueError, match="logprobs"):
        client._completion(request, bad)


def test_serve_model_command_has_the_flags_the_backends_need(tiny_dir):
    cmd = server_command(ServeConfig(model=tiny_dir, port=8123, max_images=4, max_model_len=2048))
    joined = " ".join(cmd)
    assert cmd[1:3] == ["-m", "vllm.entrypoints.openai.api_server"]
    for flag in (
        "--enable-scale-out",
        '--limit-mm-per-prompt {"image": 4, "video": 0}',
        "--max-model-len 2048",
        "--port 8123",
        "--served-model-name deepeyes",
        "--max-logprobs 20",
    ):
        assert flag in joined


@pytest.mark.parametrize("size", [(1800, 1200), (640, 480), (300, 200), (448, 336)])
def test_the_view_sent_gives_the_server_the_pixels_of_the_original(request_and_client, size):
    """Above and below max_pixels: the server's processor computes identical pixel values (so identical tokens and
    logprobs) from the view the client sends as from the original, after the lossless round trip."""
    import numpy as np
    import torch

    _, client = request_and_client
    original = Image.fromarray(np.random.default_rng(1).integers(0, 255, (size[1], size[0], 3), dtype=np.uint8))
    url = client._data_url(original)
    sent = Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))).convert("RGB")
    ip = client.processor.image_processor
    a, b = ip(images=[original], return_tensors="pt"), ip(images=[sent], return_tensors="pt")
    assert torch.equal(a["image_grid_thw"], b["image_grid_thw"]) and torch.equal(a["pixel_values"], b["pixel_values"])
    assert sent.width * sent.height <= max(original.width * original.height, 448 * 448)


@pytest.mark.parametrize("size", [(1920, 1080), (640, 480), (4000, 1000)])
def test_a_view_the_server_would_resize_again_is_not_sent(size):
    """The embedded model's processor has min_pixels == max_pixels: a 16:9 view rounded down under max_pixels would be
    scaled up again by the server (other pixels, more image tokens), so the original goes instead. Whatever is
    sent, the server's processor computes the pixels and the grid of the original."""
    import numpy as np
    import torch

    from deepeyes_agent.backends.wire import view_image
    from deepeyes_agent.models import default_model_dir, load_processor

    ip = load_processor(default_model_dir()).image_processor
    original = Image.fromarray(np.random.default_rng(2).integers(0, 255, (size[1], size[0], 3), dtype=np.uint8))
    sent = view_image(original, ip)
    a, b = ip(images=[original], return_tensors="pt"), ip(images=[sent], return_tensors="pt")
    assert torch.equal(a["image_grid_thw"], b["image_grid_thw"]) and torch.equal(a["pixel_values"], b["pixel_values"])
