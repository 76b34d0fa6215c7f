"""Any LangChain chat model that takes images as the agent's policy (inference only).

The same DeepEyes protocol as the token backends: the system prompt (listing the toolbox's tools), the user turn
(image + question + suffix), the model's text turns parsed by the same parser, and each call's result sent back as
a user turn ``<tool_response>`` + image content block (or the tool's text) + suffix. The toolbox's tools are also
bound with LangChain's ``bind_tools`` when the model supports it: its native tool calls are written into the
``<tool_call>`` syntax, so one parser reads both. Chat models return text, not token ids or logprobs, so their
trajectories carry no ids: RL needs a token-level backend.
"""

from __future__ import annotations

import json

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage

from deepeyes_agent.backends.base import Completion
from deepeyes_agent.images import ImageStore
from deepeyes_agent.protocol import user_text
from deepeyes_agent.tools import Toolbox
from deepeyes_agent.tools.content import image_block
from deepeyes_agent.trajectory import ActionSegment, Trajectory


class ChatPolicy:
    def __init__(self, model: BaseChatModel, toolbox: Toolbox, store: ImageStore, native_tools: bool = True):
        if not isinstance(model, BaseChatModel):
            raise TypeError(f"model must be a LangChain BaseChatModel, got {type(model).__name__}")
        if native_tools:  # the same tools, natively (a model that cannot bind them reads the prompt's <tools> alone)
            try:
                model = model.bind_tools([t.openai_schema() for t in toolbox.tools.values()])
            except NotImplementedError:
                pass
        self.model = model
        self.toolbox = toolbox
        self.system_prompt = toolbox.system_prompt
        self.suffix = toolbox.user_suffix
        self.store = store

    def messages(self, traj: Trajectory) -> list[BaseMessage]:
        """The conversation so far, rebuilt from the trajectory (images by reference in the store)."""
        out: list[BaseMessage] = [
            SystemMessage(self.system_prompt),
            HumanMessage(
                [
                    image_block(self.store.get(traj.images[0])),
                    {"type": "text", "text": user_text(traj.question, traj.options, self.suffix)},
                ]
            ),
        ]
        for seg in traj.segments:
            if isinstance(seg, ActionSegment):
                out.append(AIMessage(seg.text))
            elif seg.error is not None:
                out.append(HumanMessage(seg.error))
            else:
                shown = [image_block(self.store.get(seg.image))] if seg.image is not None else []
                text = (seg.text or "") + self.suffix + "</tool_response>"
                out.append(
                    HumanMessage([{"type": "text", "text": "<tool_response>"}, *shown, {"type": "text", "text": text}])
                )
        return out

    @staticmethod
    def completion(message: AIMessage) -> Completion:
        """The turn's text; a native tool call (a model bound with tools) is written into it in DeepEyes'
        ``<tool_call>`` syntax so one parser reads both."""
        text = message.text if isinstance(message.text, str) else str(message.content)
        if message.tool_calls and "<tool_call>" not in text:
            for call in message.tool_calls:
                text += (
                    "\n<tool_call>\n" + json.dumps({"name": call["name"], "arguments": call["args"]}) + "\n</tool_call>"
                )
        meta = message.response_metadata or {}
        finish = (
            "length" if meta.get("finish_reason") == "length" or meta.get("stop_reason") == "max_tokens" else "stop"
        )
        return Completion(token_ids=[], text=text, logprobs=[], finish_reason=finish)

    def invoke(self, traj: Trajectory) -> Completion:
        return self.completion(self.model.invoke(self.messages(traj)))

    async def ainvoke(self, traj: Trajectory) -> Completion:
        return self.completion(await self.model.ainvoke(self.messages(traj)))
