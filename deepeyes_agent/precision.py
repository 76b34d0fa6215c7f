"""The precision of an update: what the trained weights are stored in, what the forward and backward compute in.

``mixed`` (the default): the trained weights are float32 — the master copy AdamW updates — and the forward and
backward run under ``torch.autocast`` in ``dtype`` (bfloat16 on a GPU); weights that are not trained (LoRA's base
model) are stored in ``dtype``. That is what learns at DeepEyes' lr 1e-6: near a weight of 0.05 float32's spacing
is ~4e-9 and a 1e-6 step lands, where bfloat16's spacing is ~2e-4 and the same step rounds to nothing — one AdamW
step in pure bfloat16 moves ~2 % of a layer's weights, in float32 all of them.

``pure``: the weights themselves in ``dtype``, no master copy — half the memory of float32 weights, and in
bfloat16 most small updates are lost. The trainer says so when it starts and reports ``weights_moved`` (the share
of a fixed sample of trained weights the step changed) every step, so a run that does not learn is visible.

float16 compute scales the loss (``torch.amp.GradScaler``) so small gradients survive; bfloat16 and float32 do not
need it.
"""

from __future__ import annotations

import contextlib

import torch

from .device import Precision


class PrecisionPolicy:
    """``compute``: the dtype of the update's matmuls; ``trained``: the dtype the trained weights are kept in;
    ``frozen``: the dtype of weights that are not trained (LoRA's base model)."""

    def __init__(self, precision: Precision | str, device: torch.device, compute: torch.dtype):
        self.precision = Precision(precision)
        self.device = device
        self.compute = compute
        self.trained = torch.float32 if self.precision is Precision.MIXED else compute
        self.frozen = compute
        self.scaler = torch.amp.GradScaler(device.type) if compute is torch.float16 else None
        if device.type == "cuda":  # float32 matmuls outside autocast (master weights, the loss) on tensor cores
            torch.backends.cuda.matmul.allow_tf32 = True
            torch.backends.cudnn.allow_tf32 = True

    @property
    def autocasts(self) -> bool:
        return self.compute is not torch.float32 and self.compute is not self.trained

    @property
    def rollout_autocast(self) -> torch.dtype | None:
        """The dtype rollouts generate in when the trained weights are float32 masters: the compute dtype, so
        generation reads bfloat16 weights' worth of work and keeps a bfloat16 KV cache, not float32's."""
        return self.compute if self.autocasts else None

    def autocast(self):
        """The context the update's forward and backward run in."""
        if not self.autocasts:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.compute)

    def warning(self) -> str | None:
        if self.precision is Precision.PURE and self.compute is not torch.float32:
            return (
                f"precision pure: the trained weights are {str(self.compute)[6:]} with no float32 master copy — "
                "small updates (lr 1e-6) round away; watch weights_moved, or use precision mixed"
            )
        return None

    # -- float16 loss scaling (a no-op otherwise) -------------------------------------------------------------------
    def backward(self, loss: torch.Tensor) -> None:
        (self.scaler.scale(loss) if self.scaling else loss).backward()

    def unscale(self, optimizer) -> None:
        if self.scaling:
            self.scaler.unscale_(optimizer)

    def step(self, optimizer) -> None:
        if self.scaling:
            self.scaler.step(optimizer)
            self.scaler.update()
        else:
            optimizer.step()

    @property
    def scaling(self) -> bool:
        return self.scaler is not None


class MovedWeights:
    """The share of a fixed random sample of trained weights (``n`` in all, spread over the parameters by size)
    that an optimizer step changed: ~1.0 when updates land, a few per cent when they round away. The sample is
    drawn with replacement (``randint``): its cost is the sample's size, not the model's (a permutation of 3.75 B
    elements took minutes)."""

    def __init__(self, params: list[torch.nn.Parameter], n: int = 65536, seed: int = 0):
        total = sum(p.numel() for p in params)
        generator = torch.Generator().manual_seed(seed)
        self.samples = []
        for p in params:
            k = min(p.numel(), max(1, round(n * p.numel() / max(1, total))))
            idx = torch.randint(p.numel(), (k,), generator=generator).to(p.device)
            self.samples.append((p, idx))

    @torch.no_grad()
    def snapshot(self) -> list[torch.Tensor]:
        return [p.detach().reshape(-1)[idx].clone() for p, idx in self.samples]

    @torch.no_grad()
    def share(self, before: list[torch.Tensor]) -> float:
        changed = sum(int((p.detach().reshape(-1)[idx] != b).sum()) for (p, idx), b in zip(self.samples, before))
        return changed / max(1, sum(len(idx) for _, idx in self.samples))
