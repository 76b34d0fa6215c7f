"""OpenRLHF on a CPU machine, the way OpenRLHF's own tests run it.

openrlhf is installed ``--no-deps`` (scripts/install.sh); its GPU-only imports — ``vllm`` and
``flash_attn`` — are replaced by stub modules while the test runs (and removed afterwards, so tests of
the real vLLM are unaffected). Everything else is the real package: the agent loader, the experience
code, the ``Actor`` model wrapper, the ``train_ppo_ray`` argument parser.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import sys
import types
from contextlib import contextmanager
from types import SimpleNamespace
from unittest.mock import MagicMock

from deepeyes_agent.backends.base import GenerationRequest, SamplingParams
from deepeyes_agent.prompts import PromptBuilder

GPU_ONLY = ("vllm", "flash_attn")
# flash_attn: only what openrlhf imports at module level (ring attention helpers, never called here);
# its fused kernels (e.g. flash_attn.ops.triton.cross_entropy) stay absent, so OpenRLHF takes its
# plain-torch fallbacks exactly as on a machine without them.
FLASH_ATTN_NAMES = {
    "flash_attn.bert_padding": ("index_first_axis", "pad_input", "rearrange", "unpad_input"),
    "flash_attn.utils.distributed": ("all_gather",),
}
FLASH_ATTN_PACKAGES = {"flash_attn", "flash_attn.utils", *FLASH_ATTN_NAMES}


def _unavailable(name):
    def fail(*_args, **_kwargs):
        raise RuntimeError(f"{name} is a stub: flash_attn is not available on this CPU machine")

    return fail


class _StubFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def __init__(self, stub: tuple[str, ...]):
        self.stub = stub

    def find_spec(self, name, path, target=None):
        root = name.split(".")[0]
        if root not in self.stub:
            return None
        if root == "vllm" or (root == "flash_attn" and name in FLASH_ATTN_PACKAGES):
            return importlib.machinery.ModuleSpec(name, self, is_package=True)
        return None

    def create_module(self, spec):
        if spec.name.startswith("flash_attn"):
            module = types.ModuleType(spec.name)
            for attr in FLASH_ATTN_NAMES.get(spec.name, ()):
                setattr(module, attr, _unavailable(f"{spec.name}.{attr}"))
        else:
            module = MagicMock(name=spec.name)
        module.__path__, module.__spec__ = [], spec
        return module

    def exec_module(self, module):
        pass


def _ours(name: str) -> bool:
    """Modules that may hold references to the stubs (ours import openrlhf's classes)."""
    return name.split(".")[0] in GPU_ONLY + ("openrlhf",) or name.startswith("deepeyes_agent.rl.openrlhf.")


@contextmanager
def openrlhf_on_cpu(stub: tuple[str, ...] = GPU_ONLY):
    """Stub the GPU-only modules; afterwards drop them and every openrlhf module imported against them.
    ``stub=("flash_attn",)`` where the real vLLM (the CPU build) is wanted."""
    before = {k for k in sys.modules if _ours(k)}
    finder = _StubFinder(stub)
    sys.meta_path.insert(0, finder)
    try:
        yield
    finally:
        sys.meta_path.remove(finder)
        for name in [k for k in sys.modules if _ours(k) and k not in before]:
            del sys.modules[name]


class VLLMShapedEngine:
    """Stands where OpenRLHF's ``RolloutRayActor`` stands: ``await generate(ids, params, multi_modal_data)``
    → a vLLM ``RequestOutput``-shaped object. Like that actor it collapses the pads (OpenRLHF's own
    ``dedup_media_tokens``) and, like vLLM, expands one placeholder per image again; the tokens come
    from a CPU backend running the tiny model."""

    def __init__(self, backend, processor):
        self.backend = backend
        self.builder = PromptBuilder(processor)
        self.calls: list[dict] = []

    async def generate(self, prompt_token_ids, sampling_params, multi_modal_data=None):
        from openrlhf.utils.vlm_utils import dedup_media_tokens

        images = list((multi_modal_data or {}).get("image", []))
        pad = self.builder.image_token_id
        collapsed = dedup_media_tokens(prompt_token_ids, {pad}) if images else list(prompt_token_ids)
        ids = self.builder.expand(collapsed, images)
        assert ids == list(prompt_token_ids), "expanded ids do not match the images"
        self.calls.append(
            {
                "ids": collapsed,
                "images": len(images),
                "max_tokens": sampling_params.max_tokens,
                "logprobs": sampling_params.logprobs,
            }
        )
        sampling = SamplingParams(
            max_tokens=sampling_params.max_tokens,
            temperature=sampling_params.temperature,
            top_p=sampling_params.top_p,
            top_k=sampling_params.top_k,
        )
        done = await self.backend.agenerate(GenerationRequest(ids, images, sampling))
        return SimpleNamespace(
            request_id=str(len(self.calls)),
            prompt_token_ids=collapsed,
            outputs=[
                SimpleNamespace(
                    index=0,
                    token_ids=list(done.token_ids),
                    text=done.text,
                    finish_reason=done.finish_reason,
                    logprobs=[{t: SimpleNamespace(logprob=lp, rank=1)} for t, lp in zip(done.token_ids, done.logprobs)],
                )
            ],
        )


def vllm_sampling_params(**kw):
    """What OpenRLHF's ``SamplesGenerator`` builds (a ``vllm.SamplingParams``), as plain attributes."""
    defaults = dict(
        temperature=1.0,
        top_p=1.0,
        top_k=-1,
        max_tokens=64,
        min_tokens=1,
        skip_special_tokens=False,
        logprobs=1,
        seed=None,
    )
    return SimpleNamespace(**{**defaults, **kw})
