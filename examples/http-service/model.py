"""The HTTP example's model: logistic regression over 4 features.

Uses numpy when it is importable (a matrix product over the whole batch), else plain Python, so
the example runs on any CPython 3.9+. ``think_ms`` stands in for a heavier model's latency.
"""
from __future__ import annotations

import math
import time
from typing import Dict, List, Union

WEIGHTS = [0.4, -0.2, 0.1, 0.7]
BIAS = 0.05

try:
    import numpy as np
except ImportError:  # pragma: no cover - depends on the environment
    np = None


def predict(rows: List[List[float]], think_ms: float = 0) -> Dict[str, Union[str, List[float]]]:
    """Scores in (0, 1) for each row of 4 features, and which engine computed them."""
    if think_ms:
        time.sleep(think_ms / 1000)
    if np is not None:
        x = np.asarray(rows, dtype=np.float64).reshape(-1, len(WEIGHTS))
        z = x @ np.asarray(WEIGHTS) + BIAS
        return {"scores": (1.0 / (1.0 + np.exp(-z))).tolist(), "engine": "numpy"}
    scores = [1.0 / (1.0 + math.exp(-(sum(w * v for w, v in zip(WEIGHTS, row)) + BIAS))) for row in rows]
    return {"scores": scores, "engine": "python"}
