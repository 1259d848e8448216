"""Sessions: per-session state, a forwarded logger, tool calls into the host, telemetry.

A function that declares a keyword-only parameter named ``session`` receives a
:class:`Session`::

    def remember(x, *, session):
        previous = session.state.get("x")
        session.state["x"] = x
        session.log.info("remembered %r", x)
        return previous

State is a plain ``dict`` kept per session id in this worker and shared by every call of that
session here; ``cleanup_session`` drops it.  A call without a session id gets a throwaway
session (``id`` None, fresh empty ``state``).

``session.call_tool(name, *args, **kwargs)`` runs a tool registered on the TypeScript side and
blocks the calling thread until its ``tool_result`` arrives (any thread may call it);
``await session.acall_tool(...)`` is the same for ``async`` functions, without blocking the
event loop.  A failed tool raises :class:`ToolError`, or :class:`ToolNotFound` when the host
reports that no such tool exists.  At most ``MAX_TOOL_CALLS_IN_FLIGHT`` (256) tool calls of a
worker wait for their answer at once: one more waits for a free place before it is sent (the
host ends a worker that sends more).

``session.variables`` is a mapping held by the host (``bridge.session(id).variables``): every
access is a reserved tool call, so its values survive a crash of this worker, an environment
restart, and the session moving to another worker.  The host bounds what they hold: a write past
its caps raises :class:`VariableLimitExceeded` (a :class:`ToolError`), and the call may go on.

Whose session a tool call acts for is the host's decision, not this object's: the host takes it
from the call the tool call belongs to (the call the calling code runs for), as the host sent that
call.  ``session.id`` is read-only, and a session object used in a call of another session raises
:class:`ToolError` instead of sending; but changing the object would change nothing on the host
anyway.  A thread that does not carry the call's context (a plain ``threading.Thread`` or an
executor the function started) acts for the session of the object it uses while a call of that
session runs in this worker.  A tool call made outside any running call of its session (from a
thread that outlived its call) acts for no session: global tools work, session variables and the session's own tools raise
:class:`ToolError` / :class:`ToolNotFound`.
"""
from __future__ import annotations

import itertools
import threading
from collections.abc import MutableMapping

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only (see docs/decisions.md)
    from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Set, Tuple
    import logging
    from concurrent.futures import Future
    from .protocol import Send

from .codec import EXT_PENDING, encode_value
from .context import current_call
from .credit import StreamCredit
from .protocol import MAX_TOOL_CALLS_IN_FLIGHT, TELEMETRY, TOOL_CALL


#: Parent of every session logger; its records propagate to the root logger's host handler.
SESSION_LOGGER = "snakepit.session"


class ToolError(Exception):
    """A tool called through :meth:`Session.call_tool` failed on the host."""


class ToolNotFound(ToolError):
    """The host has no tool of that name."""


class VariableLimitExceeded(ToolError):
    """Writing ``session.variables[name]`` would take the host-held variable bytes past a cap:
    ``scope`` is ``"session"`` (``limits.maxSessionVariableBytes``, this session) or
    ``"bridge"`` (``limits.maxVariableBytes``, all sessions); ``limit_bytes`` is that cap.
    The write did not happen; the previous value, if any, is still there. A subclass of
    :class:`ToolError`, so code that already catches tool failures catches it too::

        try:
            session.variables["cache"] = big
        except VariableLimitExceeded as e:
            session.log.warning("not cached: %s", e)
    """

    def __init__(self, message: str, scope: str = "session", limit_bytes: int = 0,
                 name: Optional[str] = None) -> None:
        super().__init__(message)
        self.scope = scope
        self.limit_bytes = limit_bytes
        self.name = name


def _tool_failure(error: Any) -> ToolError:
    """The exception a failed ``tool_result`` raises: typed by its ``type`` field when it has
    one (``ToolNotFound``, ``VariableLimitExceeded``), else :class:`ToolError`."""
    if not isinstance(error, dict):
        return ToolError(str(error))
    message = str(error.get("message", ""))
    if error.get("type") == "VariableLimitExceeded":
        limit = error.get("limit_bytes")
        name = error.get("name")
        return VariableLimitExceeded(message, scope=str(error.get("scope", "session")),
                                     limit_bytes=limit if isinstance(limit, int) else 0,
                                     name=name if isinstance(name, str) else None)
    if error.get("type") == "ToolNotFound":
        return ToolNotFound(message)
    # A host before the ``type`` field put the class name in the text; the exception's own
    # name already says it, so it is not repeated ("ToolNotFound: ToolNotFound: …").
    if message.startswith("ToolNotFound"):
        return ToolNotFound(message[len("ToolNotFound"):].lstrip(": ") or message)
    return ToolError(message)


def _no_call(_session_id: str) -> Optional[int]:
    return None


def _not_nested(_call_id: Optional[int]) -> bool:
    return False


class ToolCalls:
    """Tool calls this worker made to the host that still wait for their ``tool_result``.

    At most ``limit`` (``MAX_TOOL_CALLS_IN_FLIGHT``) are sent and unanswered at once: the host
    counts them the same way and ends a worker that sends more, so a caller past the limit
    waits for a ``tool_result`` to free a place, except for a nested call's code, whose tool
    call fails with :class:`ToolError` at once: a chain of calls nested through tools holds a
    place at every level, so at ``limit + 1`` levels the deepest would wait for the others, and
    they for it, for ever.  A place is held until the host's answer
    arrives, not until the caller stops waiting (a cancelled call's tool still runs on the host).
    """

    def __init__(self, send: Send, limit: int = MAX_TOOL_CALLS_IN_FLIGHT) -> None:
        self._send = send
        self._pending: Dict[int, "Future[Any]"] = {}
        #: The host call each pending tool call was made for (None outside a call).
        self._owners: Dict[int, Optional[int]] = {}
        self._ids = itertools.count(1)
        self._closed: Optional[str] = None
        self._limit = limit
        #: Free places among the tool calls the host counts as in flight.
        self._places = StreamCredit(limit)
        #: Ids sent whose ``tool_result`` has not arrived (what the host still counts).
        self._unanswered: Set[int] = set()
        #: Runs after a tool call is sent, before its caller waits: the server uses it to hand
        #: reading to another thread (the result must be read while this call is blocked).
        self.before_block: Callable[[], None] = _nothing
        #: The id of a call of this session now running here, if any (set by the dispatcher):
        #: what a thread without the call's context (a plain ``threading.Thread`` or an
        #: executor started by the call) names, so honest helper threads keep working.
        self.running_call_of: Callable[[str], Optional[int]] = _no_call
        #: Whether the call with this id, running here, is nested (set by the dispatcher): asked
        #: of the call a tool call belongs to, so a helper thread of a nested call (which has
        #: no copy of its context) is judged by its call too.
        self.call_is_nested: Callable[[Optional[int]], bool] = _not_nested
        #: The worker's event loop (set by the dispatcher): a blocking wait on its thread is
        #: counted there, so a nested ``async`` call is refused rather than hang.
        self.loop: Any = None

    def start(self, name: str, args: Sequence[Any], kwargs: Dict[str, Any],
              session_id: Optional[str]) -> "Future[Any]":
        """Send a ``tool_call`` and return the future its ``tool_result`` will complete.

        Blocks the calling thread while ``limit`` tool calls wait for their answer."""
        prepared = self._prepare(name, args, kwargs, session_id)
        if not isinstance(prepared, tuple):
            return prepared
        if not self._places.take(wait=False):
            if self.call_is_nested(prepared[0]["call_id"]):
                return _failed(ToolError(self._no_place_for_nested()))
            # The answers that free a place must be read by another thread than this one.
            self.before_block()
            if not self._places.take():
                return _failed(ToolError(self._closed or "the connection to the host is closed"))
        return self._send_prepared(*prepared)

    async def astart(self, name: str, args: Sequence[Any], kwargs: Dict[str, Any],
                     session_id: Optional[str]) -> "Future[Any]":
        """:meth:`start` for a coroutine: waits for a free place without blocking the loop."""
        prepared = self._prepare(name, args, kwargs, session_id)
        if not isinstance(prepared, tuple):
            return prepared
        if not self._places.take(wait=False):
            if self.call_is_nested(prepared[0]["call_id"]):
                return _failed(ToolError(self._no_place_for_nested()))
            if not await self._places.atake():
                return _failed(ToolError(self._closed or "the connection to the host is closed"))
        return self._send_prepared(*prepared)

    def _no_place_for_nested(self) -> str:
        # Waiting could be for ever: the places may all be held by the calls this nested call
        # serves, each waiting (through the host's tool) for the one below it, down to this one.
        return (f"all {self._limit} tool calls this worker may have unanswered are waiting, and "
                "a nested call (made by a host tool for a call of this worker) does not wait for "
                "one of them to be answered: they may be waiting for it. Calls nested through "
                f"tools go at most {self._limit} deep on one worker")

    def _prepare(self, name: str, args: Sequence[Any], kwargs: Dict[str, Any],
                 session_id: Optional[str]) -> "Future[Any] | Tuple[Dict[str, Any], List[Any]]":
        """The message and attachments of a tool call, or the failed future of one refused
        here. Encoding raises (``SerializationError``) before any place is taken."""
        if not isinstance(name, str):
            # The host would take the message for a protocol violation and replace the worker,
            # failing every other call on it: a plain TypeError for this caller instead.
            raise TypeError(f"a tool's name must be a str, got {type(name).__name__}")
        if self._closed is not None:
            return _failed(ToolError(self._closed))
        context = current_call.get()
        if context is not None and context.session_id != session_id:
            # The host would act for the call's session, not this object's: say so, rather
            # than quietly reading or writing another session's variables.
            return _failed(ToolError(
                f"this session object is for session {session_id!r}, but the code runs for call "
                f"{context.call_id} of session {context.session_id!r}: use the session this "
                "call's function received"))
        if context is not None:
            call_id: Optional[int] = context.call_id
        else:
            # The host decides the session from this id, never from ``session_id``; naming a call
            # of this session that still runs gives nothing the code could not reach anyway.
            call_id = self.running_call_of(session_id) if session_id is not None else None
        attachments: List[Any] = []
        message = {
            "type": TOOL_CALL, "id": 0,
            "call_id": call_id,
            "name": name,
            "args": encode_value(list(args), attachments, "tool_call.args", outer=True),
            "kwargs": encode_value(kwargs, attachments, "tool_call.kwargs", outer=True),
            "session_id": session_id,
        }
        return message, attachments

    def _send_prepared(self, message: Dict[str, Any], attachments: List[Any]) -> "Future[Any]":
        """Send a prepared tool call, a place already taken for it."""
        # Imported on the first tool call: most workers never make one (start-up is shorter).
        from concurrent.futures import Future
        future: "Future[Any]" = Future()
        tool_id = next(self._ids)
        message["id"] = tool_id
        self._pending[tool_id] = future
        self._owners[tool_id] = message["call_id"]
        self._unanswered.add(tool_id)
        try:
            self._send(message, attachments)
        except BaseException:
            self._pending.pop(tool_id, None)
            self._owners.pop(tool_id, None)
            self._answered(tool_id)  # nothing was sent: the host counts nothing
            raise
        self.before_block()
        if self._closed is not None:
            # Closed or disowned meanwhile: a child forked through libc learns that it is not the
            # worker when the corked tool call is flushed, here, and no result will ever come.
            _settle(future, error=ToolError(self._closed))
        return future

    def _answered(self, tool_id: Any) -> None:
        """The host answered ``tool_id`` (or never heard of it): its place is free again."""
        try:
            self._unanswered.remove(tool_id)
        except (KeyError, TypeError):
            return
        self._places.grant(1)

    def resolve(self, envelope: Dict[str, Any]) -> None:
        """Complete the pending call a ``tool_result`` envelope answers (unknown ids: ignored)."""
        self._answered(envelope.get("id"))
        self._owners.pop(envelope.get("id"), None)  # type: ignore[arg-type]
        future = self._pending.pop(envelope.get("id"), None)  # type: ignore[arg-type]
        if future is None:
            return
        if envelope.get("ok"):
            value = envelope.get("value")
            if envelope.get(EXT_PENDING):
                from .customtypes import resolve as resolve_custom
                try:
                    value = resolve_custom(value)
                except Exception as e:  # noqa: BLE001 - a user decoder: the tool call's error
                    _settle(future, error=e)
                    return
            _settle(future, value=value)
            return
        _settle(future, error=_tool_failure(envelope.get("error")))

    def refused(self, tool_id: Any, error: BaseException) -> None:
        """The host answered ``tool_id`` with a ``tool_result`` that could not be decoded: the
        place is free again, and the waiting call raises ``error``."""
        self._answered(tool_id)
        self.fail(tool_id, error)

    def fail(self, tool_id: Any, error: BaseException) -> None:
        """Complete one pending call with ``error``; its place stays taken until the host's
        answer arrives (the host still counts it)."""
        self._owners.pop(tool_id, None)
        future = self._pending.pop(tool_id, None)
        if future is not None:
            _settle(future, error=error)

    def cancel_call(self, call_id: int) -> int:
        """The host cancelled call ``call_id``: its pending tool calls raise
        :class:`~snakepit_bridge.errors.CallCancelled` at once, so the function unblocks and the
        worker is not left hung on a tool whose answer nobody wants. Returns how many."""
        from .errors import CallCancelled
        ids = [tool_id for tool_id, owner in list(self._owners.items()) if owner == call_id]
        for tool_id in ids:
            self.fail(tool_id, CallCancelled(f"call {call_id} was cancelled while it waited for a tool"))
        return len(ids)

    def close(self, reason: str) -> None:
        """Fail every pending call, and every later one, with :class:`ToolError` (host gone)."""
        self._closed = reason
        self._owners.clear()
        self._places.close()  # callers waiting for a place raise ToolError too
        while self._pending:
            _, future = self._pending.popitem()
            _settle(future, error=ToolError(reason))

    def disown(self, reason: str) -> None:
        """In a process forked from the worker: later calls fail with :class:`ToolError`; the
        pending ones are the worker's (their waiters did not survive the fork) and are dropped
        without settling, since a lock a vanished thread held would never be released."""
        self._closed = reason
        self._pending = {}
        self._owners = {}
        self._unanswered = set()
        self._places = StreamCredit(self._limit)
        self._places.close()

    def __len__(self) -> int:
        return len(self._pending)


def _nothing() -> None:
    pass


def _failed(error: BaseException) -> "Future[Any]":
    from concurrent.futures import Future
    future: "Future[Any]" = Future()
    future.set_exception(error)
    return future


def _settle(future: "Future[Any]", value: Any = None, error: Optional[BaseException] = None
            ) -> None:
    # The waiter may have given up (an async caller's task was cancelled, which cancels this).
    from concurrent.futures import InvalidStateError  # loaded already: a future exists
    try:
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(value)
    except InvalidStateError:
        pass


def _session_logger(session_id: str) -> logging.Logger:
    """A logger outside the logging registry (so that sessions do not leak loggers) that stamps
    its records with the session id.  Made on first use of ``session.log``: importing
    ``logging`` is left to the code that logs (see :mod:`afterimport`)."""
    import logging

    global _SessionLogger
    if _SessionLogger is None:
        class SessionLogger(logging.Logger):
            def __init__(self, session_id: str, parent: logging.Logger) -> None:
                super().__init__(f"{SESSION_LOGGER}.{session_id}")
                self.parent = parent
                self._session_id = session_id

            def isEnabledFor(self, level: int) -> bool:  # noqa: N802 - logging's name
                # Unregistered loggers miss the registry's cache invalidation, so do not cache.
                if self.disabled or self.manager.disable >= level:
                    return False
                return level >= self.getEffectiveLevel()

            def makeRecord(self, *args: Any, **kwargs: Any) -> logging.LogRecord:  # noqa: N802
                record = super().makeRecord(*args, **kwargs)
                record.snakepit_session_id = self._session_id
                return record

        _SessionLogger = SessionLogger
    return _SessionLogger(session_id, logging.getLogger(SESSION_LOGGER))


_SessionLogger: Any = None


#: Tool names the host reserves for session variables (``snakepit.variables.get`` …).
VARIABLES_TOOL = "snakepit.variables."


class HostVariables(MutableMapping):  # type: ignore[type-arg]
    """``session.variables``: a mapping that lives on the host, not in this worker.

    Every access is a round trip to the host (a reserved tool call), so values survive a crash
    of this worker, an environment restart, and a move of the session to another worker. Keys are
    strings; values are anything the codec carries. Blocking, like :meth:`Session.call_tool`.
    """

    __slots__ = ("_session",)

    def __init__(self, session: "Session") -> None:
        self._session = session

    def _call(self, op: str, *args: Any) -> Any:
        if self._session.id is None:
            raise ToolError("session variables need a session: call with a session id")
        return self._session.call_tool(VARIABLES_TOOL + op, *args)

    def __getitem__(self, key: str) -> Any:
        found, value = self._call("get", key)
        if not found:
            raise KeyError(key)
        return value

    def __setitem__(self, key: str, value: Any) -> None:
        """Store ``value`` on the host. Raises :class:`VariableLimitExceeded` when it would
        exceed a cap on host-held variable bytes (nothing is stored then)."""
        self._call("set", key, value)

    def __delitem__(self, key: str) -> None:
        if not self._call("delete", key):
            raise KeyError(key)

    def __iter__(self) -> Iterator[str]:
        return iter([key for key, _ in self._call("entries")])

    def __len__(self) -> int:
        return len(self._call("entries"))

    def to_dict(self) -> Dict[str, Any]:
        """All variables in one round trip."""
        return {key: value for key, value in self._call("entries")}


class Session:
    """What a function's ``session`` parameter receives (see the module docstring)."""

    __slots__ = ("_id", "state", "_log", "variables", "_tools", "_send")

    def __init__(self, session_id: Optional[str], state: Dict[str, Any], tools: ToolCalls,
                 send: Send) -> None:
        self._id = session_id
        #: Per-session state, shared by all calls of this session in this worker.
        self.state = state
        self._log: Optional[logging.Logger] = None
        self._tools = tools
        self._send = send
        #: Variables held by the host (survive worker crashes); see :class:`HostVariables`.
        self.variables = HostVariables(self)

    @property
    def log(self) -> logging.Logger:
        """A logger whose records reach the host with this session's id (``snakepit.session.<id>``;
        ``snakepit.session`` for a call made without a session)."""
        log = self._log
        if log is None:
            if self._id is None:
                import logging
                log = logging.getLogger(SESSION_LOGGER)
            else:
                log = _session_logger(str(self._id))
            # Two threads may both make one: equivalent, and the last one stays.
            self._log = log
        return log

    @property
    def id(self) -> Optional[str]:
        """The host's session id (None for a call made without a session). Read-only: it names
        the session, it does not choose it (the host takes that from the call)."""
        return self._id

    def call_tool(self, name: str, /, *args: Any, **kwargs: Any) -> Any:
        """Call the host tool ``name`` and wait for its result (blocks this thread).

        Raises :class:`ToolNotFound` or :class:`ToolError` when the tool fails.
        """
        tools = self._tools
        loop = tools.loop
        if loop is None or not loop.on_its_thread():
            return tools.start(name, args, kwargs, self.id).result()
        # Called from an ``async def``: the worker's event loop waits here with it, so a nested
        # ``async`` call the tool makes could not run (the dispatcher refuses it while this
        # counts). ``acall_tool`` is the way; a tool that does not call back still works.
        loop.block(self.id)
        try:
            return tools.start(name, args, kwargs, self.id).result()
        finally:
            loop.unblock(self.id)

    async def acall_tool(self, name: str, /, *args: Any, **kwargs: Any) -> Any:
        """Awaitable :meth:`call_tool` for ``async`` functions (does not block the loop)."""
        import asyncio
        return await asyncio.wrap_future(await self._tools.astart(name, args, kwargs, self.id))

    def telemetry(self, name: str, /, **data: Any) -> None:
        """Send a ``telemetry`` event with ``data`` to the host."""
        if not isinstance(name, str):  # the host would end the worker (see ToolCalls._prepare)
            raise TypeError(f"a telemetry event's name must be a str, got {type(name).__name__}")
        attachments: List[Any] = []
        encoded = encode_value(data, attachments, "telemetry.data", outer=True)
        self._send({"type": TELEMETRY, "name": name, "data": encoded, "session_id": self.id},
                   attachments)

    def __repr__(self) -> str:
        return f"Session(id={self.id!r}, state keys={sorted(map(str, self.state))})"


class Sessions:
    """Every session this worker has seen, by id."""

    def __init__(self, tools: ToolCalls, send: Send) -> None:
        self._tools = tools
        self._send = send
        self._sessions: Dict[str, Session] = {}
        self._lock = threading.Lock()

    def get(self, session_id: Optional[str], call: Any = None) -> Session:
        """The session for ``session_id``, created on first use (a throwaway one for None).

        ``call`` is the call that asks (anything with a ``session`` attribute): if a cleanup of
        its session arrived after it, the call runs with the session that cleanup dropped, which
        :meth:`cleanup` left in ``call.session``.
        """
        if session_id is None:
            return Session(None, {}, self._tools, self._send)
        session = self._sessions.get(session_id)
        # Read after the table, without the lock: a session found there that a cleanup has since
        # dropped is the one that cleanup pins (the same object), and one made after a cleanup
        # (by a call received after it) is found only once that cleanup has pinned this call.
        pinned = call.session if call is not None else None
        if pinned is not None:
            return pinned  # type: ignore[no-any-return]
        if session is None:
            with self._lock:
                if call is not None and call.session is not None:
                    return call.session  # type: ignore[no-any-return]
                session = self._sessions.get(session_id)
                if session is None:
                    session = Session(session_id, {}, self._tools, self._send)
                    self._sessions[session_id] = session
        return session

    def cleanup(self, session_id: Optional[str], received: Sequence[Any] = ()) -> bool:
        """Forget a session's state; True if it had any (had been used in this worker).

        ``received`` are the calls of that session this worker received before the cleanup and
        has not finished (queued, or running and perhaps not yet asking for their session). The
        cleanup comes after them: each is pinned to the session it drops (a fresh one if there
        was none), so they run with the state the cleanup found, share what they write, and it
        all goes when they end; the table is left for calls received after the cleanup. Without
        this, a queued call made the session again once it ran, and the worker kept state the
        host had forgotten, for a later session of that id to find.
        """
        with self._lock:
            dropped = self._sessions.pop(session_id, None)  # type: ignore[arg-type]
            if received and session_id is not None:
                detached = dropped if dropped is not None else Session(
                    session_id, {}, self._tools, self._send)
                for call in received:
                    # One pinned by an earlier cleanup keeps the session of its own time.
                    if call.session is None:
                        call.session = detached
            return dropped is not None

    def __contains__(self, session_id: object) -> bool:
        return session_id in self._sessions

    def __len__(self) -> int:
        return len(self._sessions)
