"""Backend for a vLLM server (``deepeyes-agent serve-model`` / ``vllm serve --enable-scale-out``).

Token ids go in and come out: each request is POSTed to vLLM's token-in/token-out endpoint
``/inference/v1/generate`` with the prompt ids (one ``<|image_pad|>`` per image, which the server
expands), the images as PNG data URLs, and ``logprobs: 0`` (the sampled token's logprob). The server's
expanded prompt (``return_token_ids``) is compared with the request's ids: any drift raises
:class:`TokenDrift`, so a trajectory collected here is the sequence the trainer scores.

HTTP goes through the ``openai`` client (timeouts, retries with backoff on connection errors, 408/429/5xx).
Requests in flight are bounded by ``concurrency``; the server batches them (continuous batching).
A server that cannot be reached raises :class:`BackendUnavailable` naming the URL; a request the server
refuses (too many images, context overflow) raises :class:`RequestRejected` with the server's reason.
"""

from __future__ import annotations

import asyncio
import os
import threading
import weakref
from collections.abc import Sequence
from pathlib import Path

import httpx
import openai

from ..models.processor import load_processor
from .base import BackendUnavailable, Completion, GenerationRequest, RequestRejected, collapse_image_pads, gather_sync
from .vllm_backend import check_expansion, sampling_fields
from .wire import encode, view_image

GENERATE_PATH = "/inference/v1/generate"
SERVER_API_KEY_ENV = "DEEPEYES_SERVER_API_KEY"


class ServerBackend:
    """``ServerBackend("http://127.0.0.1:8000", model_dir)``: ``model_dir`` is the served model's folder
    (its tokenizer, image processor and chat template build the prompts); ``model`` the served name.
    ``api_key`` (the server's ``--api-key``) defaults to the environment's ``DEEPEYES_SERVER_API_KEY``."""

    def __init__(
        self,
        url: str,
        model_dir: str | Path,
        *,
        model: str | None = None,
        concurrency: int = 16,
        timeout_s: float = 300.0,
        retries: int = 2,
        api_key: str | None = None,
        send_view: bool = True,
    ):
        self.url = url.rstrip("/")
        self.model_dir = Path(model_dir)
        self.model = model
        self.processor = load_processor(model_dir)
        self.tokenizer = self.processor.tokenizer
        self.image_token_id = self.tokenizer.convert_tokens_to_ids("<|image_pad|>")
        self.concurrency = concurrency
        self.timeout_s = timeout_s
        self.retries = retries
        self._api_key = api_key or os.environ.get(SERVER_API_KEY_ENV) or "EMPTY"  # not in repr, logs or files
        self.send_view = send_view
        # keyed by the loop itself, weakly: a client of a closed loop goes with it (an id could be reused)
        self._per_loop: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
        self._guard = threading.Lock()
        self._urls: dict[int, str] = {}  # id(image) -> data URL while the image lives (each turn resends all images)

    def _data_url(self, img) -> str:
        """Each image is encoded once while it lives (an episode resends all its images every turn), at the size
        the model sees: the server's resize of that view is a no-op, so its pixels equal those of the original
        (``send_view=False`` sends the original, as before; benchmarks/wire.py measures both). Lossless WebP: at a
        12.8-MP view it took the least client CPU and nearly the fewest bytes of the lossless encodings measured."""
        key = id(img)
        url = self._urls.get(key)
        if url is None:
            url = encode(view_image(img, self.processor.image_processor) if self.send_view else img, "webp")
            self._urls[key] = url
            weakref.finalize(img, self._urls.pop, key, None)
        return url

    def _client(self) -> tuple[openai.AsyncOpenAI, asyncio.Semaphore]:
        """One HTTP client and semaphore per event loop (both are bound to the loop that first uses them)."""
        loop = asyncio.get_running_loop()
        with self._guard:
            if loop not in self._per_loop:
                client = openai.AsyncOpenAI(
                    base_url=f"{self.url}/v1", api_key=self._api_key, timeout=self.timeout_s, max_retries=self.retries
                )
                self._per_loop[loop] = (client, asyncio.Semaphore(self.concurrency))
            return self._per_loop[loop]

    def payload(self, request: GenerationRequest) -> dict:
        body = {
            "token_ids": collapse_image_pads(request.prompt_ids, self.image_token_id),
            "sampling_params": sampling_fields(request.sampling),
            "return_token_ids": True,
        }
        if request.images:
            body["content_parts"] = [{"type": "image_url", "url": self._data_url(img)} for img in request.images]
        if self.model:
            body["model"] = self.model
        return body

    async def agenerate(self, request: GenerationRequest) -> Completion:
        client, slots = self._client()
        body = self.payload(request)
        async with slots:
            try:
                response = await client.post(f"{self.url}{GENERATE_PATH}", body=body, cast_to=httpx.Response)
            except openai.APIConnectionError as exc:
                raise BackendUnavailable(
                    f"the vLLM server at {self.url} did not answer ({type(exc).__name__}: {exc}; "
                    f"{self.retries} retries, {self.timeout_s:.0f} s timeout)"
                ) from exc
            except openai.NotFoundError as exc:
                raise BackendUnavailable(
                    f"{self.url} has no {GENERATE_PATH} (or no model {self.model!r}): start vLLM with "
                    f"--enable-scale-out (deepeyes-agent serve-model does) — {_reason(exc)}"
                ) from exc
            except openai.APIStatusError as exc:
                if exc.status_code >= 500:
                    raise BackendUnavailable(
                        f"the vLLM server at {self.url} failed ({exc.status_code}): {_reason(exc)}"
                    ) from exc
                raise RequestRejected(
                    f"the vLLM server at {self.url} rejected a request of "
                    f"{len(request.prompt_ids)} tokens and {len(request.images)} images "
                    f"({exc.status_code}): {_reason(exc)}"
                ) from exc
        return self._completion(request, response.json())

    def _completion(self, request: GenerationRequest, data: dict) -> Completion:
        check_expansion(request.prompt_ids, data.get("prompt_token_ids"), f"the vLLM server at {self.url}")
        choice = data["choices"][0]
        ids = list(choice["token_ids"] or [])
        content = (choice.get("logprobs") or {}).get("content") or []
        if len(content) != len(ids) or any(c["token_id"] != t for c, t in zip(content, ids)):
            raise ValueError(
                f"the vLLM server at {self.url} returned {len(ids)} tokens but logprobs for "
                f"{len(content)} (or for other tokens)"
            )
        finish = "length" if choice.get("finish_reason") == "length" else "stop"
        return Completion(
            ids, self.tokenizer.decode(ids, skip_special_tokens=False), [float(c["logprob"]) for c in content], finish
        )

    def generate(self, requests: Sequence[GenerationRequest]) -> list[Completion]:
        return gather_sync(self.agenerate, requests)


def _reason(exc: openai.APIStatusError) -> str:
    body = exc.body if isinstance(exc.body, dict) else {}
    error = body.get("error", body)
    return str(error.get("message") if isinstance(error, dict) and error.get("message") else exc.message)
