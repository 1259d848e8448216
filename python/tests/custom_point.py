"""A module that registers a decoder for "fixtures.Point" when it is imported (test_customtypes)."""
from dataclasses import dataclass

from snakepit_bridge import register_codec


@register_codec
@dataclass
class Point:
    x: float
    y: float


register_codec(Point, name="fixtures.Point")


def describe(p):
    return f"{type(p).__name__}({p.x}, {p.y})"
