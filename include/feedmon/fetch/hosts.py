"""Per-host politeness that holds between processes: slot locks and the last request start per host.

Why: the DAG's mapped fetch tasks and a ``feedmon run`` started beside them are separate processes.
The scheduler in each one counts only its own requests, so two of them would each send ``per_host``
requests to one host and each keep ``min_host_delay`` only between its own starts. On a local data
dir the limits are therefore also kept in files every process on the machine sees:

* ``<state_dir>/fetch/hosts/<host>.<n>.slot`` (``n`` < ``per_host``): an exclusive ``flock`` on one of
  them is the right to have one request in flight to that host. It is held from the start of an
  attempt to its end, and the kernel drops it when the process dies, so a killed task never blocks
  a host.
* ``<state_dir>/fetch/hosts/<host>.lock``: its ``flock`` guards "check the delay, take a slot, record the
  start" as one step; its content is the host's last request start (seconds since the epoch) and
  the process waiting for the host, if any.

A process that finds every slot taken, or the delay not yet over, asks again a little later; its
waiting feeds hold no worker and no connection (the scheduler's rule). It also leaves its name as
the host's waiter, and the others let it have the next slot: without that, the process that just
finished a request would take its slot back at once, every time, and the one polling would wait
until the other had fetched all its feeds of that host. Object-store data dirs
(``s3://``) have no locks: there the limits hold per process (the DAG's batches are host-disjoint,
so they still hold within one run), which ``docs/fetching.md`` says.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

from feedmon import storage
from feedmon.fetch.state import SUBDIR as STATE_SUBDIR
from feedmon.fetch.state import feed_key

__all__ = ["HostGate", "HostPermit"]

SUBDIR = "hosts"  # beside the feeds' state documents: the fetcher owns <state_dir>/fetch
#: Seconds before asking again when every slot of a host is held by another process: short next
#: to a feed request, long enough that a waiting process costs nothing measurable.
BUSY_POLL = 0.05
#: Seconds before asking again when another process is inside its (microseconds long) check.
CONTENDED_POLL = 0.002
_RECORD = 80  # the host file's record is fixed-width, so it is rewritten in place, never truncated


@dataclass(slots=True)
class HostPermit:
    """The right to one request in flight to ``host``; ``fd`` holds the slot's lock (None: no files)."""

    host: str
    fd: int | None = None


class HostGate:
    """Hands out :class:`HostPermit` s under the limits shared by every process using ``state_dir``.

    ``state_dir=None`` or an object-store URL: no shared files, every permit is granted (the
    caller's own per-process limits are all there is). Thread-safe: each call opens its own
    descriptors, and ``flock`` treats two descriptors of one file as two holders even in one process.
    """

    def __init__(self, state_dir: str | None, per_host: int, min_delay: float) -> None:
        self.per_host = max(1, per_host)
        self.min_delay = max(0.0, min_delay)
        self.token = secrets.token_hex(6)  # who this gate is, in a host's waiter field
        self.dir: Path | None = None
        if state_dir is not None and storage.is_local(state_dir):
            self.dir = Path(storage.join(state_dir, STATE_SUBDIR, SUBDIR))
            self.dir.mkdir(parents=True, exist_ok=True)

    @property
    def shared(self) -> bool:
        """Whether the limits hold across processes (a local state dir)."""
        return self.dir is not None

    def acquire(self, host: str) -> tuple[HostPermit | None, float]:
        """A permit to start one request to ``host`` now, else ``(None, seconds to wait before asking again)``."""
        if self.dir is None:
            return HostPermit(host), 0.0
        import fcntl  # POSIX only, like storage.exclusive_lock

        key = feed_key(host or "_")
        guard = os.open(self.dir / f"{key}.lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            try:
                fcntl.flock(guard, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
                    raise
                return None, CONTENDED_POLL
            last, waiter, until = _read(guard)
            now = time.time()
            if waiter not in ("", self.token) and now < until:
                return None, BUSY_POLL  # another process waits for this host: its turn first
            wait = last + self.min_delay - now if self.min_delay else 0.0
            if wait > 0:
                wait = min(wait, self.min_delay)  # a clock stepped back must not stall a host
                _write(guard, last, self.token, now + wait + 2 * BUSY_POLL)
                return None, wait
            for n in range(self.per_host):
                slot = os.open(self.dir / f"{key}.{n}.slot", os.O_RDWR | os.O_CREAT, 0o644)
                try:
                    fcntl.flock(slot, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except OSError as exc:
                    os.close(slot)
                    if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
                        raise
                    continue
                _write(guard, now, "", 0.0)  # our start; no one waits any more (it was us, or no one)
                return HostPermit(host, slot), 0.0
            _write(guard, last, self.token, now + 3 * BUSY_POLL)
            return None, BUSY_POLL
        finally:
            os.close(guard)  # closing the descriptor drops its lock

    def release(self, permit: HostPermit) -> None:
        """Give the slot back (closing its descriptor drops the lock); safe to call twice."""
        if permit.fd is not None:
            fd, permit.fd = permit.fd, None
            with contextlib.suppress(OSError):
                os.close(fd)


def _read(fd: int) -> tuple[float, str, float]:
    """The host's record: last request start, the waiting gate's token and until when it waits.

    An empty or damaged record reads as "no start, no waiter".
    """
    try:
        last, waiter, until = os.pread(fd, _RECORD, 0).decode("ascii").split()
        return float(last), "" if waiter == "-" else waiter, float(until)
    except (ValueError, UnicodeDecodeError):
        return 0.0, "", 0.0


def _write(fd: int, last: float, waiter: str, until: float) -> None:
    os.pwrite(fd, f"{last:.6f} {waiter or '-'} {until:.6f}".ljust(_RECORD).encode("ascii"), 0)
