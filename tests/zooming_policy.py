"""A tiny model taught to zoom twice and then answer — a tool-using policy for the vLLM tests.

The untrained tiny model never emits a tool call, and the embedded one rarely chains two; tests of
multi-turn, multi-crop trajectories on a real engine need a policy whose greedy decoding does. This
plays the script once through the graph (teacher-forced, so the ids are the graph's own), then fits the
model to those action tokens until greedy decoding reproduces them.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import torch

from deepeyes_agent.backends import SamplingParams, ScriptedBackend, TransformersBackend
from deepeyes_agent.graphs import AgentConfig, create_visual_agent
from deepeyes_agent.images import ImageStore
from deepeyes_agent.rl.tensors import collate_trajectories, token_logprobs
from deepeyes_agent.trajectory import Trajectory

BOXES = ([300, 240, 760, 620], [80, 60, 200, 180])  # in the model's view (Qwen2.5 pixels)
QUESTION, OPTIONS = "What is inside the red square?", ["checkerboard", "stripes"]


def script() -> list[str]:
    from conftest import answer, tool_call

    return [
        tool_call(BOXES[0], think="look closer"),
        tool_call(BOXES[1], think="closer still"),
        answer("A", think="a checkerboard"),
    ]


def agent_config(model_dir, max_tokens: int = 96) -> AgentConfig:
    return AgentConfig.for_model(
        model_dir, max_turns=3, sampling=SamplingParams(max_tokens=max_tokens, temperature=0.0)
    )


def episode_inputs(image_path) -> dict:
    return {"image": str(image_path), "question": QUESTION, "options": OPTIONS}


def train_zooming_policy(base_dir: Path, out_dir: Path, image_path: Path, work: Path, max_steps: int = 300) -> Path:
    backend = TransformersBackend.from_pretrained(base_dir)
    store = ImageStore(work / "images")
    scripted = ScriptedBackend(backend.processor, script(), model=backend)
    out = create_visual_agent(scripted, config=agent_config(base_dir), image_store=store).invoke(
        episode_inputs(image_path)
    )
    traj = Trajectory.from_state(out)
    assert (traj.turns, traj.crops) == (3, 2), traj.stop_reason
    model = backend.model
    batch = collate_trajectories(
        [traj],
        [[store.get(r) for r in traj.images]],
        backend.processor.image_processor,
        model.config.image_token_id,
        backend.pad_token_id,
    )
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    mask = batch.action_mask.bool()
    model.train()
    for _ in range(max_steps):
        logp, _ = token_logprobs(model, batch)
        loss = -(logp[mask]).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if logp[mask].detach().min().exp() > 0.9:  # every scripted token is the clear argmax
            break
    model.eval()
    model.save_pretrained(out_dir)
    backend.processor.save_pretrained(out_dir)
    for extra in ("deepeyes_agent.json", "chat_template.jinja"):
        if (base_dir / extra).exists() and not (out_dir / extra).exists():
            shutil.copy(base_dir / extra, out_dir / extra)
    return out_dir
