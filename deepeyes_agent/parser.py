"""Parse one model turn: ``<think>``, ``<tool_call>{json}</tool_call>``, ``<answer>``.

Rules, as DeepEyes' tool executor (``visual_toolbox_v2``) applies them (docs/deepeyes.md):
- a non-empty ``<answer>…</answer>`` ends the episode, even next to a tool call; an EMPTY one does not
  (DeepEyes tests ``if answer:``), so a tool call beside it still runs. The answer judged is the text after
  the last ``<answer>`` inside it (``<answer><answer>B</answer>`` → ``B``), as DeepEyes' reward extracts it;
- only the LAST ``<tool_call>`` of a turn is executed (``tool_call``; with several calls a turn, the toolbox picks
  from ``tool_calls``, as visual_toolbox_v5 takes the first ones); an exactly empty last one ends the episode;
- the call must be strict JSON with ``name`` and ``arguments``; anything else gets DeepEyes' error text.
Format validity (balanced tags) is reported per turn for the reward. Never raises.
"""

from __future__ import annotations

import json
import re
from typing import Any

from pydantic import BaseModel, Field

from .protocol import ERR_INVALID_FORMAT

END_MARKERS = ("<|im_end|>", "<|endoftext|>")
MAX_ANSWER_CHARS = 1000  # DeepEyes: an answer this long is a format error and scores 0

_TOOL_RE = re.compile(r"<tool_call>(.*?)</tool_call>", re.DOTALL)
_ANSWER_RE = re.compile(r"<answer>(.*?)</answer>", re.DOTALL)
_THINK_RE = re.compile(r"<think>(.*?)</think>", re.DOTALL)
_PAIRS = (("<think>", "</think>"), ("<answer>", "</answer>"), ("<tool_call>", "</tool_call>"))


class ToolCall(BaseModel):
    raw: str
    name: str | None = None
    arguments: Any = None
    error: str | None = Field(None, description="DeepEyes error observation when the call cannot be parsed")


class ParsedTurn(BaseModel):
    text: str
    think: str | None = None
    answer: str | None = None
    tool_call: ToolCall | None = Field(None, description="the turn's last call (the one DeepEyes' v2 executor runs)")
    tool_calls: list[ToolCall] = Field(default_factory=list, description="every call of the turn, in order")
    empty_tool_call: bool = Field(
        False, description="the last <tool_call></tool_call> is exactly empty: the episode ends"
    )
    format_errors: list[str] = Field(default_factory=list)

    @property
    def format_ok(self) -> bool:
        return not self.format_errors


def strip_end(text: str) -> str:
    for marker in END_MARKERS:
        if text.endswith(marker):
            return text[: -len(marker)]
    return text


def parse_tool_json(raw: str) -> ToolCall:
    body = raw.strip()
    try:
        obj = json.loads(body)
    except (json.JSONDecodeError, RecursionError, ValueError) as exc:
        return ToolCall(raw=raw, error=ERR_INVALID_FORMAT.format(raw=body, exc=_short(exc)))
    try:  # DeepEyes reads the two keys as below: a missing key or a non-object shows Python's own text
        name, arguments = obj["name"], obj["arguments"]
    except (KeyError, TypeError, IndexError) as exc:
        return ToolCall(raw=raw, error=f"Error: {exc}")
    return ToolCall(raw=raw, name=name if isinstance(name, str) else str(name), arguments=arguments)


def parse_turn(text: str) -> ParsedTurn:
    body = strip_end(text)
    errors: list[str] = []
    for open_tag, close_tag in _PAIRS:
        if body.count(open_tag) != body.count(close_tag):
            errors.append(f"unbalanced {open_tag}{close_tag}: {body.count(open_tag)} vs {body.count(close_tag)}")
    thinks = _THINK_RE.findall(body)
    answers = _ANSWER_RE.findall(body)
    calls = _TOOL_RE.findall(body)
    answer = answers[-1].split("<answer>")[-1].strip() if answers and answers[-1] else None
    if answer is not None and len(answer) >= MAX_ANSWER_CHARS:
        errors.append(f"answer of {len(answer)} characters (limit {MAX_ANSWER_CHARS})")
    empty_call = answer is None and bool(calls) and calls[-1] == ""
    tool_calls = [] if answer is not None or not calls or empty_call else [parse_tool_json(c) for c in calls]
    return ParsedTurn(
        text=text,
        think=thinks[-1].strip() if thinks else None,
        answer=answer,
        tool_call=tool_calls[-1] if tool_calls else None,
        tool_calls=tool_calls,
        empty_tool_call=empty_call,
        format_errors=errors,
    )


def _short(exc: BaseException) -> str:
    msg = str(exc)
    return msg if len(msg) <= 200 else msg[:200] + "..."
