"""The demo workload: small, standard-library-only functions that look like real work.

``snakepit demo`` calls these from several sessions at once while it kills a worker.
"""
from __future__ import annotations

import math
import os
import statistics
import time
from typing import Dict, List, Optional


def predict(features: List[float]) -> Dict[str, float]:
    """A toy linear model with a sigmoid: the shape of an ML inference call."""
    weights = [0.4, -0.2, 0.1, 0.7]
    z = sum(w * x for w, x in zip(weights, features)) + 0.05
    return {"score": 1 / (1 + math.exp(-z)), "pid": os.getpid()}


def fib(n: int) -> int:
    """CPU work: the n-th Fibonacci number, iteratively (exact, any size)."""
    a, b = 0, 1
    for _ in range(n):
        a, b = b, a + b
    return a


def summarize(values: List[float]) -> Dict[str, float]:
    """Descriptive statistics of a list of numbers."""
    return {"mean": statistics.fmean(values), "stdev": statistics.pstdev(values), "n": len(values)}


def remember(value: object, *, session) -> Optional[object]:
    """Stores a value in the session's worker-held state; returns the previous one."""
    previous = session.state.get("last")
    session.state["last"] = value
    return previous


def think(ms: float) -> float:
    """Slow I/O-bound work (a model call, a query): sleeps ``ms`` milliseconds and returns it."""
    time.sleep(ms / 1000)
    return ms
