"""Parsing a model turn: DeepEyes' precedence rules, format validity, and no input ever crashes it."""

from hypothesis import given, settings
from hypothesis import strategies as st

from deepeyes_agent.parser import MAX_ANSWER_CHARS, parse_turn


def test_think_then_tool_call():
    t = parse_turn(
        '<think>small sign</think>\n<tool_call>\n{"name": "image_zoom_in_tool", "arguments": {"bbox_2d": [1, 2, 3, 4]}}\n</tool_call><|im_end|>'
    )
    assert t.think == "small sign" and t.answer is None
    assert t.tool_call.name == "image_zoom_in_tool" and t.tool_call.arguments == {"bbox_2d": [1, 2, 3, 4]}
    assert t.format_ok


def test_answer_wins_over_tool_call():
    t = parse_turn('<tool_call>{"name": "image_zoom_in_tool", "arguments": {}}</tool_call><answer>B</answer>')
    assert t.answer == "B" and t.tool_call is None


def test_last_tool_call_wins():
    t = parse_turn(
        '<tool_call>{"name": "a", "arguments": {}}</tool_call> <tool_call>{"name": "b", "arguments": {}}</tool_call>'
    )
    assert t.tool_call.name == "b"


def test_bad_json_gives_the_deepeyes_error_text():
    t = parse_turn("<tool_call>{'name': 'image_zoom_in_tool'}</tool_call>")
    assert t.tool_call.error.startswith("Error: Invalid tool call format: {'name': 'image_zoom_in_tool'}. Error: ")


def test_missing_arguments_key():
    assert parse_turn('<tool_call>{"name": "image_zoom_in_tool"}</tool_call>').tool_call.error == "Error: 'arguments'"


def test_unbalanced_tags_are_format_errors():
    t = parse_turn("<think>no end <answer>A</answer>")
    assert not t.format_ok and any("<think>" in e for e in t.format_errors)
    assert t.answer == "A"


def test_over_long_answer_is_a_format_error():
    t = parse_turn("<answer>" + "x" * MAX_ANSWER_CHARS + "</answer>")
    assert not t.format_ok


def test_plain_text_has_neither():
    t = parse_turn("I think it is red.")
    assert t.answer is None and t.tool_call is None and t.format_ok


TAGS = [
    "<think>",
    "</think>",
    "<answer>",
    "</answer>",
    "<tool_call>",
    "</tool_call>",
    "<|im_end|>",
    "{",
    "}",
    '"name"',
    ":",
    "[",
    "]",
]


@settings(max_examples=500, deadline=None)
@given(st.lists(st.one_of(st.sampled_from(TAGS), st.text(max_size=20)), max_size=30))
def test_no_input_crashes_the_parser(parts):
    t = parse_turn("".join(parts))
    assert t.answer is None or isinstance(t.answer, str)
    if t.tool_call is not None:
        assert (t.tool_call.error is None) == (t.tool_call.name is not None)


@settings(max_examples=200, deadline=None)
@given(st.text())
def test_arbitrary_unicode(text):
    parse_turn(text)
