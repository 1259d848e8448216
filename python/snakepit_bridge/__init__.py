"""snakepit_bridge: the Python side of snakepit.

Run as ``python -m snakepit_bridge`` by the Node host; user code only meets the names exported
here (a function's ``session`` parameter and the exceptions it may raise or catch).
"""
from __future__ import annotations

from .context import traceparent
from .customtypes import register_codec
from .errors import CallCancelled, SerializationError
from .session import Session, ToolError, ToolNotFound, VariableLimitExceeded

__all__ = ["CallCancelled", "SerializationError", "Session", "ToolError", "ToolNotFound", "traceparent",
           "VariableLimitExceeded", "register_codec"]
__version__ = "0.1.0"
