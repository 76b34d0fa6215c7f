"""Parse one model turn: ``<think>``, ``<tool_call>{json}</tool_call>``, ``<answer>``.

Rules (DEEPEYES_SPEC §1.4): an ``<answer>`` ends the episode even next to a tool call; only the LAST
``<tool_call>`` of a turn is executed; the call must be strict JSON ``{"name": ..., "arguments": {...}}``.
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
    tool_call: ToolCall | None = None
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
    if not isinstance(obj, dict):
        return ToolCall(raw=raw, error=ERR_INVALID_FORMAT.format(raw=body, exc="expected a JSON object"))
    if "name" not in obj or "arguments" not in obj:
        missing = "name" if "name" not in obj else "arguments"
        return ToolCall(raw=raw, error=f"Error: '{missing}'")
    name = obj["name"] if isinstance(obj["name"], str) else repr(obj["name"])
    return ToolCall(raw=raw, name=name, arguments=obj["arguments"])


def parse_turn(text: str) -> ParsedTurn:
    body = strip_end(text)
    errors: list[str] = []
    for open_tag, close_tag in _PAIRS:
        if body.count(open_tag) != body.count(close_tag):
            errors.append(f"unbalanced {open_tag}{close_tag}: {body.count(open_tag)} vs {body.count(close_tag)}")
    thinks = _THINK_RE.findall(body)
    answers = _ANSWER_RE.findall(body)
    calls = _TOOL_RE.findall(body)
    answer = answers[-1].strip() if answers else None
    if answer is not None and len(answer) >= MAX_ANSWER_CHARS:
        errors.append(f"answer of {len(answer)} characters (limit {MAX_ANSWER_CHARS})")
    tool_call = None if answer is not None or not calls else parse_tool_json(calls[-1])
    return ParsedTurn(
        text=text,
        think=thinks[-1].strip() if thinks else None,
        answer=answer,
        tool_call=tool_call,
        format_errors=errors,
    )


def _short(exc: BaseException) -> str:
    msg = str(exc)
    return msg if len(msg) <= 200 else msg[:200] + "..."
