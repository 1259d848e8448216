"""The worker's settings, read from its environment (docs/protocol.md, "Handshake").

=========================  ===========================================================
``SNAKEPIT_CONCURRENCY``    calls run at once, int >= 1 (default 1)
``SNAKEPIT_MAX_FRAME_BYTES`` largest frame body either way (default 64 MiB)
``SNAKEPIT_ALLOW_CODE``     ``1`` enables ``exec`` messages
``SNAKEPIT_PRELOAD``        comma-separated modules imported before ``ready``
``SNAKEPIT_HOST_PID``       the host's pid, for the parent-death check
``SNAKEPIT_WORKER_ID``      the host's name for this worker (informational)
``SNAKEPIT_TESTING``        ``1`` enables :mod:`snakepit_bridge.faults`
``SNAKEPIT_IN_FD``          fd the host writes frames to (default 3)
``SNAKEPIT_OUT_FD``         fd the worker writes frames to (default 4)
``SNAKEPIT_LOG_LEVEL``      root logger level forwarded to the host (default ``INFO``)
=========================  ===========================================================
"""
from __future__ import annotations

from typing import Mapping, Optional, Tuple

from .protocol import DEFAULT_MAX_FRAME_BYTES

_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


class Settings:
    """Immutable worker settings; :meth:`from_env` raises ``ValueError`` on a bad value."""

    __slots__ = ("concurrency", "max_frame_bytes", "allow_code", "preload", "host_pid",
                 "worker_id", "testing", "in_fd", "out_fd", "log_level")

    def __init__(self, *, concurrency: int = 1, max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES,
                 allow_code: bool = False, preload: Tuple[str, ...] = (),
                 host_pid: Optional[int] = None, worker_id: Optional[str] = None,
                 testing: bool = False, in_fd: int = 3, out_fd: int = 4,
                 log_level: str = "INFO") -> None:
        self.concurrency = concurrency
        self.max_frame_bytes = max_frame_bytes
        self.allow_code = allow_code
        self.preload = preload
        self.host_pid = host_pid
        self.worker_id = worker_id
        self.testing = testing
        self.in_fd = in_fd
        self.out_fd = out_fd
        self.log_level = log_level

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> "Settings":
        """Settings from an environment mapping such as ``os.environ``."""
        log_level = env.get("SNAKEPIT_LOG_LEVEL", "INFO").strip().upper() or "INFO"
        if log_level not in _LOG_LEVELS:
            raise ValueError(f"SNAKEPIT_LOG_LEVEL must be one of {', '.join(_LOG_LEVELS)}, "
                             f"got {log_level!r}")
        host_pid = _int(env, "SNAKEPIT_HOST_PID", None, minimum=1)
        return cls(
            concurrency=_int(env, "SNAKEPIT_CONCURRENCY", 1, minimum=1),  # type: ignore[arg-type]
            max_frame_bytes=_int(env, "SNAKEPIT_MAX_FRAME_BYTES",  # type: ignore[arg-type]
                                 DEFAULT_MAX_FRAME_BYTES, minimum=16),
            allow_code=env.get("SNAKEPIT_ALLOW_CODE") == "1",
            preload=tuple(name.strip() for name in env.get("SNAKEPIT_PRELOAD", "").split(",")
                          if name.strip()),
            host_pid=host_pid,
            worker_id=env.get("SNAKEPIT_WORKER_ID") or None,
            testing=env.get("SNAKEPIT_TESTING") == "1",
            in_fd=_int(env, "SNAKEPIT_IN_FD", 3, minimum=0),  # type: ignore[arg-type]
            out_fd=_int(env, "SNAKEPIT_OUT_FD", 4, minimum=0),  # type: ignore[arg-type]
            log_level=log_level,
        )

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={getattr(self, name)!r}" for name in self.__slots__)
        return f"Settings({fields})"


def _int(env: Mapping[str, str], name: str, default: Optional[int], minimum: int
         ) -> Optional[int]:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"{name} must be an integer, got {raw!r}") from None
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return value
