"""The tool node of the visual agent (named ``zoom`` in the graph, for DeepEyes' one tool): the calls of a turn, run
in order through the toolbox on the episode's images, each becoming an observation segment — an image, a text, or
DeepEyes' error text — with the turn's token ids laid out as the toolbox's protocol says (v2 or v5)."""

from __future__ import annotations

from langgraph.types import Command, interrupt

from deepeyes_agent.errors import ToolError
from deepeyes_agent.protocol import TOOL_NAME
from deepeyes_agent.tools import ToolContext
from deepeyes_agent.trajectory import ObservationSegment, Trajectory
from deepeyes_agent.zoom import view_of

from .review import REJECTED_BY_REVIEWER, review_call
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


class ToolNode:
    """The tool node's methods; the node class (``visual_agent._Nodes``) holds the toolbox, the prompt builder, the
    image store, the config and the input policy they use."""

    # -- zoom: the tool node (named for DeepEyes' one tool) ------------------------------------------------------
    def zoom(self, state: VisualAgentState) -> Command:
        """Run the turn's calls in order, each on the episode's images so far (never a crop of a crop unless a tool
        asks for one): every failure is an error observation and the episode goes on."""
        traj = Trajectory.from_state(state)
        original = self.store.get(traj.images[0])
        geom, zoom_config = view_of(original.width, original.height, self.image_processor, self.config.zoom)
        context = ToolContext(list(traj.images), self.store, geom, zoom_config, {traj.images[0]: original})
        segments, images = [], []
        for call in state.get("pending_calls") or []:
            seg, image = self._call(call, context, traj)
            segments.append(seg)
            images.append(image)
            if seg.image is not None:
                context.image_refs.append(seg.image)
                context._cache[seg.image] = image
        if self.builder:
            observed = [(img, seg.text, seg.error) for seg, img in zip(segments, images)]
            for seg, ids in zip(segments, self.builder.tool_observation_ids(observed)):
                seg.token_ids = ids
        if len(traj.input_ids()) + sum(len(s.token_ids) for s in segments) >= self.config.max_context_tokens:
            traj.stop_reason, traj.truncated = "context_budget", True  # as DeepEyes: stop without appending
        else:
            for seg in segments:
                traj.segments.append(seg)
                if seg.image is not None:
                    traj.images.append(seg.image)
        for seg in segments:
            event = {"event": "zoom" if seg.tool == TOOL_NAME or seg.tool is None else "tool", "tool": seg.tool}
            emit({**event, "box_model": seg.box_model, "box_original": seg.box_original, "crop": seg.image,
                   "text": seg.text, "error": seg.error})  # fmt: skip
        return Command(
            update={"trajectory": traj.model_dump(), "pending_calls": None},
            goto="finish" if traj.stop_reason else "policy",
        )

    def _call(self, call: dict, context: ToolContext, traj: Trajectory) -> tuple[ObservationSegment, object]:
        """One call → its observation segment (token ids filled in by the caller) and its image, if any."""
        name, review, image = call.get("name"), None, None
        if self.approve_zooms and not call.get("error") and name == TOOL_NAME:
            # human in the loop: the run stops here until Command(resume=decision) (needs a checkpointer)
            call, review = review_call(
                call, interrupt({"tool_call": call, "image": traj.images[0], "turn": traj.turns})
            )
        if review == "rejected":
            seg = ObservationSegment(
                token_ids=[], tool=name, error=REJECTED_BY_REVIEWER, reason="a reviewer rejected the zoom"
            )
        elif call.get("error"):
            seg = ObservationSegment(
                token_ids=[], error=call["error"], reason="tool call is not valid JSON with name and arguments"
            )
        else:
            try:
                result = self.toolbox.execute(name, call.get("arguments"), context)
            except ToolError as exc:
                seg = ObservationSegment(token_ids=[], tool=name, error=exc.observation, reason=exc.reason)
            else:
                image = result.image
                ref = None
                if image is not None:
                    derived = f"{traj.images[0]}/{result.derivation}" if result.derivation else None
                    ref = self.store.put(image, durable=self.durable, derived_from=derived)
                    if not self.inputs.trusts_caller and (owner := thread_id()) is not None:
                        self.store.grant(owner, ref)  # the thread may name its image later
                seg = ObservationSegment(
                    token_ids=[],
                    tool=name,
                    image=ref,
                    text=result.text,
                    box_model=list(result.box_model) if result.box_model is not None else None,
                    box_original=list(result.box_original) if result.box_original is not None else None,
                )
        seg.review = review
        return seg, image
