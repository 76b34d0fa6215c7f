"""A graph node with a synchronous and an asynchronous body.

The policy node waits on the model: under ``graph.ainvoke`` / ``abatch`` it must await the backend (episodes in
flight share one batching engine), under ``graph.invoke`` it calls the backend directly. LangChain's
``RunnableLambda(func, afunc=...)`` does both, but on every call it inspects both functions' signatures and opens a
callback run of its own inside the one LangGraph already opens for the node — ~0.8 ms a turn, more than the rest of
the node's work (benchmarks/graph_overhead.py). This runnable only dispatches: LangGraph still traces, streams and
retries the node, and ``get_config()`` / ``get_stream_writer()`` work inside it (LangGraph runs a node's first step in
the node's config context).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from langchain_core.runnables import Runnable, RunnableConfig


class DualNode(Runnable[Any, Any]):
    """``DualNode(func, afunc, name="policy")``: ``func(state)`` under ``invoke``, ``await afunc(state)`` under
    ``ainvoke``."""

    def __init__(self, func: Callable[[Any], Any], afunc: Callable[[Any], Awaitable[Any]] | None = None, *, name: str):
        self.func = func
        self.afunc = afunc
        self.name = name

    def invoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Any:
        return self.func(input)

    async def ainvoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Any:
        if self.afunc is None:  # a short CPU-bound body: run it on the loop, not in a worker thread
            return self.func(input)
        return await self.afunc(input)
