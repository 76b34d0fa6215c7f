"""Human review of a zoom (``approve_zooms=True``): the decision a reviewer resumes the run with."""

from __future__ import annotations

REJECTED_BY_REVIEWER = (
    "Error: the zoom was rejected by the reviewer. Answer from what you have seen, or zoom elsewhere."
)


def review_call(call: dict, decision) -> tuple[dict, str]:
    """A reviewer's decision on a zoom: ``True`` / ``"approve"`` / ``None`` keeps it, ``False`` / ``"reject"``
    rejects it, ``{"bbox_2d": [...]}`` replaces the box (in the model's frame)."""
    if decision in (None, True, "approve") or (
        isinstance(decision, dict) and decision.get("approve") is True and "bbox_2d" not in decision
    ):
        return call, "approved"
    if decision in (False, "reject") or (isinstance(decision, dict) and decision.get("approve") is False):
        return call, "rejected"
    if isinstance(decision, dict) and "bbox_2d" in decision:
        arguments = {**(call.get("arguments") or {}), "bbox_2d": decision["bbox_2d"]}
        return {**call, "arguments": arguments}, "edited"
    raise ValueError(f"unknown zoom review {decision!r}: True, False, 'approve', 'reject' or {{'bbox_2d': [...]}}")
