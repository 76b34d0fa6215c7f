"""A backend that plays scripted model turns — for tests, demos, fault injection, and for watching your own tool
being called without a model that learned it (LangChain tests agents the same way, with fake chat models):

    from deepeyes_agent.backends import ScriptedBackend, answer_turn, tool_call_turn

    policy = ScriptedBackend.replaying([tool_call_turn("enhance", {"region": [140, 224, 224, 308]}),
                                        answer_turn("checkerboard")])
    agent = create_visual_agent(policy, tools=["zoom", enhance])   # every episode: your tool, then the answer

Each call takes the next scripted text (or asks ``script(request, turn)``; ``replaying`` plays each episode's own
turns), tokenises it with the real tokenizer and returns it as the completion. With ``model`` (a :class:`TransformersBackend`) the tokens
are teacher-forced through the model's generation path, so the logprobs are the model's own; without
it the logprobs are 0.0 and the backend is no policy at all, only a source of text. With a policy,
``model`` is that policy's torch model, so a trainer can learn from scripted (teacher-forced) episodes.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

from .base import Completion, GenerationRequest

Script = Sequence[str] | Callable[[GenerationRequest, int], str]


def tool_call_turn(name: str, arguments: dict, think: str = "I call the tool.") -> str:
    """A model turn that calls ``name`` with ``arguments`` (the syntax the agent parses)."""
    call = json.dumps({"name": name, "arguments": arguments})
    return f"<think>{think}</think>\n<tool_call>\n{call}\n</tool_call><|im_end|>"


def answer_turn(answer: str, think: str = "I have what I need.") -> str:
    """A model turn that answers."""
    return f"<think>{think}</think>\n<answer>{answer}</answer><|im_end|>"


class ScriptedBackend:
    def __init__(self, processor, script: Script, *, model=None, end_token: str = "<|im_end|>"):
        self.processor = processor
        self.tokenizer = processor.tokenizer
        self.script = script
        self.policy = model
        self.end_token = end_token
        self.calls = 0
        self._lock = threading.Lock()

    @classmethod
    def replaying(cls, turns: Sequence[str], model: str | Path | None = None, *, processor=None) -> ScriptedBackend:
        """Every episode plays ``turns``: its k-th model turn is ``turns[k]`` (counted in the episode's own prompt,
        so concurrent episodes each play the whole script). The tokenizer and processor are ``processor``, else
        ``model``'s (a model folder; default: the embedded model's)."""
        if processor is None:
            from ..models import resolve_model_dir
            from ..models.processor import load_processor

            processor = load_processor(resolve_model_dir(model))
        tokenizer = processor.tokenizer
        turns = list(turns)

        def script(request: GenerationRequest, _calls: int) -> str:
            turn = tokenizer.decode(request.prompt_ids).count("<|im_start|>assistant") - 1
            if turn >= len(turns):
                raise RuntimeError(f"the script has {len(turns)} turns; the episode asked for turn {turn + 1}")
            return turns[turn]

        return cls(processor, script)

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
