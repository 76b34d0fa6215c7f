"""A token-level backend over OpenRLHF's rollout engine, so the graph's policy node can run on it.

OpenRLHF hands the executor ``llm_engine`` (a ``RolloutRayActor``): ``await generate(prompt_token_ids,
sampling_params, multi_modal_data={"image": [...]})`` returns a vLLM ``RequestOutput``. The ids may
carry EXPANDED image pads: OpenRLHF collapses each run itself (``dedup_media_tokens``) when
``--data.max_images_per_prompt > 0`` — the same form as this library's requests.
"""

from __future__ import annotations

from collections.abc import Sequence
from copy import deepcopy

from deepeyes_agent.backends.base import Completion, GenerationRequest, gather_sync
from deepeyes_agent.backends.vllm_backend import completion_from_vllm


class EngineBackend:
    """``sampling_params`` is OpenRLHF's ``vllm.SamplingParams`` (temperature, top-p/k from its flags);
    each request sets its own ``max_tokens`` (the turn budget within the context) and asks for the
    sampled tokens' logprobs."""

    def __init__(self, llm_engine, processor, sampling_params):
        self.llm_engine = llm_engine
        self.processor = processor
        self.sampling_params = sampling_params

    def _params(self, request: GenerationRequest):
        params = deepcopy(self.sampling_params)
        params.max_tokens = request.sampling.max_tokens
        if getattr(params, "logprobs", None) is None:
            params.logprobs = 0  # vLLM: 0 = only the sampled token's logprob
        if request.sampling.seed is not None and hasattr(params, "seed"):
            params.seed = request.sampling.seed
        return params

    async def agenerate(self, request: GenerationRequest) -> Completion:
        mm = {"image": list(request.images)} if request.images else None
        output = await self.llm_engine.generate(list(request.prompt_ids), self._params(request), multi_modal_data=mm)
        return completion_from_vllm(output)

    def generate(self, requests: Sequence[GenerationRequest]) -> list[Completion]:
        return gather_sync(self.agenerate, requests)
