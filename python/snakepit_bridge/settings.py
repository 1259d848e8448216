"""The worker's settings, read from its environment (docs/protocol.md, "Handshake").

=========================  ===========================================================
``SNAKEPIT_CONCURRENCY``    calls run at once, int >= 1 (default 1)
``SNAKEPIT_MAX_FRAME_BYTES`` largest frame body either way (default 64 MiB)
``SNAKEPIT_MAX_DEPTH``      deepest nesting of containers in one value (default 200)
``SNAKEPIT_MAX_VALUE_BYTES`` largest encoded message carrying a value (default: max frame bytes)
``SNAKEPIT_MAX_STRING_BYTES`` longest string in a value, UTF-8 bytes (default 16 MiB)
``SNAKEPIT_ALLOW_CODE``     ``1`` enables ``exec`` messages
``SNAKEPIT_PRELOAD``        comma-separated modules imported before ``ready``
``SNAKEPIT_EXPOSE``         comma-separated admitted names (``mod.*``, ``mod.fn``); unset: all,
                            empty: none (:mod:`snakepit_bridge.exposure`)
``SNAKEPIT_HOST_PID``       the host's pid, for the parent-death check
``SNAKEPIT_WORKER_ID``      the host's name for this worker (informational)
``SNAKEPIT_TESTING``        ``1`` enables :mod:`snakepit_bridge.faults`
``SNAKEPIT_IN_FD``          fd the host writes frames to (default 3)
``SNAKEPIT_OUT_FD``         fd the worker writes frames to (default 4)
``SNAKEPIT_LOG_LEVEL``      the root logger's initial level (default ``INFO``); user code may
                            change it (``logging.basicConfig(level=...)``)
``SNAKEPIT_MAX_RSS_BYTES``  memory limit: past it the worker stops itself (unset: none;
                            :mod:`snakepit_bridge.memlimit`)
``SNAKEPIT_GROUP_WATCHED``  ``1``: the host's watchman ends this worker's process group if the
                            host dies, so the worker starts none (:mod:`snakepit_bridge.procgroup`)
``SNAKEPIT_BUSY_WAIT_US``   how long the worker polls its input before sleeping on it, µs,
                            0 to 1 000 000 (default 0: never; :mod:`snakepit_bridge.busywait`)
=========================  ===========================================================

The three value limits are enforced by :mod:`snakepit_bridge.codec` in both directions
(docs/protocol.md, "Limits").
"""
from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only (see docs/decisions.md)
    from typing import Dict, Mapping, Optional, Tuple

from .exposure import Exposure, from_env as exposure_from_env
from .protocol import DEFAULT_MAX_FRAME_BYTES

DEFAULT_MAX_DEPTH = 200
DEFAULT_MAX_STRING_BYTES = 16 * 1024 * 1024
#: The longest busy wait a worker accepts (one second: anything near it is a mistake).
MAX_BUSY_WAIT_US = 1_000_000

_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


class Settings:
    """Immutable worker settings; :meth:`from_env` raises ``ValueError`` on a bad value."""

    __slots__ = ("concurrency", "max_frame_bytes", "allow_code", "preload", "host_pid",
                 "worker_id", "testing", "in_fd", "out_fd", "log_level", "max_depth",
                 "max_value_bytes", "max_string_bytes", "exposure", "max_rss_bytes",
                 "group_watched", "busy_wait_us")

    def __init__(self, *, concurrency: int = 1, max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES,
                 allow_code: bool = False, preload: Tuple[str, ...] = (),
                 host_pid: Optional[int] = None, worker_id: Optional[str] = None,
                 testing: bool = False, in_fd: int = 3, out_fd: int = 4,
                 log_level: str = "INFO", max_depth: int = DEFAULT_MAX_DEPTH,
                 max_value_bytes: Optional[int] = None,
                 max_string_bytes: int = DEFAULT_MAX_STRING_BYTES,
                 exposure: Optional[Exposure] = None,
                 max_rss_bytes: Optional[int] = None, group_watched: bool = False,
                 busy_wait_us: int = 0) -> None:
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
        self.max_depth = max_depth
        #: None means "as large as a frame may be".
        self.max_value_bytes = max_frame_bytes if max_value_bytes is None else max_value_bytes
        self.max_string_bytes = max_string_bytes
        #: The host's allowlist; None admits every name.
        self.exposure = exposure
        #: The memory limit in bytes; None: no limit.
        self.max_rss_bytes = max_rss_bytes
        #: The host watches this worker's process group: no watchman of its own.
        self.group_watched = group_watched
        #: Microseconds the worker polls its input before it sleeps on it (0: never).
        self.busy_wait_us = busy_wait_us

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> "Settings":
        """Settings from an environment mapping such as ``os.environ``."""
        log_level = env.get("SNAKEPIT_LOG_LEVEL", "INFO").strip().upper() or "INFO"
        if log_level not in _LOG_LEVELS:
            raise ValueError(f"SNAKEPIT_LOG_LEVEL must be one of {', '.join(_LOG_LEVELS)}, "
                             f"got {log_level!r}")
        host_pid = _int(env, "SNAKEPIT_HOST_PID", None, minimum=1)
        max_frame_bytes: int = _int(env, "SNAKEPIT_MAX_FRAME_BYTES",  # type: ignore[assignment]
                                    DEFAULT_MAX_FRAME_BYTES, minimum=16)
        return cls(
            concurrency=_int(env, "SNAKEPIT_CONCURRENCY", 1, minimum=1),  # type: ignore[arg-type]
            max_frame_bytes=max_frame_bytes,
            allow_code=env.get("SNAKEPIT_ALLOW_CODE") == "1",
            preload=tuple(name.strip() for name in env.get("SNAKEPIT_PRELOAD", "").split(",")
                          if name.strip()),
            host_pid=host_pid,
            worker_id=env.get("SNAKEPIT_WORKER_ID") or None,
            testing=env.get("SNAKEPIT_TESTING") == "1",
            in_fd=_int(env, "SNAKEPIT_IN_FD", 3, minimum=0),  # type: ignore[arg-type]
            out_fd=_int(env, "SNAKEPIT_OUT_FD", 4, minimum=0),  # type: ignore[arg-type]
            log_level=log_level,
            exposure=exposure_from_env(env),
            max_rss_bytes=memory_limit_from_env(env),
            group_watched=env.get("SNAKEPIT_GROUP_WATCHED") == "1",
            busy_wait_us=_int(env, "SNAKEPIT_BUSY_WAIT_US", 0, minimum=0,  # type: ignore[arg-type]
                              maximum=MAX_BUSY_WAIT_US),
            **limits_from_env(env, max_frame_bytes),
        )

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={getattr(self, name)!r}" for name in self.__slots__)
        return f"Settings({fields})"


def limits_from_env(env: Mapping[str, str], max_frame_bytes: int) -> Dict[str, int]:
    """``max_depth``, ``max_value_bytes`` and ``max_string_bytes`` from ``SNAKEPIT_MAX_*``
    (``ValueError`` on a bad value).  A forked worker reads them again after its own environment
    is applied."""
    return {
        "max_depth": _int(env, "SNAKEPIT_MAX_DEPTH", DEFAULT_MAX_DEPTH,  # type: ignore[dict-item]
                          minimum=1),
        "max_value_bytes": _int(env, "SNAKEPIT_MAX_VALUE_BYTES",  # type: ignore[dict-item]
                                max_frame_bytes, minimum=1),
        "max_string_bytes": _int(env, "SNAKEPIT_MAX_STRING_BYTES",  # type: ignore[dict-item]
                                 DEFAULT_MAX_STRING_BYTES, minimum=1),
    }


def memory_limit_from_env(env: Mapping[str, str]) -> Optional[int]:
    """``SNAKEPIT_MAX_RSS_BYTES`` (``ValueError`` on a bad value); None when unset.  A forked
    worker reads it again after its own environment is applied."""
    return _int(env, "SNAKEPIT_MAX_RSS_BYTES", None, minimum=1)


def _int(env: Mapping[str, str], name: str, default: Optional[int], minimum: int,
         maximum: Optional[int] = None) -> Optional[int]:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"{name} must be an integer, got {raw!r}") from None
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise ValueError(f"{name} must be <= {maximum}, got {value}")
    return value
