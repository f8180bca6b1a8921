"""A bounded number of inferences at once, a bounded queue in front of them, and timeouts.

``await gate.run(fn, *args)`` runs ``fn`` on one of ``max_concurrent`` worker threads. A call that finds every
worker busy waits in a first-come, first-served queue of at most ``max_queue`` calls; a call that finds the queue
full, or that waits longer than ``queue_timeout_s``, is refused at once with a 503 (``Retry-After``), so work never
piles up behind a slow model. A call whose work takes longer than ``run_timeout_s`` is answered 504; its worker
still finishes the work (a thread cannot be stopped) and only then takes the next call, so the number of
inferences in progress never exceeds ``max_concurrent``, timeouts included.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from .config import RequestError

T = TypeVar("T")


class InferenceGate:
    """Bounded concurrency with a bounded FIFO queue (see the module docstring). Use from one event loop."""

    def __init__(
        self,
        max_concurrent: int,
        max_queue: int,
        queue_timeout_s: float,
        run_timeout_s: float,
        retry_after_s: int = 1,
    ) -> None:
        self.max_concurrent = int(max_concurrent)
        self.max_queue = int(max_queue)
        self.queue_timeout_s = float(queue_timeout_s)
        self.run_timeout_s = float(run_timeout_s)
        self.retry_after_s = int(retry_after_s)
        self.executor = ThreadPoolExecutor(self.max_concurrent, thread_name_prefix="handpose-infer")
        #: calls holding a worker (running, or handed a worker and about to run)
        self.running = 0
        self._waiters: deque[asyncio.Future[None]] = deque()
        #: counters since start: calls run, refused (503) and timed out (504)
        self.completed = 0
        self.refused = 0
        self.timed_out = 0

    @property
    def queued(self) -> int:
        return sum(1 for w in self._waiters if not w.done())

    def _busy(self, why: str) -> RequestError:
        self.refused += 1
        return RequestError(f"the server is busy ({why}); try again shortly", status=503, code="busy",
                            retry_after=self.retry_after_s)  # fmt: skip

    async def _acquire(self) -> None:
        if self.running < self.max_concurrent and not self.queued:
            self.running += 1
            return
        if self.queued >= self.max_queue:
            raise self._busy(f"{self.running} inferences running and {self.queued} waiting")
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            async with asyncio.timeout(self.queue_timeout_s):
                await waiter
        except TimeoutError:
            if waiter.done() and not waiter.cancelled():  # handed a worker just as the wait ran out: give it back
                self._release()
            raise self._busy(f"no worker free within {self.queue_timeout_s:g} s") from None
        except BaseException:  # the caller went away while waiting
            if waiter.done() and not waiter.cancelled():
                self._release()
            raise
        finally:
            try:
                self._waiters.remove(waiter)
            except ValueError:
                pass

    def _release(self) -> None:
        """Hand the worker to the oldest waiter still waiting, or free it."""
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)  # ``running`` stays: the worker changes hands
                return
        self.running -= 1

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)`` on a worker thread; 503 when busy, 504 past the run timeout, ``fn``'s own errors as is."""
        await self._acquire()
        loop = asyncio.get_running_loop()
        try:
            future = loop.run_in_executor(self.executor, fn, *args)
        except BaseException:
            self._release()
            raise
        future.add_done_callback(self._done)  # called on the loop when the work really ends
        try:
            async with asyncio.timeout(self.run_timeout_s):
                result = await asyncio.shield(future)
        except TimeoutError:
            self.timed_out += 1
            raise RequestError(f"the inference took longer than {self.run_timeout_s:g} s", status=504,
                               code="timeout") from None  # fmt: skip
        self.completed += 1
        return result

    def _done(self, future: asyncio.Future[Any]) -> None:
        if not future.cancelled():
            future.exception()  # retrieved here, so the error of abandoned (timed-out) work is not logged later
        self._release()

    def close(self) -> None:
        self.executor.shutdown(wait=False, cancel_futures=True)
