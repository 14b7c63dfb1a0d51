"""Both cores for the CPU-bound stages: a chunk function mapped over a process pool, in order.

The parse and clean stages split their work into chunks of whole feeds and hand each chunk to
:func:`map_chunks`, which yields the results **in chunk order**, whether they were computed
in-process (``workers <= 1``, or a single chunk) or by a pool of worker processes. The callers merge
them in that order, so a run gives the same files byte for byte with one worker or many.

Rules for a chunk function (``fn(context, chunk)``): a module-level function (it is pickled by
name), CPU only (no storage access: the data dir may be an object store whose credentials live in
the parent process), everything it needs in ``context`` (sent once to each worker process) or in the
chunk. Its own per-item guards decide what one bad item costs; a worker process that dies (a
segfault, the OOM killer) fails the stage with :class:`WorkerCrashed`, never silently.

Processes start with ``forkserver`` (``spawn`` where it does not exist): ``feedmon run`` has a
warm-up thread alive while the pool starts, and a plain ``fork`` copies a process's locks in
whatever state its other threads left them.
"""

from __future__ import annotations

import logging
import multiprocessing
import multiprocessing.forkserver
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from functools import partial
from typing import Any, TypeVar

log = logging.getLogger(__name__)

__all__ = ["WorkerCrashed", "balanced_chunks", "map_chunks"]

C = TypeVar("C")
T = TypeVar("T")
R = TypeVar("R")

#: Chunks per worker: enough for the workers to finish together, few enough to keep per-chunk costs small.
CHUNKS_PER_WORKER = 4

_context: Any = None  # a worker process's context, set once by _init


class WorkerCrashed(RuntimeError):
    """A worker process died (killed, out of memory, crashed in C code): the stage fails with this."""


def _init(context: Any) -> None:
    global _context  # one context per worker process, set by the pool's initializer
    _context = context


def _call(fn: Callable[[Any, T], R], chunk: T) -> R:
    return fn(_context, chunk)


def _start_method() -> str:
    return "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"


def balanced_chunks(items: Sequence[T], weights: Sequence[int], n: int) -> list[list[T]]:
    """``items`` cut into at most ``n`` runs of consecutive items of about equal total weight.

    Order is kept (concatenating the chunks gives ``items``), so results merged in chunk order come
    out in item order. An item is never split: a feed's entries stay in one chunk.
    """
    if not items:
        return []
    n = max(1, min(n, len(items)))
    total = sum(weights) or 1
    chunks: list[list[T]] = [[]]
    done = 0
    for item, weight in zip(items, weights, strict=True):
        # the next chunk starts with the item whose middle lies past this chunk's share of the weight
        if chunks[-1] and len(chunks) < n and done + weight / 2 >= total * len(chunks) / n:
            chunks.append([])
        chunks[-1].append(item)
        done += weight
    return chunks


def map_chunks(
    fn: Callable[[C, T], R],
    context: C,
    chunks: Iterable[T],
    *,
    workers: int,
    parallel: bool = True,
    background: bool = False,
) -> Iterator[R]:
    """``fn(context, chunk)`` for every chunk, yielded in chunk order.

    ``parallel`` False or ``workers <= 1`` runs in-process, unless ``background`` asks for worker
    processes even for one worker (work beside the calling process's own). Otherwise up to ``workers`` processes
    (``forkserver``) take the chunks; at most two chunks per worker are in flight, so a lazy
    ``chunks`` iterable is read only as fast as the workers go. A worker that dies raises
    :class:`WorkerCrashed`; an exception ``fn`` raises in a worker is raised here as it is.
    """
    if parallel and workers > 1 and multiprocessing.current_process().daemon:
        log.warning("a daemonic process cannot start workers; %s runs in-process", getattr(fn, "__name__", "chunk"))
        parallel = False
    if not parallel or workers < 1 or (workers == 1 and not background):
        for chunk in chunks:
            yield fn(context, chunk)
        return
    mp_context = multiprocessing.get_context(_start_method())
    if isinstance(mp_context, multiprocessing.context.ForkServerContext):
        # The fork server imports the chunk function's module once and every worker forks from it
        # ready (about 0.4 s saved per worker and pool); no effect once the server runs.
        mp_context.set_forkserver_preload([fn.__module__])
    executor = ProcessPoolExecutor(max_workers=workers, mp_context=mp_context, initializer=_init, initargs=(context,))
    with executor as pool:
        call = partial(_call, fn)
        pending: deque[Future[R]] = deque()
        try:
            for chunk in chunks:
                pending.append(pool.submit(call, chunk))
                if len(pending) >= 2 * workers:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        except BrokenProcessPool as exc:
            raise WorkerCrashed(
                f"a worker process of the {getattr(fn, '__name__', 'chunk')} pool died ({exc}); "
                "the stage failed and nothing of it was kept"
            ) from exc
        finally:
            for future in pending:
                future.cancel()


def stop_fork_server() -> None:
    """Stop the fork server worker processes start from, once a run's last pool is done: it holds
    the modules the workers need (about 100 MB). A later pool starts a new one. Uses the standard
    library's own stop (``multiprocessing.forkserver``'s, private: nothing happens without it)."""
    server = getattr(multiprocessing.forkserver, "_forkserver", None)
    stop = getattr(server, "_stop", None)
    if callable(stop):
        stop()
