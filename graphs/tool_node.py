"""The tool node of the visual agent (named ``zoom`` in the graph, for DeepEyes' one tool): the calls of a turn, run
through the toolbox on the episode's images, each becoming an observation segment — an image, a text, or an error
text — with the turn's token ids laid out as the toolbox's protocol says (v2 or v5).

Under ``ainvoke`` / ``abatch`` / ``astream`` the node is a coroutine: the turn's calls run concurrently (each on the
images from before the turn) and never block the event loop — a tool that waits one second holds up its own episode
only, and the other episodes in flight generate meanwhile. Under ``invoke`` they run one after the other. Either way
they are observed in call order, and each observation records its tool's latency and, for a failure, its kind.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from langgraph.types import Command, interrupt

from deepeyes_agent.errors import ToolError
from deepeyes_agent.tools import ToolContext, ToolResult
from deepeyes_agent.trajectory import ObservationSegment, Trajectory
from deepeyes_agent.zoom import view_of

from .review import rejection, review_call
from .state import VisualAgentState


def thread_id() -> str | None:
    """The running thread's id (None outside a checkpointed run): untrusted callers' images belong to it."""
    try:
        from langgraph.config import get_config

        return (get_config().get("configurable") or {}).get("thread_id")
    except RuntimeError:
        return None


def emit(event: dict) -> None:
    """Send a step to ``stream_mode="custom"`` listeners (a no-op outside a streaming run)."""
    try:
        from langgraph.config import get_stream_writer

        get_stream_writer()(event)
    except (RuntimeError, LookupError, KeyError):
        pass


@dataclass
class _Planned:
    """A call of the turn after review: what to run, or the observation it already is (unparsable, rejected)."""

    name: str | None
    arguments: object
    review: str | None = None
    settled: ObservationSegment | None = None


class ToolNode:
    """The tool node's methods; the node class (``visual_agent._Nodes``) holds the toolbox, the prompt builder, the
    image store, the config, the input policy and the tools a person reviews."""

    # -- the node: zoom (sync) and azoom (async) ----------------------------------------------------------------------
    def zoom(self, state: VisualAgentState) -> Command:
        """Run the turn's calls in order (``graph.invoke``)."""
        traj, context = self._context(state)
        planned = [self._plan(call, traj) for call in state.get("pending_calls") or []]
        observed = [self._execute(p, context) for p in planned]
        return self._observe(traj, planned, observed)

    async def azoom(self, state: VisualAgentState) -> Command:
        """Run the turn's calls concurrently on the event loop (``graph.ainvoke`` / ``abatch`` / ``astream``)."""
        traj, context = await self._off_loop(self._context, state)
        planned = [self._plan(call, traj) for call in state.get("pending_calls") or []]
        observed = await asyncio.gather(*(self._aexecute(p, context) for p in planned))
        return self._observe(traj, planned, list(observed))

    # -- the steps --------------------------------------------------------------------------------------------------
    def _context(self, state: VisualAgentState) -> tuple[Trajectory, ToolContext]:
        """The trajectory so far and what the turn's calls may see: the images before the turn, the model's view."""
        traj = Trajectory.from_state(state)
        original = self.store.get(traj.images[0])
        geom, zoom_config = view_of(original.width, original.height, self.image_processor, self.config.zoom)
        return traj, ToolContext(list(traj.images), self.store, geom, zoom_config, {traj.images[0]: original})

    def _plan(self, call: dict, traj: Trajectory) -> _Planned:
        """A call as it will run: a reviewed tool waits here for the person (the run stops until
        ``Command(resume=decision)``; needs a checkpointer); a call that did not parse is its error already."""
        name = call.get("name")
        if call.get("error"):
            reason = "tool call is not valid JSON with name and arguments"
            return _Planned(name, None, settled=ObservationSegment(token_ids=[], error=call["error"], reason=reason,
                                                                   error_kind="unparsable"))  # fmt: skip
        if name not in self.reviewed_tools:
            return _Planned(name, call.get("arguments"))
        decision = interrupt({"tool_call": call, "image": traj.images[0], "turn": traj.turns})
        call, review = review_call(call, decision)
        if review == "rejected":
            segment = ObservationSegment(token_ids=[], tool=name, error=rejection(name), reason="a reviewer rejected "
                                         "the call", error_kind="rejected", review=review)  # fmt: skip
            return _Planned(name, None, review, segment)
        return _Planned(name, call.get("arguments"), review)

    def _execute(self, planned: _Planned, context: ToolContext) -> tuple[ObservationSegment, object]:
        if planned.settled is not None:
            return planned.settled, None
        start = time.perf_counter()
        try:
            result = self.toolbox.execute(planned.name, planned.arguments, context)
        except ToolError as exc:
            return self._failed(planned, exc, start), None
        return self._succeeded(planned, result, start, self._store(result, context))

    async def _aexecute(self, planned: _Planned, context: ToolContext) -> tuple[ObservationSegment, object]:
        if planned.settled is not None:
            return planned.settled, None
        start = time.perf_counter()
        try:
            result = await self.toolbox.aexecute(planned.name, planned.arguments, context)
        except ToolError as exc:
            return self._failed(planned, exc, start), None
        latency = time.perf_counter() - start
        ref = await self._off_loop(self._store, result, context)
        return self._succeeded(planned, result, start, ref, latency)

    async def _off_loop(self, fn, *args):
        """``fn(*args)``, in a worker thread when it touches the disk (a durable store: a checkpointed or served
        graph, where blocking file I/O must stay off the loop), else right here."""
        return await asyncio.to_thread(fn, *args) if self.durable else fn(*args)

    def _store(self, result: ToolResult, context: ToolContext) -> str | None:
        """The result's image in the store (a crop named by its derivation, not its pixels)."""
        if result.image is None:
            return None
        original = context.image_refs[0]
        derived = f"{original}/{result.derivation}" if result.derivation else None
        ref = self.store.put(result.image, durable=self.durable, derived_from=derived)
        if not self.inputs.trusts_caller and (owner := thread_id()) is not None:
            self.store.grant(owner, ref)  # the thread may name its image later
        return ref

    @staticmethod
    def _failed(planned: _Planned, exc: ToolError, start: float) -> ObservationSegment:
        return ObservationSegment(
            token_ids=[],
            tool=planned.name,
            error=exc.observation,
            reason=exc.reason,
            error_kind=exc.kind,
            latency_ms=round((time.perf_counter() - start) * 1000, 3),
            review=planned.review,
        )

    @staticmethod
    def _succeeded(
        planned: _Planned, result: ToolResult, start: float, ref: str | None, latency: float | None = None
    ) -> tuple[ObservationSegment, object]:
        latency = time.perf_counter() - start if latency is None else latency
        segment = ObservationSegment(
            token_ids=[],
            tool=planned.name,
            image=ref,
            text=result.text,
            box_model=list(result.box_model) if result.box_model is not None else None,
            box_original=list(result.box_original) if result.box_original is not None else None,
            latency_ms=round(latency * 1000, 3),
            review=planned.review,
        )
        return segment, result.image

    def _observe(self, traj: Trajectory, planned: list[_Planned], observed: list[tuple]) -> Command:
        """The turn's observations in call order: token ids laid out by the protocol, appended unless they would
        overflow the context (as DeepEyes: the episode stops without them), each sent to stream listeners."""
        segments = [segment for segment, _ in observed]
        if self.builder:
            shown = [(image, seg.text, seg.error) for seg, image in observed]
            for seg, ids in zip(segments, self.builder.tool_observation_ids(shown)):
                seg.token_ids = ids
        if len(traj.input_ids()) + sum(len(s.token_ids) for s in segments) >= self.config.max_context_tokens:
            traj.stop_reason, traj.truncated = "context_budget", True
        else:
            for seg in segments:
                traj.segments.append(seg)
                if seg.image is not None:
                    traj.images.append(seg.image)
        for seg in segments:
            emit({"event": "tool", "tool": seg.tool, "box_model": seg.box_model, "box_original": seg.box_original,
                  "image": seg.image, "text": seg.text, "error": seg.error, "latency_ms": seg.latency_ms})  # fmt: skip
        return Command(
            update={"trajectory": traj.model_dump(), "pending_calls": None},
            goto="finish" if traj.stop_reason else "policy",
        )
