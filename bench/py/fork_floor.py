"""The fork floor: the least 64 workers forked from a numpy template can cost.

``python3 fork_floor.py N`` imports numpy (and ``numpy.random``, as the fork server's template
does), freezes the garbage collector's objects, then forks ``N`` children back to back; each
reseeds Python's and numpy's generators as a forked worker does and exits at once; the parent
waits for all of them. It prints the milliseconds from the first fork to the last child reaped.
The bench times the whole process from spawn to exit, as it times the fork server from start
to 64 workers ready: template start and imports are on both sides. With ``--rusage`` it also
prints each child's average CPU milliseconds and page faults (bench/forkStart.ts).
"""
import gc
import os
import random
import sys
import time

import numpy
import numpy.random

rusage = "--rusage" in sys.argv
args = [a for a in sys.argv[1:] if a != "--rusage"]
n = int(args[0]) if args else 64
gc.freeze()
t = time.perf_counter()
pids = []
for _ in range(n):
    pid = os.fork()
    if pid == 0:
        random.seed()
        numpy.random.set_state(("MT19937", numpy.frombuffer(os.urandom(624 * 4), dtype=numpy.uint32), 624))
        os._exit(0)
    pids.append(pid)
cpu = 0.0
faults = 0
for pid in pids:
    _, _, usage = os.wait4(pid, 0)
    cpu += usage.ru_utime + usage.ru_stime
    faults += usage.ru_minflt
ms = (time.perf_counter() - t) * 1000
print(f"{ms:.3f} {cpu / n * 1000:.2f} {faults / n:.0f}" if rusage else f"{ms:.3f}")
