"""What a loop allocates from one step to the next, measured with ``tracemalloc``, not a clock.

Work that copies everything done so far at each step (a name rebuilt by concatenation, a list
sliced again, a partial line joined to each write) allocates that copy: the bytes a step
allocates then grow with the step's number, and the loop's cost with the square of their
count.  A loop whose steps allocate a bounded amount does not, however fast the machine.
"""
from __future__ import annotations

import tracemalloc
from typing import List


class StepAllocations:
    """``with StepAllocations() as steps:`` then ``steps.step()`` at each step of the loop
    watched: :attr:`sizes` holds, for each step after the first, the most memory (in bytes)
    allocated at once since the step before (its peak over what was held then)."""

    def __init__(self) -> None:
        self.sizes: List[int] = []
        self._base = -1
        self._started = False

    def __enter__(self) -> "StepAllocations":
        self._started = not tracemalloc.is_tracing()
        if self._started:
            tracemalloc.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        if self._started:
            tracemalloc.stop()

    def step(self) -> None:
        if self._base >= 0:
            self.sizes.append(tracemalloc.get_traced_memory()[1] - self._base)
        # Read after the list grew: the next step is charged only for what the loop does.
        self._base = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()

    @property
    def largest(self) -> int:
        """The most any step allocated."""
        return max(self.sizes, default=0)

    @property
    def total(self) -> int:
        """What the steps allocated, summed."""
        return sum(self.sizes)
