"""``AgentExecutor`` for OpenRLHF: one episode of THIS library's graph per ``execute`` call.

The graph runs on OpenRLHF's engine through :class:`~.engine.EngineBackend`; the episode's Trajectory
is scored by the DeepEyes reward (:func:`deepeyes_agent.rl.reward.compute_reward`) and returned in the
dict OpenRLHF trains on (:func:`~.response.to_openrlhf`).

Rows come from ``deepeyes-agent openrlhf export``: ``prompt`` is the question text (no chat template:
the graph builds the DeepEyes prompt itself), ``images`` the image path(s), ``label`` a JSON object
with the answer (and options when the question has them).
"""

from __future__ import annotations

import asyncio
import json
import socket
import sys

from openrlhf.utils.agent import AgentExecutorBase

from deepeyes_agent.backends.base import SamplingParams
from deepeyes_agent.datasets.deepeyes import user_text
from deepeyes_agent.datasets.sources import image_bytes
from deepeyes_agent.errors import InputError
from deepeyes_agent.graphs.visual_agent import create_visual_agent
from deepeyes_agent.images import ImageStore, load_image
from deepeyes_agent.judges import Truth
from deepeyes_agent.tools import Toolbox
from deepeyes_agent.trajectory import Trajectory

from ..reward import compute_reward
from .engine import EngineBackend
from .response import to_openrlhf
from .settings import AgentSettings
from .weights import log_engine_weights


def parse_label(label, question: str = "") -> Truth:
    """The exported label (JSON: ``answer``, optional ``options`` / ``answer_index`` / ``question``), DeepEyes-47k's
    ``reward_model`` (``{ground_truth, style}``), or a plain string taken as a free-form answer."""
    if isinstance(label, dict):
        data = label
    else:
        try:
            data = json.loads(label)
        except (TypeError, json.JSONDecodeError):
            return Truth(answer=str(label))
        if not isinstance(data, dict):
            return Truth(answer=str(label))
    if "ground_truth" in data and "answer" not in data:  # a DeepEyes-47k row, read from its parquet
        return Truth(answer=str(data["ground_truth"]), question=question)
    if "answer" not in data:
        raise ValueError(f"label {label!r} has no 'answer'")
    options = tuple(data["options"]) if data.get("options") else None
    return Truth(
        answer=str(data["answer"]),
        options=options,
        answer_index=data.get("answer_index"),
        question=str(data.get("question", question)),
    )


def first_image(images, store: ImageStore) -> str:
    """The row's first image as graph input: a path as it is; encoded bytes (a parquet's ``{bytes, path}`` cell)
    decoded into the store."""
    refs = images if isinstance(images, list) else [images]
    refs = [r for r in refs if r is not None]
    if not refs:
        raise ValueError("a DeepEyes row needs an image: 'images' is empty")
    if isinstance(refs[0], str):
        return refs[0]
    return store.put(load_image(image_bytes(refs[0]), name="the row's image"))


def question_of(prompt) -> str:
    """The exported question text, or a DeepEyes-47k chat list's user text."""
    if isinstance(prompt, list):
        return user_text(prompt)[0]
    return str(prompt).replace("<image>", "").strip()


class DeepEyesAgentExecutor(AgentExecutorBase):
    def __init__(self, settings: AgentSettings | None = None):
        self.settings = settings or AgentSettings.from_env()
        self.judge = self.settings.make_judge()
        # the tools are imported here, on the Ray worker, once: their modules must be installed there; its MCP servers
        # are connected here too, one client per worker (each server must be reachable from every worker). A tool
        # that does not import, or a server that does not answer, fails the engine's start (OpenRLHF builds the
        # executor in its __init__), in one line naming the worker, instead of every episode
        try:
            self.toolbox = Toolbox.for_config(self.settings.agent)
        except InputError as exc:
            raise InputError(
                f"on the Ray worker {socket.gethostname()} ({sys.executable}): {exc} — install the tool's package on "
                "every node, or ship its folder with the job (Ray runtime env: working_dir or PYTHONPATH)"
            ) from None

    def agent_config(self, sampling_params, max_length: int):
        """Episode bounds from the settings; context budget and sampling from OpenRLHF's run."""
        turn_tokens = getattr(sampling_params, "max_tokens", None) or max_length
        sampling = SamplingParams(
            max_tokens=max(1, min(turn_tokens, max_length)),
            temperature=float(getattr(sampling_params, "temperature", 1.0)),
            top_p=float(getattr(sampling_params, "top_p", 1.0)),
            top_k=int(getattr(sampling_params, "top_k", -1)),
        )
        # the toolbox (its MCP servers' tools too) was made once, in __init__: the graph gets it as its tool list
        return self.settings.agent.model_copy(
            update={"max_context_tokens": max_length, "sampling": sampling, "mcp": None}
        )

    async def execute(self, prompt, label, sampling_params, max_length: int, hf_tokenizer, llm_engine, images=None):
        await log_engine_weights(llm_engine)  # only with DEEPEYES_OPENRLHF_WEIGHTS_LOG set: did a weight sync land?
        question = question_of(prompt)
        truth = parse_label(label, question.strip())
        store = ImageStore()
        graph = create_visual_agent(
            EngineBackend(llm_engine, hf_tokenizer, sampling_params),
            processor=hf_tokenizer,
            config=self.agent_config(sampling_params, max_length),
            tools=list(self.toolbox.tools.values()),
            image_store=store,
        )
        state = await graph.ainvoke(
            {
                "image": first_image(images, store),
                "question": question,
                "options": list(truth.options) if truth.options else None,
            }
        )
        traj = Trajectory.from_state(state)
        # an LLM judge is blocking HTTP with retries: keep it off the engine's event loop
        reward = await asyncio.to_thread(compute_reward, traj, truth, self.judge, self.settings.reward)
        response = to_openrlhf(
            traj,
            store,
            reward,
            hf_tokenizer,
            prompt=prompt,
            label=label,
            images=images,
            with_logprobs=getattr(sampling_params, "logprobs", None) is not None,
            tool_names=self.toolbox.names,
        )
        if self.settings.trajectories:  # for the viewer: the crops must be on disk before the driver reads them
            await asyncio.to_thread(store.flush)
            response["trajectory"] = traj.model_dump(mode="json")
        return response
