"""What the bridge calls in the benchmarks: the same echo and busy loop as the references."""
import time


def echo(x):
    return x


def work(us, x=None):
    end = time.perf_counter() + us / 1e6
    while time.perf_counter() < end:
        pass
    return x
