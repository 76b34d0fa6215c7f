"""The token-in/token-out backend protocol every policy runs behind.

A request is the prompt's token ids with every image placeholder EXPANDED (one ``<|image_pad|>`` per
merged patch — the training sequence), the images in order of appearance, and sampling parameters.
Backends that expand placeholders themselves (vLLM) collapse each run of pads to one before sending;
the shape matches ``vllm.LLM.generate({"prompt_token_ids": ..., "multi_modal_data": {"image": [...]}}, params)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol, runtime_checkable

from PIL import Image
from pydantic import BaseModel, Field


class SamplingParams(BaseModel):
    """Per-turn sampling (DeepEyes rollouts: temperature 1, top_p 1, top_k off)."""

    max_tokens: int = Field(512, ge=1)
    temperature: float = Field(1.0, ge=0.0, description="0 means greedy")
    top_p: float = Field(1.0, gt=0.0, le=1.0)
    top_k: int = Field(-1, description="-1 disables top-k")
    seed: int | None = None
    stop_token_ids: list[int] = Field(default_factory=list, description="extra stops besides the model's EOS")


def derive_seed(seed: int, *parts: int | str) -> int:
    """A seed for one part of a seeded run (an episode of a step, a turn of an episode): a hash of ``seed`` and
    ``parts``, so neighbouring seeds never share draws (``seed + 1`` would: episode k's second turn would sample
    as episode k + 1's first). Fits vLLM's and torch's 63-bit seeds."""
    import hashlib

    digest = hashlib.blake2b(repr((seed, *parts)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") >> 1


@dataclass
class GenerationRequest:
    prompt_ids: list[int]
    images: list[Image.Image] = field(default_factory=list)
    sampling: SamplingParams = field(default_factory=SamplingParams)


@dataclass
class Completion:
    token_ids: list[int]
    text: str
    logprobs: list[float]
    finish_reason: Literal["stop", "length"]


class BackendUnavailable(ConnectionError):
    """The backend (a model server) cannot be reached; the message names it. A run stops here."""


class RequestRejected(ValueError):
    """The backend refused one request (too many images, context overflow, bad parameters)."""


class TokenDrift(RuntimeError):
    """The backend ran different token ids than the request holds: a trajectory built on it would not
    be token-faithful."""


@runtime_checkable
class Backend(Protocol):
    """``processor`` supplies the tokenizer, image processor and chat template the prompt builder needs."""

    processor: object

    def generate(self, requests: Sequence[GenerationRequest]) -> list[Completion]: ...

    async def agenerate(self, request: GenerationRequest) -> Completion: ...


def collapse_image_pads(ids: Sequence[int], image_token_id: int) -> list[int]:
    """One pad per image: the form vLLM and OpenRLHF's ``dedup_media_tokens`` expect."""
    out: list[int] = []
    for t in ids:
        if t == image_token_id and out and out[-1] == image_token_id:
            continue
        out.append(t)
    return out


def gather_sync(agenerate, requests: Sequence[GenerationRequest]) -> list[Completion]:
    """``generate`` for a backend whose native call is ``agenerate``: all requests at once on an event
    loop — a fresh one, or, when the caller already runs a loop, a fresh one in a helper thread."""
    import asyncio
    import threading

    async def run():
        return list(await asyncio.gather(*(agenerate(r) for r in requests)))

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(run())
    outcome: dict = {}

    def worker():
        try:
            outcome["result"] = asyncio.run(run())
        except BaseException as exc:  # re-raised in the caller's thread
            outcome["error"] = exc

    thread = threading.Thread(target=worker)
    thread.start()
    thread.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["result"]
