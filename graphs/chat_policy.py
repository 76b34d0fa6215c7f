"""Any LangChain chat model that takes images as the agent's policy (inference only).

The same DeepEyes protocol as the token backends: the system prompt, the user turn (image + question +
suffix), the model's text turns parsed by the same parser, and each crop sent back as a user turn
``<tool_response>`` + image content block + suffix. Chat models return text, not token ids or logprobs,
so their trajectories carry no ids: RL needs a token-level backend.
"""

from __future__ import annotations

import json

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage

from deepeyes_agent.backends.base import Completion
from deepeyes_agent.images import ImageStore
from deepeyes_agent.protocol import USER_SUFFIX, user_text
from deepeyes_agent.tool import image_block
from deepeyes_agent.trajectory import ActionSegment, Trajectory


class ChatPolicy:
    def __init__(self, model: BaseChatModel, system_prompt: str, store: ImageStore):
        if not isinstance(model, BaseChatModel):
            raise TypeError(f"model must be a LangChain BaseChatModel, got {type(model).__name__}")
        self.model = model
        self.system_prompt = system_prompt
        self.store = store

    def messages(self, traj: Trajectory) -> list[BaseMessage]:
        """The conversation so far, rebuilt from the trajectory (images by reference in the store)."""
        out: list[BaseMessage] = [
            SystemMessage(self.system_prompt),
            HumanMessage(
                [
                    image_block(self.store.get(traj.images[0])),
                    {"type": "text", "text": user_text(traj.question, traj.options)},
                ]
            ),
        ]
        for seg in traj.segments:
            if isinstance(seg, ActionSegment):
                out.append(AIMessage(seg.text))
            elif seg.image is not None:
                out.append(
                    HumanMessage(
                        [
                            {"type": "text", "text": "<tool_response>"},
                            image_block(self.store.get(seg.image)),
                            {"type": "text", "text": USER_SUFFIX + "</tool_response>"},
                        ]
                    )
                )
            else:
                out.append(HumanMessage(seg.error or ""))
        return out

    @staticmethod
    def completion(message: AIMessage) -> Completion:
        """The turn's text; a native tool call (a model bound with tools) is written into it in DeepEyes'
        ``<tool_call>`` syntax so one parser reads both."""
        text = message.text if isinstance(message.text, str) else str(message.content)
        if message.tool_calls and "<tool_call>" not in text:
            call = message.tool_calls[0]
            text += "\n<tool_call>\n" + json.dumps({"name": call["name"], "arguments": call["args"]}) + "\n</tool_call>"
        meta = message.response_metadata or {}
        finish = (
            "length" if meta.get("finish_reason") == "length" or meta.get("stop_reason") == "max_tokens" else "stop"
        )
        return Completion(token_ids=[], text=text, logprobs=[], finish_reason=finish)

    def invoke(self, traj: Trajectory) -> Completion:
        return self.completion(self.model.invoke(self.messages(traj)))

    async def ainvoke(self, traj: Trajectory) -> Completion:
        return self.completion(await self.model.ainvoke(self.messages(traj)))
