"""The transformers backend: greedy determinism, seeded sampling, batching, logprobs, async gathering, weight sync."""

import asyncio

import torch
from PIL import Image

from deepeyes_agent.backends import GenerationRequest, SamplingParams, collapse_image_pads
from deepeyes_agent.models.forward import score_tokens
from deepeyes_agent.prompts import PromptBuilder


def _request(processor, size=(640, 480), question="What is here?", max_tokens=12, temperature=0.0, seed=None):
    img = Image.new("RGB", size, (30, 120, 200))
    ids = PromptBuilder(processor).prompt_ids(img, question)
    return GenerationRequest(ids, [img], SamplingParams(max_tokens=max_tokens, temperature=temperature, seed=seed))


def test_batched_generation_equals_one_by_one(backend, processor):
    reqs = [_request(processor, (640, 480), "a?"), _request(processor, (300, 900), "a longer question here?")]
    batched = backend.generate(reqs)
    single = [backend.generate([r])[0] for r in reqs]
    for b, s in zip(batched, single):
        assert b.token_ids == s.token_ids
        assert max(abs(x - y) for x, y in zip(b.logprobs, s.logprobs)) < 1e-4


def test_a_seeded_request_samples_the_same_whatever_shares_its_batch(backend, processor):
    def sampled(seed, question="a?"):
        return _request(processor, question=question, max_tokens=16, temperature=1.0, seed=seed)

    alone = backend.generate([sampled(7)])[0]
    # with other requests around it (a longer prompt pads it on the left; a twin with another seed)
    crowded = backend.generate([sampled(3, "a much longer question than the first one?"), sampled(7), sampled(8)])
    assert crowded[1].token_ids == alone.token_ids
    assert max(abs(x - y) for x, y in zip(crowded[1].logprobs, alone.logprobs)) < 1e-4
    # the same prompt under another seed is another sample (a group's rollouts differ)
    assert crowded[2].token_ids != alone.token_ids
    torch.manual_seed(0)
    unseeded = [c.token_ids for c in backend.generate([sampled(None), sampled(None)])]
    assert unseeded[0] != unseeded[1]


def test_length_finish_and_logprobs_match_a_training_forward(backend, processor):
    req = _request(processor, max_tokens=8)
    out = backend.generate([req])[0]
    assert out.finish_reason in ("stop", "length") and len(out.token_ids) <= 8
    assert len(out.logprobs) == len(out.token_ids)
    scored = score_tokens(backend.model, processor, req.prompt_ids + out.token_ids, req.images)
    got = scored[len(req.prompt_ids) :]
    assert torch.allclose(got, torch.tensor(out.logprobs), atol=1e-4)


def test_concurrent_async_requests_share_batches(backend, processor):
    calls = []
    original = backend._generate_batch

    def counting(requests, forced=None):
        calls.append(len(requests))
        return original(requests, forced)

    backend._generate_batch = counting
    try:

        async def run():
            return await asyncio.gather(*(backend.agenerate(_request(processor, max_tokens=4)) for _ in range(6)))

        outs = asyncio.run(run())
    finally:
        del backend._generate_batch
    assert len(outs) == 6 and sum(calls) == 6 and max(calls) > 1


def test_weight_sync_changes_the_policy(tiny_dir, processor):
    from deepeyes_agent.backends import TransformersBackend

    b = TransformersBackend.from_pretrained(tiny_dir)
    req = _request(processor, max_tokens=6)
    before = b.generate([req])[0]
    state = {k: v + 0.05 * torch.randn_like(v) if v.is_floating_point() else v for k, v in b.model.state_dict().items()}
    b.load_state_dict(state)
    after = b.generate([req])[0]
    assert before.logprobs != after.logprobs


def test_collapse_image_pads_for_vllm():
    assert collapse_image_pads([1, 9, 9, 9, 2, 9, 9, 3], 9) == [1, 9, 2, 9, 3]
