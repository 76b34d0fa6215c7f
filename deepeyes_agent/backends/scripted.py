"""A backend that plays scripted model turns — for tests, demos and fault injection.

Each call takes the next scripted text (or asks ``script(request, turn)``), tokenises it with the real
tokenizer and returns it as the completion. With ``model`` (a :class:`TransformersBackend`) the tokens
are teacher-forced through the model's generation path, so the logprobs are the model's own; without
it the logprobs are 0.0 and the backend is no policy at all, only a source of text. With a policy,
``model`` is that policy's torch model, so a trainer can learn from scripted (teacher-forced) episodes.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence

from .base import Completion, GenerationRequest

Script = Sequence[str] | Callable[[GenerationRequest, int], str]


class ScriptedBackend:
    def __init__(self, processor, script: Script, *, model=None, end_token: str = "<|im_end|>"):
        self.processor = processor
        self.tokenizer = processor.tokenizer
        self.script = script
        self.policy = model
        self.end_token = end_token
        self.calls = 0
        self._lock = threading.Lock()

    def _next_text(self, request: GenerationRequest) -> str:
        with self._lock:
            turn = self.calls
            self.calls += 1
        if callable(self.script):
            return self.script(request, turn)
        if turn >= len(self.script):
            raise RuntimeError(f"script exhausted after {len(self.script)} turns")
        return self.script[turn]

    def _complete(self, request: GenerationRequest) -> Completion:
        text = self._next_text(request)
        ids = list(self.tokenizer(text, add_special_tokens=False)["input_ids"])
        budget = request.sampling.max_tokens
        finish = "stop" if text.endswith(self.end_token) else "length"
        if len(ids) > budget:
            ids, finish = ids[:budget], "length"
        if self.policy is not None and ids:
            done = self.policy.force(request, ids)
            return Completion(ids, done.text, done.logprobs, finish)
        return Completion(ids, self.tokenizer.decode(ids, skip_special_tokens=False), [0.0] * len(ids), finish)

    @property
    def model(self):
        return None if self.policy is None else self.policy.model

    @property
    def pad_token_id(self) -> int:
        return self.policy.pad_token_id if self.policy is not None else self.tokenizer.pad_token_id

    def generate(self, requests: Sequence[GenerationRequest]) -> list[Completion]:
        return [self._complete(r) for r in requests]

    async def agenerate(self, request: GenerationRequest) -> Completion:
        return self._complete(request)
