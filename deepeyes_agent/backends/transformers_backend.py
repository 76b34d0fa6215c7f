"""In-process transformers backend (CPU default; also the trainer's model).

Requests that arrive together are left-padded into one batched ``generate``; the logprob of each
sampled token is taken from the raw logits as the token is chosen (the model's distribution, as vLLM reports it; no
``(batch × vocab)`` logits are kept per step), so a training forward over the same ids reproduces it.

The KV cache: on the CPU a static cache sized for each call (one allocation; a growing cache's ``torch.cat`` of every
layer at every step was a quarter of a rollout's time), on a GPU transformers' dynamic cache (attention reads what
was written, not a cache as long as the longest call so far), and a static one when compiling (what the compiled
step needs). A trainer in mixed precision sets ``autocast``: rollouts then generate from its float32 master weights
under ``torch.autocast`` in the compute dtype (bfloat16 matmuls and KV cache).

Sampling draws from a generator per request (seeded by the request's seed, else from torch's global
RNG), as vLLM does: what a seeded request samples does not depend on which requests share its batch,
so a seeded RL run gives the same trajectories however its episodes happen to be batched.
"""

from __future__ import annotations

import threading
import warnings
import weakref
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path

import torch
from transformers import (
    AutoModelForImageTextToText,
    GenerationConfig,
    LogitsProcessor,
    LogitsProcessorList,
    TemperatureLogitsWarper,
    TopKLogitsWarper,
    TopPLogitsWarper,
)

from ..device import DType, Placement, check_fits, resolve, resolve_device
from ..models import embedded_dtype_note
from ..models.forward import check_image_tokens, mm_token_type_ids, vision_inputs
from ..models.processor import load_processor
from .base import Completion, GenerationRequest, SamplingParams
from .batching import RequestBatcher


class TransformersBackend:
    def __init__(
        self,
        model,
        processor,
        *,
        max_batch_size: int | None = None,
        batch_wait_s: float = 0.005,
        model_dir: str | Path | None = None,
        compile: bool = False,
    ):
        self.model = model.eval()
        self.compile = compile  # transformers' automatic compile of the decoding step (GPUs; see PlacementConfig)
        self.model_dir = Path(model_dir) if model_dir is not None else None  # the folder it came from, if any
        self.processor = processor
        self.tokenizer = processor.tokenizer
        self.eos_token_id = self.tokenizer.convert_tokens_to_ids("<|im_end|>")
        self.pad_token_id = (
            self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else self.eos_token_id
        )
        self._lock = threading.Lock()  # the model keeps rope_deltas between generate steps
        self._pixels: OrderedDict = OrderedDict()  # (id(image), dtype) -> its processed pixels, while it lives
        self._pixels_lock = threading.Lock()
        self._pixels_bytes = 0
        self.pixel_cache_bytes = 512 * 1024**2
        if max_batch_size is None:  # a GPU decodes 32+ rows for little more than one row costs; a CPU does not
            max_batch_size = 64 if next(model.parameters()).device.type == "cuda" else 16
        self.autocast: torch.dtype | None = (
            None  # generate under torch.autocast in this dtype (a mixed-precision trainer)
        )
        # by weak reference: the batcher (and the images' finalizers) must not keep the model alive once the backend
        # is dropped — a benchmark or a trainer that frees a 7B frees it at once, without a garbage collection
        generate = weakref.WeakMethod(self.generate)
        self._batcher = RequestBatcher(
            lambda requests: generate()(requests), max_batch_size=max_batch_size, wait_s=batch_wait_s
        )

    @classmethod
    def from_pretrained(
        cls,
        model_dir: str | Path,
        *,
        device: str | torch.device = "auto",
        dtype: DType | str | torch.dtype = DType.AUTO,
        compile: bool = False,
        placement: Placement | None = None,
        **kwargs,
    ) -> TransformersBackend:
        """Load a model folder on ``device`` in ``dtype`` (see :mod:`deepeyes_agent.device`: ``auto`` is a GPU in
        the checkpoint's dtype when there is one, else the CPU in float32), or where ``placement`` says. A model that
        cannot fit the free memory is refused before loading."""
        if placement is None:
            if isinstance(dtype, torch.dtype):
                placement = Placement(resolve_device(device), dtype, compile)
            else:
                placement = resolve(device, dtype, model_dir=model_dir, compile=compile)
        check_fits(model_dir, placement)
        if (note := embedded_dtype_note(model_dir, placement.dtype)) is not None:
            warnings.warn(note, stacklevel=2)
        model = load_model(model_dir, placement)
        return cls(model, load_processor(model_dir), model_dir=model_dir, compile=placement.compile, **kwargs)

    def _vision(self, images, dtype) -> dict:
        """Pixel values and grids of the images in order; each image is processed once while it lives (an episode
        sends all its images every turn — an 8K original would be resized again at every turn)."""
        if not images:
            return {}
        parts = []
        for img in images:
            key = (id(img), dtype)
            hit = self._pixels.get(key)
            if hit is None:
                hit = vision_inputs(self.processor.image_processor, [img], dtype)
                with self._pixels_lock:
                    self._pixels[key] = hit
                    self._pixels_bytes += hit["pixel_values"].nbytes
                    while self._pixels_bytes > self.pixel_cache_bytes and len(self._pixels) > 1:
                        _, old = self._pixels.popitem(last=False)
                        self._pixels_bytes -= old["pixel_values"].nbytes
                weakref.finalize(img, _forget, weakref.ref(self), key)
            parts.append(hit)
        return {k: torch.cat([p[k] for p in parts]) for k in ("pixel_values", "image_grid_thw")}

    def _forget(self, key) -> None:
        with self._pixels_lock:
            old = self._pixels.pop(key, None)
            if old is not None:
                self._pixels_bytes -= old["pixel_values"].nbytes

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def load_state_dict(self, state_dict: dict) -> None:
        """Weight sync from a trainer: the next generate uses these weights. A tied weight may come once (the output
        head is the embeddings: a checkpoint or a merged state dict holds it under one name)."""
        with self._lock:
            result = self.model.load_state_dict(state_dict, strict=False)
            own = self.model.state_dict()
            given = {(own[k].untyped_storage().data_ptr(), tuple(own[k].shape)) for k in state_dict if k in own}
            missing = [
                k
                for k in result.missing_keys
                if (own[k].untyped_storage().data_ptr(), tuple(own[k].shape)) not in given
            ]
            if missing or result.unexpected_keys:
                raise KeyError(
                    f"weights that do not match the model: missing {missing[:3]}, unexpected {result.unexpected_keys[:3]}"
                )

    async def agenerate(self, request: GenerationRequest) -> Completion:
        return await self._batcher.submit(request)

    def expect(self, n: int) -> None:
        """``n`` episodes are starting together: batch their first requests as one (see ``RequestBatcher``)."""
        self._batcher.expect(n)

    def generate(self, requests: Sequence[GenerationRequest]) -> list[Completion]:
        results: list[Completion | None] = [None] * len(requests)
        groups: dict[tuple, list[int]] = {}
        for i, req in enumerate(requests):
            s = req.sampling
            groups.setdefault((s.temperature, s.top_p, s.top_k, tuple(s.stop_token_ids)), []).append(i)
        for idx in groups.values():
            for i, completion in zip(idx, self._generate_batch([requests[i] for i in idx])):
                results[i] = completion
        return results  # type: ignore[return-value]

    def force(self, request: GenerationRequest, token_ids: Sequence[int]) -> Completion:
        """Teacher-force ``token_ids`` through the generation path (KV cache, rope deltas) and return the
        model's own logprobs of them: a scripted turn with real rollout logprobs."""
        return self._generate_batch([request], forced=list(token_ids))[0]

    @torch.no_grad()
    def _generate_batch(
        self, requests: Sequence[GenerationRequest], forced: list[int] | None = None
    ) -> list[Completion]:
        sampling: SamplingParams = requests[0].sampling
        device, dtype = self.device, next(self.model.parameters()).dtype
        width = max(len(r.prompt_ids) for r in requests)
        ids = torch.full((len(requests), width), self.pad_token_id, dtype=torch.long)
        attention = torch.zeros_like(ids)
        for row, req in enumerate(requests):  # left padding
            ids[row, width - len(req.prompt_ids) :] = torch.tensor(req.prompt_ids)
            attention[row, width - len(req.prompt_ids) :] = 1
        images = [img for r in requests for img in r.images]
        vis = self._vision(images, dtype)
        image_token_id = self.model.config.image_token_id
        check_image_tokens(ids, vis.get("image_grid_thw"), image_token_id, self.processor.image_processor.merge_size)
        stops = [self.eos_token_id, *sampling.stop_token_ids]
        if forced:
            choose: _Chooser = _Force(forced)
        elif sampling.temperature > 0:
            choose = _SeededSampler(sampling, [r.sampling.seed for r in requests])
        else:
            choose = _Greedy()
        autocast = self.autocast if self.autocast is not None and not self.compile else None  # (see the docstring)
        static = self.compile or (device.type == "cpu" and autocast is None)
        config = GenerationConfig(
            max_new_tokens=len(forced) if forced else max(r.sampling.max_tokens for r in requests),
            do_sample=False,  # the token is chosen by ``choose``; generate's argmax only reads its one-hot
            repetition_penalty=1.0,  # not the model folder's (Qwen's 1.05): the raw distribution, as vLLM samples it
            cache_implementation="static" if static else None,
            disable_compile=not self.compile,  # on a GPU transformers would compile the step on the first call
            eos_token_id=stops,
            pad_token_id=self.pad_token_id,
            return_dict_in_generate=True,
        )
        with self._lock, _autocast(device, autocast):
            if not self.compile:  # transformers sizes a static cache for the longest call so far, else
                self.model._previous_max_cache_length = -1
            out = self.model.generate(
                input_ids=ids.to(device),
                attention_mask=attention.to(device),
                mm_token_type_ids=mm_token_type_ids(ids, image_token_id, self.model.config.video_token_id).to(device),
                generation_config=config,
                logits_processor=LogitsProcessorList([choose]),
                **{k: v.to(device) for k, v in vis.items()},
            )
        new_tokens = out.sequences[:, width:].cpu()
        logprobs = choose.logprobs(new_tokens.shape[1])
        completions = []
        stop_set = set(stops)
        for row, req in enumerate(requests):
            toks = new_tokens[row].tolist()
            end, finish = min(len(toks), len(forced) if forced else req.sampling.max_tokens), "length"
            for j, t in enumerate(toks[:end]):
                if t in stop_set:
                    end, finish = j + 1, "stop"
                    break
            toks = toks[:end]
            completions.append(
                Completion(
                    token_ids=toks,
                    text=self.tokenizer.decode(toks, skip_special_tokens=False),
                    logprobs=logprobs[row, :end].tolist(),
                    finish_reason=finish,
                )
            )
        return completions


def _forget(backend: weakref.ref, key) -> None:
    """An image died: its processed pixels leave the cache of the backend, if that still lives."""
    if (alive := backend()) is not None:
        alive._forget(key)


def load_model(model_dir: str | Path, placement: Placement):
    """The model of a folder, loaded straight onto the placement's device in its dtype (transformers' ``device_map``:
    no full copy staged in host memory first; SDPA attention on GPUs), without a progress bar."""
    from transformers.utils import logging

    from ..models import check_weights

    check_weights(model_dir)
    extra = {"attn_implementation": "sdpa"} if placement.on_gpu else {}
    bars = logging.is_progress_bar_enabled()
    logging.disable_progress_bar()  # a library prints nothing unless asked; loading from disk takes seconds
    try:
        return AutoModelForImageTextToText.from_pretrained(
            model_dir, dtype=placement.dtype, device_map=str(placement.device), **extra
        )
    finally:
        if bars:
            logging.enable_progress_bar()


def _autocast(device: torch.device, dtype: torch.dtype | None):
    import contextlib

    return torch.autocast(device.type, dtype=dtype) if dtype is not None else contextlib.nullcontext()


class _Chooser(LogitsProcessor):
    """Chooses each row's next token from the raw logits (``choose``), records its log-probability under them, and
    leaves only that token, so generate's argmax picks it. Nothing of the (batch × vocab) logits outlives the step."""

    def __init__(self):
        self._logprobs: list[torch.Tensor] = []

    def choose(self, logits: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        logits = scores.float()
        chosen = self.choose(logits)
        rows = torch.arange(len(chosen), device=scores.device)
        self._logprobs.append(torch.log_softmax(logits, -1)[rows, chosen].cpu())
        out = torch.full_like(scores, float("-inf"))
        out[rows, chosen] = 0.0
        return out

    def logprobs(self, steps: int) -> torch.Tensor:
        """(batch, steps): the chosen tokens' logprobs, one column per generated token."""
        return torch.stack(self._logprobs[:steps], dim=1)


class _Greedy(_Chooser):
    def choose(self, logits: torch.Tensor) -> torch.Tensor:
        return logits.argmax(-1)


class _SeededSampler(_Chooser):
    """Samples each row from its own ``torch.Generator`` (temperature, top-k, top-p as vLLM applies them, then
    the exponential race ``argmax(p / q)``, vLLM's sampler for seeded requests); the raw logits, and so the
    logprobs, are untouched."""

    def __init__(self, sampling: SamplingParams, seeds: Sequence[int | None]):
        super().__init__()
        self.warpers = [TemperatureLogitsWarper(sampling.temperature)]
        if sampling.top_k > 0:
            self.warpers.append(TopKLogitsWarper(sampling.top_k))
        if sampling.top_p < 1.0:
            self.warpers.append(TopPLogitsWarper(sampling.top_p))
        # unseeded requests draw their seed from torch's global generator (torch.manual_seed still rules them)
        self.seeds = [seed if seed is not None else int(torch.randint(2**62, ()).item()) for seed in seeds]
        self.generators: list[torch.Generator] = []

    def choose(self, logits: torch.Tensor) -> torch.Tensor:
        warped = logits
        for warp in self.warpers:
            warped = warp(None, warped)
        probs = torch.softmax(warped, -1)
        if not self.generators:  # on the logits' device: no copy of (batch, vocab) to the host at every step
            self.generators = [torch.Generator(probs.device).manual_seed(seed) for seed in self.seeds]
        return torch.stack(
            [(p / torch.empty_like(p).exponential_(generator=g)).argmax() for p, g in zip(probs, self.generators)]
        )


class _Force(_Chooser):
    """The scripted token at each step."""

    def __init__(self, token_ids: list[int]):
        super().__init__()
        self.token_ids = token_ids
        self.step = 0

    def choose(self, logits: torch.Tensor) -> torch.Tensor:
        token = self.token_ids[min(self.step, len(self.token_ids) - 1)]
        self.step += 1
        return torch.full((logits.shape[0],), token, dtype=torch.long, device=logits.device)
