"""Gather concurrent ``agenerate`` calls into batches for a backend whose ``generate`` takes a list.

Requests that arrive while a batch runs wait for the next one: many graph episodes on one event loop
(``graph.abatch`` or ``asyncio.gather``) share each forward pass. Before each batch the batcher gathers
until no request came for ``wait_s`` (or the batch is full, or ``max_wait_s`` passed): episodes reach their
next turn one after another (prompt ids, a crop), a few milliseconds apart, and a fixed window would start
the batch with only the first few of them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence

from .base import Completion, GenerationRequest


class RequestBatcher:
    def __init__(
        self,
        generate: Callable[[Sequence[GenerationRequest]], list[Completion]],
        max_batch_size: int = 16,
        wait_s: float = 0.005,
        max_wait_s: float = 0.1,
    ):
        self._generate = generate
        self.max_batch_size = max_batch_size
        self.wait_s = wait_s
        self.max_wait_s = max_wait_s
        self._pending: list[tuple[GenerationRequest, asyncio.Future]] = []
        self._worker: asyncio.Task | None = None

    async def submit(self, request: GenerationRequest) -> Completion:
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self._pending.append((request, future))
        if self._worker is None or self._worker.done() or self._worker.get_loop() is not loop:
            self._worker = loop.create_task(self._drain())
        return await future

    async def _gather(self) -> None:
        """Wait while requests keep arriving: until ``wait_s`` passes without one, the batch is full, or
        ``max_wait_s`` is spent."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.max_wait_s
        seen = -1
        while seen != len(self._pending) and len(self._pending) < self.max_batch_size and loop.time() < deadline:
            seen = len(self._pending)
            await asyncio.sleep(self.wait_s)

    async def _drain(self) -> None:
        while True:
            await self._gather()
            if not self._pending:
                return
            batch = self._pending[: self.max_batch_size]
            del self._pending[: self.max_batch_size]
            live = [(r, f) for r, f in batch if not f.cancelled()]
            if not live:
                continue
            try:
                results = await asyncio.to_thread(self._generate, [r for r, _ in live])
            except Exception as exc:  # every waiter learns the cause
                for _, f in live:
                    if not f.done():
                        f.set_exception(exc)
                continue
            for (_, f), res in zip(live, results):
                if not f.done():
                    f.set_result(res)
