"""The local GRPO trainer: rollouts through the graph → reward → advantages → clipped loss → step.

One machine (CPU or one GPU). The policy is the rollout backend's own model, so weights are in sync
after every step; a backend holding a separate copy gets ``load_state_dict`` (``sync_weights``).
Checkpoints are atomic; ``resume`` continues from the last complete one with the same data stream.
"""

from __future__ import annotations

import copy
import json
import random
import time
from pathlib import Path

import torch

from deepeyes_agent.backends import SamplingParams, TransformersBackend
from deepeyes_agent.checkpoint import latest, save_atomically
from deepeyes_agent.datasets import load_rows
from deepeyes_agent.errors import InputError
from deepeyes_agent.eval.boxes import contains, iou
from deepeyes_agent.eval.rows import order_options
from deepeyes_agent.graphs import AgentConfig, create_visual_agent
from deepeyes_agent.images import ImageStore
from deepeyes_agent.models import agent_defaults, resolve_model_dir, write_agent_defaults

from .config import TrainConfig
from .grpo import group_advantages, policy_loss
from .judges import make_judge
from .rollout import Episode, collect
from .tensors import collate_trajectories, token_logprobs


def usable_rows(cfg: TrainConfig) -> tuple[list, list[dict]]:
    """The rows this trainer can learn from, and the skipped ones with reasons. Rows without the tool env
    (DeepEyes-47k's ThinkLite math file) are skipped: DeepEyes trains them single-turn without the tool prompt,
    judged on ``\\boxed{}`` — not what this graph runs. Free-form answers need a judge that can read them."""
    rows, skipped = load_rows(cfg.data)
    tool_rows = []
    for row in rows:
        if row.tool:
            tool_rows.append(row)
        else:
            skipped.append(
                {
                    "line": row.line,
                    "reason": "no tool env (env_name): trained without the tool by DeepEyes, not by this graph",
                }
            )
    free_form = [r for r in tool_rows if r.options is None]
    if free_form and cfg.judge == "option":
        example = free_form[0]
        raise InputError(
            f"{cfg.data}: {len(free_form)} rows have free-form answers (e.g. row {example.line}: "
            f"{example.truth_text[:80]!r}), which the option judge cannot grade: set judge: llm with judge_url "
            "(DeepEyes used Qwen2.5-72B), or judge: exact if the answers are single words"
        )
    if not tool_rows:
        raise InputError(f"{cfg.data}: no usable rows ({len(skipped)} skipped, e.g. {skipped[:1]})")
    return tool_rows, skipped


def sync_weights(backend, model) -> None:
    if getattr(backend, "model", None) is not model:
        backend.load_state_dict(model.state_dict())


def step_metrics(episodes: list[Episode]) -> dict:
    """Means over a step's episodes: reward and its parts, and the tool-use dynamics DeepEyes reads its three
    stages from — tool calls and crops per episode, how well the crops land (IoU with the row's box, the share of
    crops that hold the whole target), response length — overall and by category."""
    n = len(episodes)
    answered = [e for e in episodes if e.trajectory.answer is not None]
    out = {
        "reward": sum(e.reward.total for e in episodes) / n,
        "reward/accuracy": sum(e.reward.accuracy for e in episodes) / n,
        "reward/format": sum(e.reward.format for e in episodes) / n,
        "reward/tool": sum(e.reward.tool for e in episodes) / n,
        "tool_call_rate": sum(e.trajectory.tool_calls > 0 for e in episodes) / n,
        "tool_calls_per_episode": sum(e.trajectory.tool_calls for e in episodes) / n,
        "crops_per_episode": sum(e.trajectory.crops for e in episodes) / n,
        "crops_per_answer": sum(e.trajectory.crops for e in answered) / max(1, len(answered)),
        "response_length": sum(sum(len(a.token_ids) for a in e.trajectory.actions) for e in episodes) / n,
        "turns": sum(e.trajectory.turns for e in episodes) / n,
    }
    boxes = [
        (o.box_original, e.row.bbox)
        for e in episodes
        if e.row.bbox
        for o in e.trajectory.observations
        if o.box_original
    ]
    if boxes:
        out["crop_iou"] = sum(iou(b, t) for b, t in boxes) / len(boxes)
        out["crop_holds_target"] = sum(contains(b, t) for b, t in boxes) / len(boxes)
    for category in sorted({e.row.category for e in episodes}):
        some = [e for e in episodes if e.row.category == category]
        out[f"tool_call_rate/{category}"] = sum(e.trajectory.tool_calls > 0 for e in some) / len(some)
        out[f"accuracy/{category}"] = sum(e.reward.accuracy for e in some) / len(some)
    return out


class LocalTrainer:
    def __init__(
        self,
        cfg: TrainConfig,
        backend: TransformersBackend | None = None,
        store: ImageStore | None = None,
        rollout_backend=None,
    ):
        """``backend`` holds the trained model; rollouts run on it, or on ``rollout_backend`` (e.g. a running
        :class:`VLLMBackend`; built from ``cfg.rollout_backend`` when not given) which gets the weights
        after every step."""
        if backend is not None and getattr(backend, "model", None) is None:
            raise TypeError(
                "RL needs a token-level backend with a trainable model (transformers); a chat model "
                "has no token ids or logprobs to train on"
            )
        torch.set_num_threads(cfg.threads)
        self.cfg = cfg
        self.model_dir = resolve_model_dir(cfg.model)
        resume = latest(cfg.out)
        self.start_step = 0
        if backend is None:
            backend = TransformersBackend.from_pretrained(resume or self.model_dir)
        self.backend, self.model = backend, backend.model
        self.rollout_backend = rollout_backend or backend
        if rollout_backend is None and cfg.rollout_backend == "vllm":
            from deepeyes_agent.backends.vllm_backend import VLLMBackend

            self.rollout_backend = VLLMBackend(resume or self.model_dir, max_images=cfg.max_turns + 1, seed=cfg.seed)
        self.store = store or ImageStore()
        self.agent_config = AgentConfig.for_model(
            self.model_dir,
            self.model.config.model_type,
            max_turns=cfg.max_turns,
            sampling=SamplingParams(max_tokens=cfg.max_new_tokens, temperature=cfg.temperature, top_p=cfg.top_p),
        )
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        if resume is not None:
            state = torch.load(resume / "trainer_state.pt", weights_only=True)
            self.optimizer.load_state_dict(state["optimizer"])
            self.start_step = state["step"]
        self.reference = copy.deepcopy(self.model).eval().requires_grad_(False) if cfg.grpo.kl_coef > 0 else None
        self.judge = make_judge(cfg.judge, cfg.judge_url, cfg.judge_model)
        self.rows, self.skipped = usable_rows(cfg)

    def graph(self):
        return create_visual_agent(self.rollout_backend, config=self.agent_config, image_store=self.store)

    def prompts(self, step: int):
        rng = random.Random(f"{self.cfg.seed}-prompts-{step}")
        picked = rng.sample(self.rows, min(self.cfg.prompts_per_step, len(self.rows)))
        return [order_options(r, "shuffle", self.cfg.seed * 100003 + step, i) for i, r in enumerate(picked)]

    def train_step(self, step: int) -> dict:
        cfg = self.cfg
        t0 = time.time()
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
        if unusable:  # a row whose image does not decode: reported, and never drawn again
            bad = {u["line"] for u in unusable}
            self.rows = [r for r in self.rows if r.line not in bad]
            self.skipped.extend(unusable)
        if not episodes:
            raise InputError(f"step {step + 1}: no prompt of this step has a usable image ({unusable[:2]} …)")
        t_rollout = time.time() - t0
        rewards = torch.tensor([e.reward.total for e in episodes])
        advantages = group_advantages(rewards, [e.group for e in episodes], cfg.grpo.eps)
        learn = [i for i in range(len(episodes)) if advantages[i] != 0 or cfg.grpo.kl_coef > 0]
        total_tokens = sum(sum(len(a.token_ids) for a in episodes[i].trajectory.actions) for i in learn)
        stats = {"loss": 0.0, "kl": 0.0, "entropy": 0.0, "clip_fraction": 0.0, "logprob_gap": 0.0}
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
            )
            logp, entropy = token_logprobs(self.model, batch, with_entropy=True)
            ref = None
            if self.reference is not None:
                with torch.no_grad():
                    ref, _ = token_logprobs(self.reference, batch)
            old = logp.detach() if cfg.grpo.old_logprobs == "recompute" else batch.old_logprobs
            mask = batch.action_mask.bool()
            stats["logprob_gap"] += float((logp.detach() - batch.old_logprobs)[mask].abs().sum() / max(1, total_tokens))
            out = policy_loss(logp, old, advantages[idx], batch.action_mask, cfg.grpo, ref)
            share = batch.action_mask.sum().item() / max(1, total_tokens)
            (out.loss * share).backward()
            stats["loss"] += out.loss.item() * share
            stats["kl"] += out.kl * share
            stats["clip_fraction"] += out.clip_fraction * share
            stats["entropy"] += float((entropy.detach() * batch.action_mask).sum() / max(1, total_tokens))
        grad_norm = (
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), cfg.grad_clip) if learn else torch.tensor(0.0)
        )
        if learn:
            self.optimizer.step()
        self.model.eval()
        sync_weights(self.rollout_backend, self.model)
        return {
            "step": step + 1,
            **step_metrics(episodes),
            **stats,
            "grad_norm": float(grad_norm),
            "trained_trajectories": len(learn),
            "trained_tokens": sum(len(episodes[i].trajectory.input_ids()) for i in learn),
            "rollout_s": t_rollout,
            "step_s": time.time() - t0,
            **({"skipped_rows": unusable} if unusable else {}),
        }

    def save(self, step: int) -> Path:
        def write(folder: Path) -> None:
            self.model.save_pretrained(folder)
            self.backend.processor.save_pretrained(folder)
            write_agent_defaults(
                folder, **{**agent_defaults(self.model_dir), "system_prompt": self.agent_config.system_prompt}
            )
            torch.save(
                {"step": step, "optimizer": self.optimizer.state_dict(), "config": self.cfg.model_dump(mode="json")},
                folder / "trainer_state.pt",
            )

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
        if cfg.eval_data and self.start_step == 0:
            metrics.write(json.dumps(self.evaluate(0)) + "\n")
        for step in range(self.start_step, cfg.steps):
            torch.manual_seed(cfg.seed * 100003 + step)
            record = self.train_step(step)
            if cfg.eval_data and ((step + 1) % cfg.eval_every == 0 or step + 1 == cfg.steps):
                record.update(self.evaluate(step + 1))
            metrics.write(json.dumps(record) + "\n")
            metrics.flush()
            log(record)
            if progress:
                progress()
            if (step + 1) % cfg.save_every == 0 or step + 1 == cfg.steps:
                self.save(step + 1)
        metrics.close()
        return cfg.out
