"""The Trajectory: the contract between the graph and rl/.

Token-faithful: the training sequence is exactly ``prompt_ids`` followed by every segment's ids in
order. Actions carry their rollout logprobs; observations carry the crop they add (or an error text).
Images are references into the :class:`~deepeyes_agent.images.ImageStore`, in sequence order.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, computed_field


class ActionSegment(BaseModel):
    kind: Literal["action"] = "action"
    token_ids: list[int]
    logprobs: list[float]
    text: str
    finish_reason: str
    think: str | None = None
    answer: str | None = None
    tool_call: dict | None = Field(
        None,
        description="{'name', 'arguments'} of the executed call, or {'raw'} when unparsable (several calls: the last)",
    )
    tool_calls: list[dict] = Field(default_factory=list, description="every executed call of the turn, in order")
    format_errors: list[str] = Field(default_factory=list)


class ObservationSegment(BaseModel):
    """What one tool call returned (a turn of several calls has one segment per call, in order)."""

    kind: Literal["observation"] = "observation"
    token_ids: list[int]
    tool: str | None = Field(None, description="the tool the call named (None: the call did not parse)")
    image: str | None = Field(None, description="reference of the image this observation shows (a crop, …)")
    text: str | None = Field(None, description="the text the tool returned, shown to the model")
    error: str | None = Field(None, description="DeepEyes error text shown to the model")
    reason: str | None = Field(None, description="why the call failed, for people")
    error_kind: str | None = Field(
        None,
        description="what went wrong: invalid_arguments, unknown_tool, unparsable, timeout, unavailable, failed, rejected",
    )
    latency_ms: float | None = Field(None, description="how long the tool took (None: it never ran)")
    box_model: list[float] | None = None
    box_original: list[int] | None = None
    review: str | None = Field(None, description="approved / edited / rejected when a person reviewed the call")


# Why an episode ended: an answer; a turn with neither an answer nor a tool call; an exactly empty
# <tool_call></tool_call> (DeepEyes ends there too); the turn budget; a turn cut by the token limit; empty
# output; or the context budget (an observation that would overflow it is not appended).
StopReason = Literal["answer", "no_tool_call", "empty_tool_call", "max_turns", "length", "empty", "context_budget"]


class Trajectory(BaseModel):
    prompt_ids: list[int]
    segments: list[ActionSegment | ObservationSegment] = Field(default_factory=list)
    images: list[str] = Field(default_factory=list, description="image references in sequence order: original, crops")
    question: str = ""
    options: list[str] | None = None
    answer: str | None = None
    stop_reason: StopReason | None = None
    truncated: bool = False

    @classmethod
    def from_state(cls, state: dict) -> Trajectory:
        """The trajectory of a graph run's output (or of any state holding ``trajectory``)."""
        return cls.model_validate(state["trajectory"])

    @property
    def actions(self) -> list[ActionSegment]:
        return [s for s in self.segments if isinstance(s, ActionSegment)]

    @property
    def observations(self) -> list[ObservationSegment]:
        return [s for s in self.segments if isinstance(s, ObservationSegment)]

    @computed_field
    @property
    def turns(self) -> int:
        return len(self.actions)

    @computed_field
    @property
    def tool_calls(self) -> int:
        """Turns followed by an observation, errors included (DeepEyes' ``agent/tool_call_mean``)."""
        return len(self.observations)

    @computed_field
    @property
    def tool_errors(self) -> int:
        return sum(1 for o in self.observations if o.error is not None)

    @computed_field
    @property
    def crops(self) -> int:
        """Observations that showed the model an image (crops, rotations, any tool's image)."""
        return sum(1 for o in self.observations if o.image is not None)

    def calls_by_tool(self) -> dict[str, int]:
        """Executed calls per tool name (unparsable calls under ``"?"``)."""
        out: dict[str, int] = {}
        for o in self.observations:
            out[o.tool or "?"] = out.get(o.tool or "?", 0) + 1
        return out

    @property
    def format_ok(self) -> bool:
        return all(not a.format_errors for a in self.actions)

    def input_ids(self) -> list[int]:
        ids = list(self.prompt_ids)
        for seg in self.segments:
            ids.extend(seg.token_ids)
        return ids

    def response_ids(self) -> list[int]:
        return self.input_ids()[len(self.prompt_ids) :]

    def action_mask(self) -> list[int]:
        """1 on generated tokens, 0 on prompt and observation tokens, over :meth:`input_ids`."""
        mask = [0] * len(self.prompt_ids)
        for seg in self.segments:
            mask.extend([1 if seg.kind == "action" else 0] * len(seg.token_ids))
        return mask

    def rollout_logprobs(self) -> list[float]:
        """Logprobs aligned with :meth:`input_ids` (0.0 where the mask is 0)."""
        out = [0.0] * len(self.prompt_ids)
        for seg in self.segments:
            out.extend(seg.logprobs if isinstance(seg, ActionSegment) else [0.0] * len(seg.token_ids))
        return out
