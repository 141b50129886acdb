"""One long-lived asyncio event loop per process, on a daemon thread, for sync code that drives
async libraries: a Celery worker's broadcasts and its agent runs.

Outside an ASGI server, `async_to_sync` starts a new thread and a new event loop for every call,
and channels_redis keeps its Redis connections per loop, so every event a worker broadcast paid for
a thread, a loop and a fresh Redis connection. Here the loop and its connections live as long as
the process. A forked child (a prefork worker) starts its own loop on first use.
"""

import asyncio
import os
import threading
from collections.abc import Coroutine
from concurrent.futures import Future
from typing import Any, TypeVar

T = TypeVar("T")

_lock = threading.Lock()
_loop: asyncio.AbstractEventLoop | None = None
_thread: threading.Thread | None = None


def _forget_after_fork() -> None:
    # The child has the parent's loop object but not the thread that ran it.
    global _lock, _loop, _thread
    _lock, _loop, _thread = threading.Lock(), None, None


os.register_at_fork(after_in_child=_forget_after_fork)


def loop() -> asyncio.AbstractEventLoop:
    """The process's background loop, started on first use."""
    global _loop, _thread
    with _lock:
        if _loop is None:
            _loop = asyncio.new_event_loop()
            _thread = threading.Thread(target=_loop.run_forever, name="aspora-eventloop", daemon=True)
            _thread.start()
        return _loop


def submit(coro: Coroutine[Any, Any, T]) -> Future[T]:
    """Schedule `coro` on the background loop; cancelling the returned future cancels it."""
    running = loop()
    if threading.current_thread() is _thread:
        coro.close()
        raise RuntimeError("aspora.eventloop.submit() waits on its own loop: await the coroutine instead")
    return asyncio.run_coroutine_threadsafe(coro, running)


def run(coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
    """Run `coro` on the background loop and wait for its result."""
    return submit(coro).result(timeout)
