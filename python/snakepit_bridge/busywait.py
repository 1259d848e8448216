"""Polling the input for a moment before sleeping on it.

A worker that has answered everything it was sent blocks in ``read`` until the host's next
call arrives, and the kernel then has to wake it: on a virtual machine that wake-up (a
scheduler round trip through the hypervisor) can cost more than the call itself, and a caller
that awaits each call before making the next pays it on every call.  The host is usually
about to send that next call, so the worker first polls its input without blocking for up to
``budget`` seconds, as the Erlang VM's schedulers do before they sleep (``+sbwt``), and only
then blocks.  Measured on a 2-vCPU VM: sequential echo calls 164 → 78 µs at the median, at
the price of the worker's CPU while it polls, 73 → 95 µs a call (docs/performance.md, "The
worker polls before it sleeps").

The cost is bounded by :func:`after_poll`: a poll that ends without input (a *miss*: the
host's calls come further apart than ``budget``) makes the worker skip polling for the next
1, 3, 7 … up to :data:`MAX_SKIPS` waits, so a worker called every few milliseconds polls on
about one wait in 256, and an idle worker polls once, for ``budget``, and then sleeps.

Polling does not yield the CPU (``sched_yield``) between looks: on a machine whose CPUs are
all wanted, a worker that yields hands its CPU to a busy process for a whole time slice, and
the call that arrives meanwhile waits for it (with two busy processes beside a 2-vCPU bench:
sequential p50 100 → 130 µs, p99 0.2 → 1.3 ms).  Without yielding, polling is bounded by
``budget`` and measured no worse than sleeping there (p50 120 → 106 µs).

The server (serving.py) polls only when no call is running in the worker: a thread polling
beside a running call would take the GIL from it.
"""
from __future__ import annotations

import select
import time

#: A run of misses makes the worker skip polling for up to this many waits.  (63 measured the
#: same; 255 wastes a quarter of the polls of a worker whose calls come too far apart.)
MAX_SKIPS = 255
_MAX_MISSES = MAX_SKIPS.bit_length()


def after_poll(misses: int, hit: bool) -> int:
    """The run of misses after a poll that found input (``hit``) or did not.

    A hit takes one miss off rather than clearing them, so a caller whose calls alternate
    between near and far apart keeps skipping some polls.

    >>> after_poll(0, False), after_poll(3, False), after_poll(_MAX_MISSES, False)
    (1, 4, 8)
    >>> after_poll(3, True), after_poll(0, True)
    (2, 0)
    """
    if hit:
        return misses - 1 if misses > 0 else 0
    return misses + 1 if misses < _MAX_MISSES else _MAX_MISSES


def skips_after(misses: int) -> int:
    """How many waits are slept through without polling after a miss that made the run
    ``misses`` long: 1, 3, 7 … :data:`MAX_SKIPS`.

    >>> [skips_after(m) for m in range(1, 7)]
    [1, 3, 7, 15, 31, 63]
    >>> skips_after(_MAX_MISSES) == MAX_SKIPS
    True
    """
    return (1 << misses) - 1


class BusyWait:
    """Polls ``fd`` for up to ``budget`` seconds (see the module docstring).

    ``hits``, ``misses_total`` and ``skipped`` count what :meth:`wait` did (tests, diagnostics).

    >>> import os; r, w = os.pipe(); os.write(w, b"x")
    1
    >>> waiting = BusyWait(r, 0.001); waiting.wait(); waiting.hits
    1
    """

    __slots__ = ("budget", "misses", "skip", "hits", "misses_total", "skipped", "_poll")

    def __init__(self, fd: int, budget: float) -> None:
        self.budget = budget
        #: The current run of misses (see :func:`after_poll`).
        self.misses = 0
        #: Waits still to be slept through without polling.
        self.skip = 0
        self.hits = 0
        self.misses_total = 0
        self.skipped = 0
        # Its own poll object: CPython refuses concurrent poll() calls on one object, and the
        # watchdog polls the same fd from its own thread.
        self._poll = select.poll()
        self._poll.register(fd, select.POLLIN)

    def wait(self) -> None:
        """Return once ``fd`` is readable or the budget is spent (the caller then reads)."""
        if self.skip > 0:
            self.skip -= 1
            self.skipped += 1
            return
        clock = time.perf_counter
        poll = self._poll.poll
        end = clock() + self.budget
        while True:
            if poll(0):
                self.hits += 1
                self.misses = after_poll(self.misses, True)
                return
            if clock() >= end:
                break
        self.misses_total += 1
        self.misses = after_poll(self.misses, False)
        self.skip = skips_after(self.misses)
