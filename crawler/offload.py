"""The crawler's CPU-bound steps (parsing feeds, extracting article pages) run off the event
loop: in worker processes when a crawl has many feeds, else in a thread.

Parsing holds the GIL, so threads only keep sockets serviced; a second core is of use only
to a second process. Worker processes are forked once per crawl, before the crawl starts any
thread, and only when the crawl has at least ``CollectOptions.parse_pool_threshold`` feeds: a
crawl of one source (the daemon's) pays nothing for them."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import gc
import multiprocessing
import os
import signal
from collections.abc import Callable
from concurrent.futures import Executor, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import TypeVar

from crawler.errors import CrawlError

__all__ = ["Offload", "default_workers"]

T = TypeVar("T")


def default_workers() -> int:
    """Worker processes for a crawl: one per core the process may use, at most four (the
    main process still stores what they parse)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return max(1, min(cores, 4))


class Offload:
    """Runs a picklable function with picklable arguments in a worker process (``workers``
    > 0) or a thread of this process (``workers`` = 0). Use it as a context manager: the
    processes are started on entry and stopped on exit."""

    def __init__(
        self,
        workers: int = 0,
        *,
        initializer: Callable[..., object] | None = None,
        initargs: tuple[object, ...] = (),
    ) -> None:
        self.workers = max(0, workers)
        #: Run once in each worker process (its arguments are inherited, not pickled, where
        #: processes are forked).
        self._init = (initializer, initargs)
        self._pool: Executor | None = None

    @property
    def in_processes(self) -> bool:
        """True while calls go to worker processes."""
        return self._pool is not None

    def __enter__(self) -> Offload:
        if self.workers and self._pool is None:
            self._pool = _start(self.workers, *self._init)
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)

    async def run(self, fn: Callable[..., T], *args: object) -> T:
        """``fn(*args)`` off the event loop. A worker process that died (killed for its
        memory, a crash in a C extension) fails its calls with :class:`CrawlError`; the
        processes are started afresh for the calls that follow."""
        pool = self._pool
        if pool is None:
            return await asyncio.to_thread(fn, *args)
        try:
            return await asyncio.get_running_loop().run_in_executor(pool, fn, *args)
        except BrokenProcessPool as e:
            if self._pool is pool:
                pool.shutdown(wait=False, cancel_futures=True)
                self._pool = _start(self.workers, *self._init)
            raise CrawlError(
                "the parser process stopped abruptly (out of memory?); the source is polled "
                "again next time"
            ) from e


def _start(
    workers: int, initializer: Callable[..., object] | None, initargs: tuple[object, ...]
) -> ProcessPoolExecutor:
    # fork: the workers inherit the modules already imported (no start-up import cost, and
    # no re-run of __main__ as spawn would do). Started before any thread of the crawl.
    methods = multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("fork" if "fork" in methods else None)
    pool = ProcessPoolExecutor(
        workers,
        mp_context=context,
        initializer=_worker_init,
        initargs=(os.getpid(), initializer, initargs),
    )
    # With fork, every worker is started by the first submission: do it now.
    pool.submit(int).result()
    return pool


def _end_with(parent: int) -> None:
    """Have this process end when ``parent`` does, however it ends (a SIGKILL included):
    a worker waits for work on a pipe its siblings also hold open, so it would otherwise
    wait forever. Linux only; elsewhere a killed crawl leaves idle workers behind."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:  # it ended before the request was made
        os._exit(1)


#: How much lower the workers' scheduling priority is than the crawl process's.
WORKER_NICENESS = 10

#: prctl(2) option: the signal sent to this process when its parent ends.
_PR_SET_PDEATHSIG = 1


def _worker_init(
    parent: int, initializer: Callable[..., object] | None, initargs: tuple[object, ...]
) -> None:
    # Ctrl-C goes to the whole process group: the main process stops the crawl and its
    # workers; a traceback from each worker would only be noise.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _end_with(parent)
    # The process that forked the workers stores what they parse, one batch after another:
    # it is a crawl's bottleneck, and with as many workers as cores it would get only part of
    # one. Niced, the workers take what CPU it leaves.
    with contextlib.suppress(OSError, AttributeError):  # AttributeError: not on Unix
        os.nice(WORKER_NICENESS)
    # What the worker inherited lives as long as it does: the collector need not scan it
    # (nor, by writing to it, copy the parent's pages).
    gc.freeze()
    if initializer is not None:
        initializer(*initargs)
