"""Human review of tool calls (``approve_tools=["zoom", …]``; ``approve_zooms=True`` reviews the zoom): the run
stops before each reviewed call and a person resumes it with a decision."""

from __future__ import annotations


def rejection(tool: str | None) -> str:
    """What the model is told when a reviewer rejects its call."""
    return f"Error: the call to {tool} was rejected by the reviewer. Answer from what you have seen, or call it differently."


def review_call(call: dict, decision) -> tuple[dict, str]:
    """A reviewer's decision on a call: ``True`` / ``"approve"`` / ``None`` keeps it, ``False`` / ``"reject"``
    rejects it, a dict of arguments (``{"bbox_2d": [...]}`` for the zoom, in the model's frame) replaces those
    arguments of the call."""
    if decision in (None, True, "approve") or (isinstance(decision, dict) and decision == {"approve": True}):
        return call, "approved"
    if decision in (False, "reject") or (isinstance(decision, dict) and decision.get("approve") is False):
        return call, "rejected"
    if isinstance(decision, dict) and decision:
        edits = {k: v for k, v in decision.items() if k != "approve"}
        arguments = {**(call.get("arguments") if isinstance(call.get("arguments"), dict) else {}), **edits}
        return {**call, "arguments": arguments}, "edited"
    raise ValueError(
        f"unknown review {decision!r}: True, False, 'approve', 'reject' or a dict of arguments (e.g. {{'bbox_2d': [...]}})"
    )
