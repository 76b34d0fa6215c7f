"""The DeepEyes prompt protocol, verbatim (docs/deepeyes.md, "Prompt and turn protocol").

These strings are what the released DeepEyes-7B checkpoint was trained on; keep them byte-exact
for parity (including the ``"required":["bbox"]`` quirk and the trailing double spaces).
"""

from __future__ import annotations

TOOL_NAME = "image_zoom_in_tool"

ZOOM_DESCRIPTION = (
    "Zoom in on a specific region of an image by cropping it based on a bounding box (bbox) and an optional object "
    "label."
)

TOOL_SCHEMA_JSON = (
    '{"type":"function","function":{"name":"image_zoom_in_tool","description":"' + ZOOM_DESCRIPTION + '",'
    '"parameters":{"type":"object","properties":{"bbox_2d":{"type":"array","items":{"type":"number"},'
    '"minItems":4,"maxItems":4,"description":"The bounding box of the region to zoom in, as [x1, y1, x2, '
    'y2], where (x1, y1) is the top-left corner and (x2, y2) is the bottom-right corner."},"label":'
    '{"type":"string","description":"The name or label of the object in the specified bounding box '
    '(optional)."}},"required":["bbox"]}}}'
)

SYSTEM_PROMPT = (
    "You are a helpful assistant.\n"
    "\n"
    "# Tools\n"
    "You may call one or more functions to assist with the user query.\n"
    "You are provided with function signatures within <tools></tools> XML tags:\n"
    "<tools>\n"
    f"{TOOL_SCHEMA_JSON}\n"
    "</tools>\n"
    "\n"
    "# How to call a tool\n"
    "Return a json object with function name and arguments within <tool_call></tool_call> XML tags:\n"
    "<tool_call>\n"
    '{"name": <function-name>, "arguments": <args-json-object>}\n'
    "</tool_call>\n"
    "\n"
    "**Example**:  \n"
    "<tool_call>  \n"
    '{"name": "image_zoom_in_tool", "arguments": {"bbox_2d": [10, 20, 100, 200], "label": "the apple on the desk"}}  \n'
    "</tool_call>"
)

USER_SUFFIX = (
    "\nThink first, call **image_zoom_in_tool** if needed, then answer. Format strictly as:  "
    "<think>...</think>  <tool_call>...</tool_call> (if tools needed)  <answer>...</answer> "
)

# A short system prompt for small models (the embedded one): same tool, same call syntax, ~40 tokens
# instead of ~280. A model folder names its prompt in deepeyes_agent.json (see models.agent_defaults).
COMPACT_SYSTEM_PROMPT = (
    "You are a helpful assistant. To look closer at a region of the image, call the tool:\n"
    '<tool_call>\n{"name": "image_zoom_in_tool", "arguments": {"bbox_2d": [x1, y1, x2, y2], "label": "..."}}\n</tool_call>'
)

# Raw text of the turns appended after the model's <|im_end|> (docs/deepeyes.md). The image
# placeholder is a single <|image_pad|>; the prompt builder expands it to the processor's grid.
VISION_PLACEHOLDER = "<|vision_start|><|image_pad|><|vision_end|>"
OBSERVATION_TEMPLATE = (
    "\n<|im_start|>user\n<tool_response>"
    + VISION_PLACEHOLDER
    + USER_SUFFIX
    + "</tool_response><|im_end|>\n<|im_start|>assistant\n"
)
# A later user turn carrying an image (a multi-image chat, as the chat template renders it)
USER_TURN_TEMPLATE = "\n<|im_start|>user\n" + VISION_PLACEHOLDER + "{text}<|im_end|>\n<|im_start|>assistant\n"
USER_TEXT_TURN_TEMPLATE = (
    "\n<|im_start|>user\n{text}<|im_end|>\n<|im_start|>assistant\n"  # a later turn without an image
)
ERROR_OBSERVATION_TEMPLATE = "\n<|im_start|>user\n{message}<|im_end|>\n<|im_start|>assistant\n"

# DeepEyes' error texts for invalid tool calls (visual_toolbox_v2).
ERR_INVALID_FORMAT = "Error: Invalid tool call format: {raw}. Error: {exc}"
ERR_INVALID_BOX = "Error: ZOOM IN ARGUMENTS ARE INVALID"
ERR_UNKNOWN_TOOL = "Error: Unknown tool name: {name}"

OPTION_LETTERS = "ABCDEF"

# -- the toolbox: prompts for any set of tools, byte-identical to DeepEyes' with the zoom alone --------------------

ROTATE_TOOL_NAME = "image_rotate_tool"
ZOOM_EXAMPLE = (
    '{"name": "image_zoom_in_tool", "arguments": {"bbox_2d": [10, 20, 100, 200], "label": "the apple on the desk"}}'
)
ZOOM_EXAMPLE_V5 = (
    '{"name": "image_zoom_in_tool", "arguments": {"bbox_2d": [8, 40, 50, 150], "label": "the person under the tree"}}'
)
# visual_toolbox_v5 (several calls a turn): its turn prompt, which follows the calls' responses in one user turn
TURN_PROMPT_V5 = (
    "\nThink in the mind first, and then decide whether to call tools one or more times OR provide final answer. "
    "Format strictly as: <think>...</think> <tool_call>...</tool_call> <tool_call>...</tool_call> (if any tools "
    "needed) OR <answer>...</answer> (if no tools needed)."
)
_CALL_SYNTAX = (
    "# How to call a tool\n"
    "Return a json object with function name and arguments within <tool_call></tool_call> XML tags:\n"
    "<tool_call>\n"
    '{"name": <function-name>, "arguments": <args-json-object>}\n'
    "</tool_call>\n"
)


def system_prompt(schemas: list[str], examples: list[str], multi_call: bool = False) -> str:
    """DeepEyes' system prompt listing ``schemas`` (one function signature per line). One call a turn:
    SYSTEM_PROMPT_V2's layout with one example; several: SYSTEM_PROMPT_V5's, with two."""
    tools = "<tools>\n" + "\n".join(schemas) + "\n</tools>\n"
    if not multi_call:
        return (
            "You are a helpful assistant.\n\n# Tools\nYou may call one or more functions to assist with the user query.\n"
            "You are provided with function signatures within <tools></tools> XML tags:\n"
            + tools
            + "\n"
            + _CALL_SYNTAX
            + "\n**Example**:  \n<tool_call>  \n"
            + examples[0]
            + "  \n</tool_call>"
        )
    shown = "\n".join(f"<tool_call>  \n{example}  \n</tool_call>" for example in examples[:2])
    return (
        "You are a helpful assistant.\n\n# Tools\nYou are provided with function signatures within <tools></tools> "
        "XML tags:\n" + tools + "\n" + _CALL_SYNTAX + "\nYou may call **one or more** functions to assist with the "
        "user query.\n**Example**:  \n" + shown
    )


def user_suffix(tool_names: list[str]) -> str:
    """DeepEyes' instruction suffix naming the enabled tools (USER_SUFFIX with the zoom alone)."""
    named = [f"**{n}**" for n in tool_names]
    listed = named[0] if len(named) == 1 else ", ".join(named[:-1]) + " or " + named[-1]
    return USER_SUFFIX.replace("**image_zoom_in_tool**", listed)


def compact_system_prompt(hints: list[tuple[str, str]]) -> str:
    """The short prompt of small models: one "To <purpose>, call the tool:" line and call per tool
    (COMPACT_SYSTEM_PROMPT with the zoom alone)."""
    lines = [f"To {purpose}, call the tool:\n<tool_call>\n{call}\n</tool_call>" for purpose, call in hints]
    return "You are a helpful assistant. " + "\n".join(lines)


ZOOM_COMPACT_CALL = '{"name": "image_zoom_in_tool", "arguments": {"bbox_2d": [x1, y1, x2, y2], "label": "..."}}'


def user_text(question: str, options: list[str] | None = None, suffix: str = USER_SUFFIX) -> str:
    """The user text after the image: V* eval layout when options are given, else question + suffix."""
    if options:
        lines = "".join(f"{OPTION_LETTERS[i]}. {opt}\n" for i, opt in enumerate(options))
        return f"Question: {question}\nOptions: \n{lines}\n" + suffix
    return question + suffix


def tool_observation(has_image: bool, text: str | None, suffix: str) -> str:
    """One call's observation, one call a turn (v2): OBSERVATION_TEMPLATE for a crop; a tool's text goes where the
    image would."""
    body = (VISION_PLACEHOLDER if has_image else "") + (text or "")
    return "\n<|im_start|>user\n<tool_response>" + body + suffix + "</tool_response><|im_end|>\n<|im_start|>assistant\n"


V5_OPEN = "\n<|im_start|>user\n"
V5_CLOSE = TURN_PROMPT_V5 + "<|im_end|>\n<|im_start|>assistant\n"


def tool_response_v5(has_image: bool, text: str | None) -> str:
    """One call's part of a several-calls turn's observation (visual_toolbox_v5: ``<tool_response>\\n<image>\\n
    </tool_response>\\n``); a text (or an error) takes the image's line."""
    body = (VISION_PLACEHOLDER + "\n" if has_image else "") + (text + "\n" if text else "")
    return "<tool_response>\n" + body + "</tool_response>\n"
