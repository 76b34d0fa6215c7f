"""Gather concurrent ``agenerate`` calls into batches for a backend whose ``generate`` takes a list.

Requests that arrive while a batch runs wait for the next one: many graph episodes on one event loop
(``graph.abatch`` or ``asyncio.gather``) share each forward pass.
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
    ):
        self._generate = generate
        self.max_batch_size = max_batch_size
        self.wait_s = wait_s
        self._pending: list[tuple[GenerationRequest, asyncio.Future]] = []
        self._worker: asyncio.Task | None = None

    async def submit(self, request: GenerationRequest) -> Completion:
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self._pending.append((request, future))
        if self._worker is None or self._worker.done() or self._worker.get_loop() is not loop:
            self._worker = loop.create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        await asyncio.sleep(self.wait_s)  # let requests issued in the same tick join
        while self._pending:
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
