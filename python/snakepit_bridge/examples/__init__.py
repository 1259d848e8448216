"""Example modules bundled with snakepit (used by ``snakepit demo``)."""
