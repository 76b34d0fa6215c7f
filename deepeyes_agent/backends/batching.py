"""Gather concurrent ``agenerate`` calls into batches for a backend whose ``generate`` takes a list.

Requests that arrive while a batch runs wait for the next one: many graph episodes on one event loop
(``graph.abatch`` or ``asyncio.gather``) share each forward pass. Before each batch the batcher gathers
until no request came for ``wait_s`` (or the batch is full, or ``max_wait_s`` passed): episodes reach their
next turn one after another (prompt ids, a crop), a few milliseconds apart, and a fixed window would start
the batch with only the first few of them. A caller that starts many episodes at once (an RL step) says how
many with :meth:`expect`: the next batch then waits for that many first requests (up to ``expect_wait_s``),
since their prompts are built while the first batch would already be hogging the cores.
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
        expect_wait_s: float = 2.0,
    ):
        self._generate = generate
        self.max_batch_size = max_batch_size
        self.wait_s = wait_s
        self.max_wait_s = max_wait_s
        self.expect_wait_s = expect_wait_s
        self._expected = 0
        self._pending: list[tuple[GenerationRequest, asyncio.Future]] = []
        self._worker: asyncio.Task | None = None

    async def submit(self, request: GenerationRequest) -> Completion:
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self._pending.append((request, future))
        if self._worker is None or self._worker.done() or self._worker.get_loop() is not loop:
            self._worker = loop.create_task(self._drain())
        return await future

    def expect(self, n: int) -> None:
        """``n`` requests are about to arrive together (episodes starting): the next batch waits for
        ``min(n, max_batch_size)`` of them, at most ``expect_wait_s``."""
        self._expected = n

    async def _gather(self) -> None:
        """Wait while requests keep arriving: until ``wait_s`` passes without one, the batch is full, or
        ``max_wait_s`` is spent — or, after :meth:`expect`, until the expected requests are all here."""
        loop = asyncio.get_running_loop()
        want, self._expected = min(self._expected, self.max_batch_size), 0
        if want:
            deadline = loop.time() + self.expect_wait_s
            while len(self._pending) < want and loop.time() < deadline:
                await asyncio.sleep(self.wait_s)
            return
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
