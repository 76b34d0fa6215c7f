"""The think → zoom → answer agent as a LangGraph ``StateGraph``.

    START → prepare → policy ─┬─(tool call)→ zoom ─┬→ policy …
                              └─(answer / stop)──→ finish → END    └─(context full)→ finish

One graph serves ``ask``, evaluation and RL rollouts. The policy node calls a token-level backend;
the zoom node crops the ORIGINAL image and appends the observation as token ids. Malformed model
output never raises: it becomes an error observation (the episode goes on) or a recorded stop reason.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, HumanMessage
from langgraph.graph import END, START, StateGraph
from langgraph.types import Command

from deepeyes_agent.backends.base import Backend, Completion, GenerationRequest, derive_seed
from deepeyes_agent.images import ImageError, ImageStore
from deepeyes_agent.parser import parse_turn, strip_end
from deepeyes_agent.tools import Toolbox
from deepeyes_agent.trajectory import ActionSegment, Trajectory

from .chat_policy import ChatPolicy
from .dual_node import DualNode
from .inputs import ImageInputPolicy, from_messages, resolve_image
from .state import AgentConfig, VisualAgentInput, VisualAgentOutput, VisualAgentState
from .tool_node import ToolNode, emit, thread_id


class _Nodes(ToolNode):
    """The node functions; they close over the policy (a token backend with its prompt builder, or a
    chat model), the image store and the config."""

    def __init__(
        self,
        backend: Backend | None,
        builder,
        config: AgentConfig,
        store: ImageStore,
        name: str,
        chat: ChatPolicy | None = None,
        image_processor=None,
        reviewed_tools: frozenset[str] = frozenset(),
        inputs: ImageInputPolicy | None = None,
        toolbox: Toolbox | None = None,
    ):
        self.backend = backend
        self.toolbox = toolbox or Toolbox.for_config(config)
        self.builder = builder
        self.config = config
        self.store = store
        self.name = name
        self.chat = chat
        self.image_processor = (
            image_processor if image_processor is not None else getattr(builder, "image_processor", None)
        )
        self.reviewed_tools = reviewed_tools
        self.inputs = inputs or ImageInputPolicy()
        self.durable = True  # crops reach the disk before the node returns (a checkpointed thread may resume)

    # -- prepare ---------------------------------------------------------------------------------
    def prepare(self, state: VisualAgentState) -> dict:
        messages = state.get("messages") or []
        owner = thread_id()
        if messages and isinstance(messages[-1], HumanMessage):
            ref, question = from_messages(messages, self.store, self.inputs, owner)
            options = None
        else:
            if not state.get("image") or not state.get("question"):
                raise ValueError("visual agent input needs 'image' and 'question', or messages with an image block")
            ref = resolve_image(state["image"], self.store, self.inputs, owner)
            question, options = state["question"], state.get("options")
        image = self.store.get(ref)
        try:
            prompt_ids = self.builder.prompt_ids(image, question, options) if self.builder else []
        except ImageError as exc:  # e.g. an aspect ratio the processor refuses: name the input it came from
            source = state.get("image") if self.inputs.trusts_caller and not messages else None
            raise ImageError(
                f"{source}: {exc}" if isinstance(source, str) and not source.startswith("data:") else str(exc)
            ) from exc
        traj = Trajectory(prompt_ids=prompt_ids, images=[ref], question=question, options=options)
        return {
            "image": ref,
            "question": question,
            "trajectory": traj.model_dump(),
            "pending_calls": None,
            "answer": None,
        }

    # -- policy ----------------------------------------------------------------------------------
    def _request(self, state: VisualAgentState) -> tuple[Trajectory, GenerationRequest | None]:
        traj = Trajectory.from_state(state)
        remaining = self.config.max_context_tokens - len(traj.input_ids())
        if remaining <= 0:
            traj.stop_reason, traj.truncated = "context_budget", True
            return traj, None
        sampling = self.config.sampling
        update = {"max_tokens": min(sampling.max_tokens, remaining)}
        seed = state["seed"] if state.get("seed") is not None else sampling.seed
        if seed is not None:
            update["seed"] = derive_seed(seed, traj.turns)
        request = GenerationRequest(
            prompt_ids=traj.input_ids(),
            images=[self.store.get(r) for r in traj.images],
            sampling=sampling.model_copy(update=update),
        )
        return traj, request

    def _apply(self, traj: Trajectory, completion: Completion | None) -> Command:
        pending = None
        if completion is not None:
            parsed = parse_turn(completion.text)
            chosen = [
                c.model_dump(exclude={"raw"} if c.error is None else set())
                for c in self.toolbox.chosen(parsed.tool_calls)
            ]
            call = chosen[-1] if chosen else None
            traj.segments.append(
                ActionSegment(
                    token_ids=completion.token_ids,
                    logprobs=completion.logprobs,
                    text=completion.text,
                    finish_reason=completion.finish_reason,
                    think=parsed.think,
                    answer=parsed.answer,
                    tool_call=call,
                    tool_calls=chosen if self.toolbox.multi_call else [],
                    format_errors=parsed.format_errors,
                )
            )
            emit(
                {"event": "turn", "turn": traj.turns, "think": parsed.think, "answer": parsed.answer, "tool_call": call}
            )
            if parsed.answer is not None:
                traj.answer, traj.stop_reason = parsed.answer, "answer"
                traj.truncated = completion.finish_reason == "length"
            elif completion.finish_reason == "length":
                traj.stop_reason, traj.truncated = "length", True
            elif not strip_end(completion.text).strip():
                traj.stop_reason = "empty"
            elif parsed.empty_tool_call:  # DeepEyes: an exactly empty <tool_call></tool_call> ends the episode
                traj.stop_reason = "empty_tool_call"
            elif parsed.tool_call is None:
                traj.stop_reason = "no_tool_call"
            elif traj.turns >= self.config.max_turns:
                traj.stop_reason = "max_turns"
            else:
                pending = chosen
        return Command(
            update={"trajectory": traj.model_dump(), "pending_calls": pending}, goto="zoom" if pending else "finish"
        )

    def policy(self, state: VisualAgentState) -> Command:
        if self.chat is not None:
            traj = Trajectory.from_state(state)
            return self._apply(traj, self.chat.invoke(traj))
        traj, request = self._request(state)
        return self._apply(traj, None if request is None else self.backend.generate([request])[0])

    async def apolicy(self, state: VisualAgentState) -> Command:
        if self.chat is not None:
            traj = Trajectory.from_state(state)
            return self._apply(traj, await self.chat.ainvoke(traj))
        traj, request = self._request(state)
        return self._apply(traj, None if request is None else await self.backend.agenerate(request))

    # -- finish ----------------------------------------------------------------------------------
    def finish(self, state: VisualAgentState) -> dict:
        traj = Trajectory.from_state(state)
        out: dict = {"answer": traj.answer}
        if state.get("messages"):
            out["messages"] = [
                AIMessage(
                    content=traj.answer if traj.answer is not None else "",
                    name=self.name,
                    response_metadata={"stop_reason": traj.stop_reason, "turns": traj.turns, "crops": traj.crops},
                )
            ]
        return out


def reviewed(toolbox: Toolbox, approve_zooms: bool, approve_tools: Sequence[str]) -> frozenset[str]:
    """The names of the calls a person reviews: ``approve_tools`` (short names or the tools' own) and, with
    ``approve_zooms``, the zoom; a name the toolbox does not hold is refused (a typo would review nothing)."""
    from deepeyes_agent.tools.toolbox import BUILTIN

    names = [*approve_tools, *(["zoom"] if approve_zooms else [])]
    out = set()
    for name in names:
        tool = BUILTIN[name].name if name in BUILTIN else name
        if tool not in toolbox.tools:
            raise ValueError(f"approve_tools names {name!r}, which is not one of the agent's tools {toolbox.names}")
        out.add(tool)
    return frozenset(out)


def _folder_config(folder, config: AgentConfig | None) -> AgentConfig:
    """``config``'s explicitly set fields over what the model folder asks for (its system prompt, its box frame)."""
    if folder is None:
        return config or AgentConfig()
    explicit = {} if config is None else {k: getattr(config, k) for k in config.model_fields_set}
    return AgentConfig.for_model(folder, **explicit)


def create_visual_agent(
    model: str | Path | Backend | BaseChatModel | None = None,
    *,
    tools: Sequence[Any] | None = None,
    revision: str | None = None,
    backend: str = "transformers",
    server_url: str | None = None,
    device: str = "auto",
    dtype: str = "auto",
    processor: Any = None,
    config: AgentConfig | None = None,
    image_store: ImageStore | None = None,
    checkpointer: Any = None,
    interrupt_before: list[str] | None = None,
    approve_zooms: bool = False,
    approve_tools: Sequence[str] = (),
    allow_local_paths: bool = True,
    native_tools: bool = True,
    image_root: str | Path | None = None,
    max_upload_bytes: int = 32 * 1024**2,
    name: str = "visual_agent",
):
    """A compiled LangGraph agent that thinks, zooms into its image, and answers.

    Args:
        model: what plays the policy —
            ``None``: the embedded default model;
            a folder (``str`` / ``Path``): a local Qwen2.5-VL / Qwen3-VL / DeepEyes-7B checkpoint, run by ``backend``;
            a hub id (``"ChenShawn/DeepEyes-7B"``): fetched into the Hugging Face cache (or found there) first;
            a token-level backend (:class:`~deepeyes_agent.backends.TransformersBackend`, ``VLLMBackend``,
            ``ServerBackend``, ``ScriptedBackend``): trajectories carry token ids and logprobs (RL-ready);
            a LangChain chat model that takes images: inference only (no token ids; RL refuses it).
        tools: the tools the model may call, in the order its system prompt lists them: names (``"zoom"``,
            ``"rotate"``), import paths (``"package.module:name"``), ``@visual_tool`` functions, :class:`VisualTool`
            objects, LangChain ``BaseTool`` objects. Default: ``config.tools`` (DeepEyes' zoom alone).
        revision: a hub id's branch, tag or commit (default: main).
        backend: how a folder runs: ``"transformers"`` (in-process torch), ``"vllm"`` (an in-process vLLM
            engine) or ``"server"`` (a running ``vllm serve`` at ``server_url``).
        server_url: the vLLM server for ``backend="server"`` (giving it implies that backend).
        device: where a folder's model runs: ``"auto"`` (a CUDA GPU when there is one, else the CPU), ``"cpu"``,
            ``"cuda"``, ``"cuda:N"``.
        dtype: its weights' precision: ``"auto"`` (float32 on the CPU; on a GPU the checkpoint's own dtype —
            bfloat16 for Qwen2.5-VL / DeepEyes-7B), ``"bfloat16"``, ``"float16"``, ``"float32"``.
        processor: the processor whose view the boxes refer to; default: the backend's (a chat model's boxes are
            read against the original image unless a processor is given).
        config: episode bounds, decoding, zoom frame, system prompt. The fields you set win; the rest come from
            what the model folder asks for (``AgentConfig.for_model``: its system prompt, its family's box frame).
        image_store: where images live by ``sha256:`` reference (default: ``~/.cache/deepeyes-agent/images``).
        checkpointer: a LangGraph checkpointer (threads survive restarts; needed by ``approve_zooms``).
        interrupt_before: node names to interrupt before, as in LangGraph.
        approve_zooms: interrupt before each crop with the proposed call; resume with
            ``Command(resume=True | False | {"bbox_2d": [...]})`` to approve, reject or edit it.
        approve_tools: the same for any tools, by name (``["zoom", "ocr"]``; ``zoom`` / ``rotate`` are the
            built-ins' short names): resume with ``True``, ``False`` or a dict of arguments to replace.
        allow_local_paths: ``False`` for callers you do not trust (a graph served over HTTP): local paths are
            refused (except relative paths inside ``image_root``), and so are ``sha256:`` references the thread
            did not produce.
        native_tools: a chat model gets the tools bound natively too (LangChain's ``bind_tools``; ``False`` for an
            endpoint that refuses tools, e.g. a vLLM server without ``--enable-auto-tool-choice``).
        image_root: with ``allow_local_paths=False``, the folder whose files may still be named.
        max_upload_bytes: data URLs / base64 blocks larger than this are refused before they are decoded.
        name: the graph's name (and the ``AIMessage.name`` of its answers).

    Input: ``{"image": path | data URL | "sha256:…", "question": str, "options": [...]}`` or
    ``{"messages": [HumanMessage([image block, text])]}``. Output: ``answer``, ``trajectory`` (read it with
    ``Trajectory.from_state(out)``) and, for messages input, ``messages`` with the answer appended.

    Example::

        from deepeyes_agent import create_visual_agent

        agent = create_visual_agent()                      # or create_visual_agent("/models/DeepEyes-7B")
        out = agent.invoke({"image": "signs.png", "question": "What pattern is on the orange sign?"})
        print(out["answer"])
    """
    image_store = image_store or ImageStore()
    inputs = ImageInputPolicy(
        allow_local_paths=allow_local_paths, image_root=image_root, max_upload_bytes=max_upload_bytes
    )
    if model is None or isinstance(model, (str, Path)):
        from deepeyes_agent.backends.factory import make_backend
        from deepeyes_agent.device import PlacementConfig
        from deepeyes_agent.models import resolve_model_dir

        folder = resolve_model_dir(model, revision)
        config = _folder_config(folder, config)
        model = make_backend(
            backend,
            folder,
            server_url=server_url,
            max_images=config.max_turns + 1,
            placement=PlacementConfig(device=device, dtype=dtype),
        )
    if isinstance(model, BaseChatModel):
        config = config or AgentConfig()
        toolbox = Toolbox.for_config(config, tools)
        image_processor = getattr(processor, "image_processor", processor)
        nodes = _Nodes(
            None,
            None,
            config,
            image_store,
            name,
            chat=ChatPolicy(model, toolbox, image_store, native_tools=native_tools),
            image_processor=image_processor,
            reviewed_tools=reviewed(toolbox, approve_zooms, approve_tools),
            inputs=inputs,
            toolbox=toolbox,
        )
    elif callable(getattr(model, "agenerate", None)) and hasattr(model, "processor"):
        config = _folder_config(getattr(model, "model_dir", None), config)
        toolbox = Toolbox.for_config(config, tools)
        nodes = _Nodes(
            model,
            toolbox.prompt_builder(processor or model.processor),
            config,
            image_store,
            name,
            reviewed_tools=reviewed(toolbox, approve_zooms, approve_tools),
            inputs=inputs,
            toolbox=toolbox,
        )
    else:
        raise TypeError(
            f"model must be a model folder, a token-level backend or a LangChain chat model, got {type(model).__name__}"
        )
    # without a checkpointer no thread resumes in another process: crops may reach the disk behind the episode;
    # a served graph (untrusted callers) gets its checkpointer from the server, so it stays durable
    nodes.durable = checkpointer is not None or not allow_local_paths
    if nodes.reviewed_tools and checkpointer is None:
        raise ValueError(
            "reviewing tool calls interrupts the run: pass a checkpointer (e.g. InMemorySaver or SqliteSaver)"
        )
    graph = StateGraph(VisualAgentState, input_schema=VisualAgentInput, output_schema=VisualAgentOutput)
    graph.add_node("prepare", nodes.prepare)  # may decode a file: under the async API, in a worker thread
    # policy and zoom route by returning Command(goto=...): a conditional edge would read the state back and open a
    # traced run for its router on every turn (~0.3 ms each, benchmarks/graph_overhead.py)
    graph.add_node("policy", DualNode(nodes.policy, nodes.apolicy, name="policy"), destinations=("zoom", "finish"))
    # the tool node awaits its calls under the async API (a slow tool holds up its own episode only) and keeps file
    # I/O off the event loop when its store is durable (a checkpointed or served graph)
    graph.add_node("zoom", DualNode(nodes.zoom, nodes.azoom, name="zoom"), destinations=("policy", "finish"))
    graph.add_node("finish", DualNode(nodes.finish, name="finish"))
    graph.add_edge(START, "prepare")
    graph.add_edge("prepare", "policy")
    graph.add_edge("finish", END)
    return graph.compile(checkpointer=checkpointer, interrupt_before=interrupt_before, name=name)
