"""The local GRPO trainer: rollouts through the graph → reward → advantages → clipped loss → step.

One machine (the CPU or one GPU). The policy is the rollout backend's own model, so weights are in sync
after every step; a backend holding a separate copy (an in-process vLLM engine, colocated on the GPU and asleep
during the update) gets the new weights — with LoRA the adapter itself (vLLM applies it exactly; merged into bfloat16
weights most of an early update would round away), else the state dict. Device, precision and LoRA are decided in
:mod:`.policy`.
Checkpoints are atomic; ``resume`` continues from the last complete one with the same data stream; an
out-of-memory stops the run naming the settings to lower, the last checkpoint intact.
"""

from __future__ import annotations

import json
import random
import time
from pathlib import Path

import torch

from deepeyes_agent.backends import TransformersBackend
from deepeyes_agent.checkpoint import latest, save_atomically
from deepeyes_agent.device import is_out_of_memory
from deepeyes_agent.errors import InputError, TrainingOutOfMemory
from deepeyes_agent.graphs import create_visual_agent
from deepeyes_agent.images import ImageStore
from deepeyes_agent.models import agent_defaults, write_agent_defaults
from deepeyes_agent.precision import MovedWeights
from deepeyes_agent.rows import order_options

from .build import build
from .config import TrainConfig
from .grpo import group_advantages, policy_loss
from .lora import (
    ADAPTER_DIR,
    adapters_are_zero,
    adapters_disabled,
    has_adapters,
    merged_weights,
    save_adapter,
    save_merged,
)
from .metrics import step_metrics
from .policy import memory_report, release_memory
from .rollout import Episode, collect
from .tensors import collate_trajectories, token_logprobs


class LocalTrainer:
    """GRPO on this machine. A step, top to bottom (:meth:`train_step`): rollouts of the agent graph, rewarded →
    group-normalised advantages → one clipped-loss update → the rollout engine synced. What it runs on — the policy,
    the engine, the optimizer, the reference, the judge, the rows — comes from :func:`~deepeyes_agent.rl.build.build`."""

    def __init__(
        self,
        cfg: TrainConfig,
        backend: TransformersBackend | None = None,
        store: ImageStore | None = None,
        rollout_backend=None,
        peft_config=None,
    ):
        """``backend`` holds the trained model (default: loaded from ``cfg.model`` on ``cfg.device``, in the run's
        precision); rollouts run on it, or on ``rollout_backend`` (e.g. a running :class:`VLLMBackend`; built from
        ``cfg.rollout_backend`` when not given), which gets the weights after every step. ``peft_config``: a
        ``peft.LoraConfig`` for LoRA adapters, as TRL takes it (default: ``cfg.lora``'s when its rank is above 0)."""
        self.cfg = cfg
        # model_dir, backend, rollout_backend, precision, trained, optimizer, reference, agent_config, judge, rows,
        # skipped, start_step, peft_config: see build.Run
        vars(self).update(vars(build(cfg, backend, rollout_backend, peft_config)))
        self.model = self.backend.model
        self.store = store or ImageStore()
        self.moved: MovedWeights | None = None
        if rollout_backend is None and self.rollout_backend is not self.backend:
            self.sync_weights(0)  # its own engine gets a resumed run's adapter (a fresh one adds nothing: not sent)

    def graph(self):
        return create_visual_agent(self.rollout_backend, config=self.agent_config, image_store=self.store)

    def prompts(self, step: int):
        rng = random.Random(f"{self.cfg.seed}-prompts-{step}")
        picked = rng.sample(self.rows, min(self.cfg.prompts_per_step, len(self.rows)))
        return [order_options(r, "shuffle", self.cfg.seed * 100003 + step, i) for i, r in enumerate(picked)]

    def rollout(self, step: int) -> list[Episode]:
        """The step's episodes: ``rollouts_per_prompt`` runs of the agent graph per prompt, rewarded."""
        cfg = self.cfg
        self.model.eval()
        episodes = collect(
            self.graph(),
            self.prompts(step),
            cfg.rollouts_per_prompt,
            self.judge,
            cfg.reward,
            concurrency=cfg.concurrency,
            store=self.store,
            unusable=(unusable := []),
            seed=cfg.seed * 100003 + step,
            backend=self.rollout_backend,
        )
        self.unusable = unusable
        if unusable:  # a row whose image does not decode: reported, and never drawn again
            bad = {u["line"] for u in unusable}
            self.rows = [r for r in self.rows if r.line not in bad]
            self.skipped.extend(unusable)
        if not episodes:
            raise InputError(f"step {step + 1}: no prompt of this step has a usable image ({unusable[:2]} …)")
        return episodes

    def update(self, episodes: list[Episode], advantages: torch.Tensor | None = None) -> dict:
        """One optimizer step on the episodes: every tensor on the model's device, the forward and backward in the
        run's precision, the loss averaged over all trained tokens of the step."""
        cfg, policy = self.cfg, self.precision
        device = next(self.model.parameters()).device
        if advantages is None:
            advantages = self.advantages(episodes)
        advantages = advantages.to(device)
        learn = [i for i in range(len(episodes)) if advantages[i] != 0 or cfg.grpo.kl_coef > 0]
        total_tokens = sum(sum(len(a.token_ids) for a in episodes[i].trajectory.actions) for i in learn)
        stats = {"loss": 0.0, "kl": 0.0, "entropy": 0.0, "clip_fraction": 0.0, "logprob_gap": 0.0}
        if self.moved is None:
            self.moved = MovedWeights(self.trained, seed=cfg.seed)
        before = self.moved.snapshot()
        self.model.train()
        self.optimizer.zero_grad(set_to_none=True)
        for start in range(0, len(learn), cfg.micro_batch):
            idx = learn[start : start + cfg.micro_batch]
            batch = collate_trajectories(
                [episodes[i].trajectory for i in idx],
                [[self.store.get(r) for r in episodes[i].trajectory.images] for i in idx],
                self.backend.processor.image_processor,
                self.model.config.image_token_id,
                self.backend.pad_token_id,
                cfg.max_length,
                dtype=next(self.model.parameters()).dtype,
            ).to(device)
            with policy.autocast():
                logp, entropy = token_logprobs(self.model, batch, with_entropy=True)
                ref = self.reference_logprobs(batch)
            old = logp.detach() if cfg.grpo.old_logprobs == "recompute" else batch.old_logprobs
            mask = batch.action_mask.bool()
            stats["logprob_gap"] += float((logp.detach() - batch.old_logprobs)[mask].abs().sum() / max(1, total_tokens))
            out = policy_loss(logp, old, advantages[idx], batch.action_mask, cfg.grpo, ref)
            share = batch.action_mask.sum().item() / max(1, total_tokens)
            policy.backward(out.loss * share)
            stats["loss"] += out.loss.item() * share
            stats["kl"] += out.kl * share
            stats["clip_fraction"] += out.clip_fraction * share
            stats["entropy"] += float((entropy.detach() * batch.action_mask).sum() / max(1, total_tokens))
        grad_norm = 0.0
        if learn:
            policy.unscale(self.optimizer)
            grad_norm = float(torch.nn.utils.clip_grad_norm_(self.trained, cfg.grad_clip))
            policy.step(self.optimizer)
        release_memory(self.optimizer, device)
        self.model.eval()
        return {
            **stats,
            "grad_norm": grad_norm,
            "weights_moved": self.moved.share(before) if learn else 0.0,
            "trained_trajectories": len(learn),
            "trained_tokens": sum(len(episodes[i].trajectory.input_ids()) for i in learn),
        }

    def advantages(self, episodes: list[Episode]) -> torch.Tensor:
        rewards = torch.tensor([e.reward.total for e in episodes])
        return group_advantages(rewards, [e.group for e in episodes], self.cfg.grpo.eps)

    def reference_logprobs(self, batch) -> torch.Tensor | None:
        """The frozen reference policy's logprobs (KL): a copy of the starting model, or with LoRA the base model
        (adapters off); None without KL."""
        if self.cfg.grpo.kl_coef <= 0:
            return None
        with torch.no_grad():
            if self.reference is not None:
                return token_logprobs(self.reference, batch)[0]
            with adapters_disabled(self.model):
                return token_logprobs(self.model, batch)[0]

    def train_step(self, step: int) -> dict:
        t0 = time.time()
        self.phase = "rollout"
        episodes = self.rollout(step)  # n episodes per prompt through the agent graph, each rewarded
        t_rollout = time.time() - t0
        advantages = self.advantages(episodes)  # GRPO: rewards normalised within each prompt's group
        self.phase = "update"
        if self.rollout_backend is not self.backend and hasattr(self.rollout_backend, "sleep"):
            self.rollout_backend.sleep()  # a colocated vLLM engine gives its GPU memory to the update
        update = self.update(episodes, advantages)  # the clipped loss over every trained token, one optimizer step
        self.phase = "weight sync"
        self.sync_weights(step + 1)  # the rollout engine generates with the new weights
        return {
            "step": step + 1,
            **step_metrics(episodes),
            **update,
            "rollout_s": t_rollout,
            "step_s": time.time() - t0,
            **memory_report(self.precision.device),
            **({"skipped_rows": self.unusable} if self.unusable else {}),
        }

    def sync_weights(self, step: int) -> None:
        """The rollout backend generates with the new weights: it is the trained model itself; or, under LoRA, it
        is given the adapter (``load_adapter``: a vLLM engine applies it at run time — nothing while the adapters
        are still zero) or, a backend that cannot take one, the merged weights; or it gets the state dict."""
        backend = self.rollout_backend
        if getattr(backend, "model", None) is self.model:
            return
        if has_adapters(self.model):
            if adapters_are_zero(self.model):
                return
            if getattr(backend, "serves_adapters", False):
                folder = self.cfg.out / "rollout-adapter" / f"step{step:05d}"
                save_adapter(self.model, folder, self.model_dir)
                backend.load_adapter(folder)
                return
            backend.load_state_dict(dict(merged_weights(self.model)))
            return
        backend.load_state_dict(self.model.state_dict())

    def agent_defaults(self) -> dict:
        """How the checkpoint is prompted: its tools, calls a turn, prompt style (and a prompt of its own, if any)."""
        config = self.agent_config
        out = {
            "tools": config.tools,
            "max_calls_per_turn": config.max_calls_per_turn,
            "prompt_style": config.prompt_style,
        }
        return {**out, "system_prompt": config.system_prompt} if config.system_prompt is not None else out

    def save(self, step: int) -> Path:
        """An atomic checkpoint: the model (the float32 master weights with mixed precision; with LoRA the base
        merged with the adapters, plus the adapter itself under ``adapter/``), its processor and agent defaults,
        and the optimizer's state — what ``--resume`` continues from exactly."""

        def write(folder: Path) -> None:
            if has_adapters(self.model):
                self.merged = save_merged(self.model, folder)  # a layer at a time; what it kept of the update
                save_adapter(self.model, folder / ADAPTER_DIR, self.model_dir)
            else:
                self.model.save_pretrained(folder)
            self.backend.processor.save_pretrained(folder)
            write_agent_defaults(folder, **{**agent_defaults(self.model_dir), **self.agent_defaults()})
            state = {"step": step, "optimizer": self.optimizer.state_dict(), "config": self.cfg.model_dump(mode="json")}
            if self.precision.scaling:
                state["grad_scaler"] = self.precision.scaler.state_dict()
            torch.save(state, folder / "trainer_state.pt")

        return save_atomically(self.cfg.out, write, str(step))

    def evaluate(self, step: int) -> dict:
        from deepeyes_agent.eval.runner import EvalConfig, run_eval

        greedy = self.agent_config.model_copy(
            update={"sampling": self.agent_config.sampling.model_copy(update={"temperature": 0.0})}
        )
        cfg = EvalConfig(
            data=self.cfg.eval_data,
            out=self.cfg.out / "eval" / f"step{step:05d}",
            mode="tool",
            seed=self.cfg.seed,
            limit=self.cfg.eval_limit,
            concurrency=self.cfg.concurrency or 32,
        )
        summary = run_eval(cfg, self.rollout_backend, greedy, store=self.store)
        return {
            "step": step,
            "eval/accuracy": summary.get("accuracy", 0.0),
            "eval/tool_call_rate": summary.get("tool_call_rate", 0.0),
            "eval/zoom_hit": summary.get("zoom_hit", 0.0),
            **{f"eval/{k}": v for k, v in summary.get("per_category", {}).items()},
            **{f"eval/tool_call_rate/{k}": v for k, v in summary.get("tool_call_rate_per_category", {}).items()},
        }

    def run(self, log=print, progress=None) -> Path:
        cfg = self.cfg
        cfg.out.mkdir(parents=True, exist_ok=True)
        (cfg.out / "config.json").write_text(cfg.model_dump_json(indent=1))
        metrics = (cfg.out / "metrics.jsonl").open("a")
        trackers = cfg.trackers(cfg.out, cfg.model_dump(mode="json"))
        if cfg.eval_data and self.start_step == 0:
            record = self.evaluate(0)
            metrics.write(json.dumps(record) + "\n")
            trackers.log(record, 0)
        for step in range(self.start_step, cfg.steps):
            torch.manual_seed(cfg.seed * 100003 + step)
            try:
                record = self.train_step(step)
            except Exception as exc:
                metrics.close()
                trackers.close()
                if is_out_of_memory(exc):
                    raise self.out_of_memory(step, exc) from exc
                raise
            if cfg.eval_data and ((step + 1) % cfg.eval_every == 0 or step + 1 == cfg.steps):
                record.update(self.evaluate(step + 1))
            if (step + 1) % cfg.save_every == 0 or step + 1 == cfg.steps:
                self.save(step + 1)
                if has_adapters(self.model):  # the share of adapted weights the bfloat16 merge changed
                    record["merged_weights_changed"] = self.merged.share
            metrics.write(json.dumps(record) + "\n")
            metrics.flush()
            trackers.log(record, step + 1)
            log(record)
            if progress:
                progress()
        metrics.close()
        trackers.close()
        return cfg.out

    def out_of_memory(self, step: int, exc: BaseException) -> TrainingOutOfMemory:
        """The error an out-of-memory becomes: where it happened, the settings that lower the memory, and the
        checkpoint a ``--resume`` continues from (nothing after it was written)."""
        cfg = self.cfg
        if self.precision.device.type == "cuda":
            torch.cuda.empty_cache()
        done = latest(cfg.out)
        kept = (
            f"checkpoint {(done / 'COMPLETE').read_text()} in {done} is intact: rerun with --resume"
            if done is not None
            else "no checkpoint was written yet"
        )
        phase = getattr(self, "phase", "step")
        lower = (
            f"--micro-batch (now {cfg.micro_batch}), --max-length ({cfg.max_length})"
            if phase == "update"
            else f"--rollouts-per-prompt (now {cfg.rollouts_per_prompt}), --prompts-per-step ({cfg.prompts_per_step}), "
            f"--concurrency ({cfg.concurrency or 'all'}), --max-new-tokens ({cfg.max_new_tokens})"
        )
        lora = "" if self.peft_config is not None else ", or train LoRA adapters (--lora-rank 64)"
        return TrainingOutOfMemory(
            f"out of memory on {self.precision.device} in the {phase} of step {step + 1}: lower {lower}{lora}; {kept}"
        )
