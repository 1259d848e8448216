"""What the worker does with each message from the host.

Handlers, by message type:

``call`` (function_call)
    ``importlib.import_module(module)``, then ``function`` looked up attribute by attribute
    (``"Class.method"`` works), called with ``args``/``kwargs``.  With ``SNAKEPIT_EXPOSE`` set,
    :mod:`snakepit_bridge.exposure` decides which names and walks are admitted (else
    ``ModuleNotAllowed``, with ``module`` and ``function`` in the error).  A keyword-only parameter
    named ``session`` receives the :class:`~snakepit_bridge.session.Session` (the signature is
    inspected once per function).  A coroutine result runs on the one asyncio loop.  With
    ``stream: true`` a generator or async generator sends one ``chunk`` per item and then
    ``end``; any other result is sent as a single ``chunk`` then ``end``.  Without ``stream``
    a generator's items are sent as one list.
``map`` (map_call)
    ``module.function(*item, **kwargs)`` for each item of ``items``, in order, on one execution
    slot (queued and cancelled like a ``call``); one ``map_result`` with a value or an error per
    item.  See :meth:`Dispatcher.map_call`.
``exec`` (code_execution)
    Only with ``SNAKEPIT_ALLOW_CODE=1`` (else ``CodeExecutionDisabled``).  The code runs with
    ``exec`` in a fresh namespace that starts as a copy of ``context``; the reply's ``value`` is
    an object of the names the code bound or rebound (a name whose value is no longer the
    identical object it was before), leaving out names starting with ``_``, modules, functions
    and classes.  The filename in tracebacks is ``<snakepit-exec>``.
``ping`` (health_check)
    ``pong`` with ``rss_bytes`` (current RSS from ``/proc/self/statm``; elsewhere the peak RSS
    from ``getrusage``), ``in_flight`` (calls accepted and not yet answered, queued ones
    included), ``served`` (calls answered) and ``pid``.
``cleanup_session``
    Drops that session's state; ``value`` is whether there was any.  Answered at once, it takes
    effect after the session's calls received before it: a queued call of the session (sent into
    the pipe before the cleanup) still runs, with the state the cleanup found, and what it writes
    there is dropped when it ends; calls received after the cleanup start the session afresh.
    See :meth:`~snakepit_bridge.session.Sessions.cleanup`.
``cancel``
    A queued call is dropped and answered at once with ``CallCancelled`` whose error carries
    ``started: false`` (it never ran, so the host may run it elsewhere).  A running ``async``
    call has its task cancelled (``CallCancelled``).  A running generator stops before its next
    chunk (``CallCancelled``).  A running plain function cannot be interrupted: it finishes and
    its reply is sent anyway (the host ignores it).  With ``queued_only: true`` a running call
    is left alone: the host uses it to take back calls that wait behind an abandoned one.
``tool_result``
    Completes the :meth:`Session.call_tool` waiting for it.

``call``, ``map`` and ``exec`` run at most ``concurrency`` at a time; more wait in a FIFO queue.  Which
thread runs them, and who reads meanwhile, is :mod:`snakepit_bridge.serving`'s business:
:meth:`Dispatcher.accept` takes each envelope from the reading thread, answers the others at
once (so they overtake queued calls) and hands back a call that may start now.  ``shutdown`` is
the worker's business (:mod:`snakepit_bridge.worker`).

An exception becomes an ``error`` reply (:func:`error_details`): ``type`` from
:func:`~snakepit_bridge.errors.wire_type`, ``message`` is ``str(exc)``, ``traceback`` the
formatted traceback without the bridge's own leading frames (it starts at the user's code), and
for a ``SerializationError`` its ``path`` and ``type_name``.  Every call gets its reply at once,
whatever it raised: a ``BaseException`` (``SystemExit``, ``KeyboardInterrupt``,
``GeneratorExit``) is that call's error and the worker keeps serving; an exception whose
``__str__``/``__repr__`` raise is ``<unprintable TypeName>``; a traceback that cannot be
formatted is replaced by the exception line; texts too long for a frame are cut.
"""
from __future__ import annotations

import os
import sys
import threading
import types
from collections import deque

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only (see docs/decisions.md)
    from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple
    #: Sends one envelope; returns its frame's ``bodyLength`` (None from a test double: counted as 0).
    Send = Callable[[Dict[str, Any], Sequence[Any]], Any]

from . import forkchild
from .codec import (EXT_PENDING, clip_text, current_limits, encode_message, encode_value,
                    key_segment)
from .customtypes import resolve as resolve_custom
from .context import CallContext, current_call
from .errors import (AsyncLoopBlocked, CallCancelled, CodeExecutionDisabled, FrameTooLarge,
                     ModuleNotAllowed, ProtocolError, SerializationError, exception_message,
                     wire_type)
from .exposure import Exposure, resolve
from .hostlog import flush_call_output, unfinished as _unfinished_lines
from .lazyre import LazyPattern
from .aioloop import LoopThread
from .credit import StreamCredit
from .protocol import (CALL, CANCEL, CHUNK, CLEANUP_SESSION, CREDIT, END, ERROR, EXEC, MAP,
                       MAP_RESULT, PING, PONG, RESULT, STREAM_BYTE_WINDOW, TOOL_RESULT)
from .session import Sessions, ToolCalls


_QUEUED, _RUNNING, _CANCELLED = 0, 1, 2

# Results that need no look at generators/awaitables before encoding.
_PLAIN_RESULTS = frozenset((str, int, float, bool, type(None), list, dict, tuple, bytes))
# Bound names that code execution does not report.
_NOT_REPORTED = (types.ModuleType, types.FunctionType, types.BuiltinFunctionType,
                 types.MethodType, type)

# Where a map_result's item value is in a SerializationError's path: the index and the rest.
_ITEM_PATH = LazyPattern(r"(?s)^values\[(\d+)\](.*)$")

# Fields of an error reply that may be cut when even the reply is too large for a frame.
_CUTTABLE = ("message", "traceback", "path")

#: How long (seconds) a serving thread waits for an ``async`` call's result before it hands on
#: the reading it may hold: the call may be waiting for the host (see serving.py).
_AWAIT_BEFORE_HANDING_ON = 0.002

#: Names resolved and cached at most, and the longest name cached (module and function), as the
#: host caches its own: past these, names are resolved again on each call.
_MAX_CACHED_FUNCTIONS = 4096
_MAX_CACHED_NAME = 256

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep
# Frames of the standard library that sit between the bridge and user code.
_PLUMBING = (_PACKAGE_DIR, "<frozen importlib") + tuple(
    os.path.join(os.path.dirname(os.path.abspath(threading.__file__)), name) + os.sep
    for name in ("concurrent", "asyncio", "importlib"))


class Call:
    """A ``call`` or ``exec`` this worker accepted and has not answered yet."""

    __slots__ = ("id", "envelope", "state", "cancelled", "future", "credit", "session")

    def __init__(self, envelope: Dict[str, Any]) -> None:
        self.id: int = envelope["id"]
        self.envelope = envelope
        self.state = _QUEUED
        #: Set by ``cancel`` while running; generators check it between items.
        self.cancelled = False
        #: The concurrent future of the asyncio task, while one runs for this call.
        self.future: Any = None
        #: A stream's flow control, when the host gave it a ``window`` (see credit.py); its bytes
        #: are bounded too, by the protocol's constant.
        self.credit: Optional[StreamCredit] = None
        if envelope.get("stream") is True:
            window = envelope.get("window")
            if type(window) is int and window > 0:
                self.credit = StreamCredit(window, STREAM_BYTE_WINDOW)
        #: Set by a cleanup of this call's session that arrived after this call: the session it
        #: dropped, which this call still runs with (see ``Sessions.cleanup``).
        self.session: Optional[Any] = None


class Dispatcher:
    """Routes envelopes to handlers and owns what they share (see the module docstring)."""

    def __init__(self, send: Send, *, concurrency: int = 1, allow_code: bool = False,
                 exposure: Optional[Exposure] = None) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self._send = send
        self.concurrency = concurrency
        self.allow_code = allow_code
        #: The host's allowlist (``SNAKEPIT_EXPOSE``); None admits every name.
        self.exposure = exposure
        self.tools = ToolCalls(send)
        self.tools.running_call_of = self._running_call_of
        self.tools.call_is_nested = self._call_is_nested
        self.sessions = Sessions(self.tools, send)
        #: False once shutting down: calls that arrive later are ignored.
        self.accepting = True
        self._functions: Dict[Tuple[str, str], Tuple[Callable[..., Any], bool]] = {}
        self._calls: Dict[int, Call] = {}
        self._queue: "deque[Call]" = deque()
        self._running = 0
        #: The server's :class:`~snakepit_bridge.busywait.BusyWait`, reported in ``stats``.
        self.busy_wait: Optional[Any] = None
        self._lock = threading.Lock()
        self._in_flight = 0
        self._served = 0
        self._loop = LoopThread()
        self.tools.loop = self._loop
        self._inline: Dict[str, Callable[[Dict[str, Any]], None]] = {
            PING: self.health_check,
            CANCEL: self.cancel,
            CLEANUP_SESSION: self.cleanup_session,
            TOOL_RESULT: self.tools.resolve,
            CREDIT: self.credit,
        }

    # -- scheduling (called by the serving threads) ------------------------------------------

    def accept(self, envelope: Dict[str, Any]) -> Optional[Call]:
        """Take one decoded envelope (not ``shutdown``) from the reading thread.

        Messages other than calls are answered now.  A call is registered and returned when a
        slot is free (the caller must :meth:`run` it, then :meth:`finish` it), else queued.
        """
        kind = envelope["type"]
        if kind == CALL or kind == EXEC or kind == MAP:
            if type(envelope.get("id")) is not int:
                raise ProtocolError(f"{kind} without an integer id")
            if not self.accepting:
                return None
            call = Call(envelope)
            with self._lock:
                self._calls[call.id] = call
                self._in_flight += 1
                # A nested call (made by a host tool for a call of this worker that waits on
                # that tool) runs even without a free slot: the waiting call's slot is idle, and
                # queueing it behind that call would deadlock.
                if self._running < self.concurrency or envelope.get("nested") is True:
                    self._running += 1
                    call.state = _RUNNING
                    return call
                self._queue.append(call)
            return None
        handler = self._inline.get(kind)
        if handler is None:
            sys.stderr.write(f"snakepit_bridge: ignoring a message of unknown type {kind!r}\n")
            return None
        handler(envelope)
        return None

    def run(self, call: Call) -> None:
        """Run an accepted call to its reply (never raises)."""
        envelope = call.envelope
        token = current_call.set(CallContext.of(call.id, envelope))
        try:
            kind = envelope["type"]
            if kind == CALL:
                self.function_call(call)
            elif kind == MAP:
                self.map_call(call)
            else:
                self.code_execution(call)
        except BaseException as e:  # noqa: B902 - handlers answer their own errors; a bridge bug
            import traceback
            traceback.print_exc(file=sys.stderr)
            # Whatever went wrong, the caller must not wait for its deadline.
            self._send_error(call.id, e)
        finally:
            flush_call_output()  # a last line without a newline is still this call's
            current_call.reset(token)

    def finish(self, call: Call) -> Optional[Call]:
        """Free ``call``'s slot once :meth:`run` has answered it; returns the next queued call,
        which takes the slot over."""
        with self._lock:
            # Counted here rather than at the end of ``run``: one lock per call less.
            self._calls.pop(call.id, None)
            self._in_flight -= 1
            self._served += 1
            # Above the limit (a nested call just ended) the slot is not handed on.
            if self._queue and self._running <= self.concurrency:
                successor = self._queue.popleft()
                successor.state = _RUNNING
                return successor
            self._running -= 1
            return None

    def disown(self) -> None:
        """In a process a call forked from the worker: it makes no reply (its code came back to
        the worker, so it exits there) and no tool call (see :mod:`snakepit_bridge.forkchild`).
        Swapped in here, so the worker's own replies pay nothing for it."""
        self._send = _leave_instead
        self.tools.disown("this process was forked from a worker: it has no connection to the host")

    def close(self) -> None:
        """Stop the event loop thread, if one was started."""
        self._loop.stop()

    @property
    def running(self) -> int:
        """Calls running now (read without the lock: a hint that may be a moment old)."""
        return self._running

    def idle(self) -> bool:
        """True when no call is running or queued."""
        with self._lock:
            return self._running == 0 and not self._queue

    def undecodable(self, envelope: Dict[str, Any], error: SerializationError) -> None:
        """Answer a message whose values could not be rebuilt (the envelope itself parsed)."""
        kind = envelope.get("type")
        message_id = envelope.get("id")
        if kind in (CALL, EXEC, MAP) and type(message_id) is int:
            self._send_error(message_id, error)
        elif kind == TOOL_RESULT:
            self.tools.refused(message_id, error)
        else:
            sys.stderr.write(f"snakepit_bridge: cannot decode a {kind!r} message: {error}\n")

    def stats(self) -> Dict[str, Any]:
        """The ``stats`` of a ``pong``."""
        with self._lock:
            in_flight, served = self._in_flight, self._served
        stats: Dict[str, Any] = {"rss_bytes": rss_bytes(), "in_flight": in_flight,
                                 "served": served, "pid": os.getpid()}
        waiting = self.busy_wait
        if waiting is not None:
            stats["busy_wait"] = {"hits": waiting.hits, "misses": waiting.misses_total,
                                  "skipped": waiting.skipped}
        return stats

    # -- inline handlers ---------------------------------------------------------------------

    def health_check(self, envelope: Dict[str, Any]) -> None:
        """``ping`` → ``pong`` with stats."""
        self._send({"type": PONG, "id": envelope.get("id"), "stats": self.stats()}, ())

    def cleanup_session(self, envelope: Dict[str, Any]) -> None:
        """``cleanup_session`` → ``result`` true if the session had state.

        Answered now, ahead of queued calls like ``ping``, but ordered after the calls of the
        session already received: they are handed the session it drops (``Sessions.cleanup``).
        Only the reading thread accepts calls, and this runs on it, so the calls found here are
        exactly those that came before the cleanup in the input.
        """
        session_id = envelope.get("session_id")
        with self._lock:
            received = [call for call in self._calls.values()
                        if call.envelope.get("session_id") == session_id]
        existed = self.sessions.cleanup(session_id, received)
        self._send({"type": RESULT, "id": envelope.get("id"), "value": existed}, ())

    def cancel(self, envelope: Dict[str, Any]) -> None:
        """``cancel``: drop a queued call, or flag/cancel a running one (unless ``queued_only``)."""
        with self._lock:
            call = self._calls.get(envelope.get("id"))  # type: ignore[arg-type]
            if call is None:
                return
            if call.state == _QUEUED:
                call.state = _CANCELLED
                self._queue.remove(call)
                del self._calls[call.id]
                self._in_flight -= 1
                self._served += 1
                dropped = True
            elif envelope.get("queued_only") is True:
                return
            else:
                call.cancelled = True
                dropped = False
                if call.credit is not None:
                    call.credit.close()  # a stream waiting for credit stops
            future = call.future
        if dropped:
            # ``started: false`` is what lets the host re-run the call elsewhere without ever
            # running it twice; the message alone would not be a contract.
            self._send({"type": ERROR, "id": call.id,
                        "error": {"type": CallCancelled.__name__, "message": "cancelled before it started",
                                  "traceback": "", "started": False}}, ())
            return
        if future is not None:
            future.cancel()
        # A call blocked in session.call_tool stops waiting (it raises CallCancelled).
        self.tools.cancel_call(call.id)

    def credit(self, envelope: Dict[str, Any]) -> None:
        """``credit``: stream ``id``'s consumer took ``n`` more chunks (unknown ids: ignored)."""
        n = envelope.get("n")
        call = self._calls.get(envelope.get("id"))  # type: ignore[arg-type]
        if call is not None and call.credit is not None and type(n) is int and n > 0:
            call.credit.grant(n)

    # -- call handlers (on the thread that runs the call) --------------------------------------

    def function_call(self, call: Call) -> None:
        """Run a ``call`` and send its reply (``result``, ``chunk``s and ``end``, or ``error``)."""
        envelope = call.envelope
        try:
            function, wants_session = self._resolve(envelope.get("module"),
                                                    envelope.get("function"))
            if envelope.get(EXT_PENDING):
                # Custom types whose decoder the module just imported may have registered.
                _resolve_values(envelope, ("args", "kwargs"))
            args = envelope.get("args") or []
            kwargs = envelope.get("kwargs") or {}
            # A host's `tuple(...)` of arguments arrives as a tuple: as good an argument list.
            if (type(args) is not list and type(args) is not tuple) or type(kwargs) is not dict:
                raise TypeError("'args' must be an array and 'kwargs' an object")
            if wants_session:
                kwargs["session"] = self.sessions.get(envelope.get("session_id"), call)
            result = function(*args, **kwargs)
            if type(result) not in _PLAIN_RESULTS and _is_awaitable(result):
                result = self._await(call, result)
            if envelope.get("stream"):
                self._stream(call, result)
                return
            if type(result) not in _PLAIN_RESULTS:
                if isinstance(result, types.GeneratorType):
                    result = self._collect(call, result)
                elif isinstance(result, types.AsyncGeneratorType):
                    result = self._await(call, _acollect(call, result))
        except BaseException as e:  # noqa: B902 - every failure is the caller's answer
            self._send_error(call.id, e)
            return
        if _unfinished_lines:  # what the call printed last, unfinished, precedes its reply
            flush_call_output()
        self._send_value(RESULT, call.id, result, "result")

    def map_call(self, call: Call) -> None:
        """Run a ``map``: ``module.function(*item, **kwargs)`` for each item of ``items``, in
        order, and send one ``map_result`` for them all.

        Each item fails alone: an exception, or a value that cannot be encoded (a limit, an
        unsupported type), becomes that item's entry in ``errors``, with the same details an
        ``error`` reply to a single ``call`` would carry, and the next item runs.  The chunk as a
        whole fails (one ``error`` reply) when the function cannot be resolved or is not
        admitted, when ``items`` is not a list of lists, when the host cancels it (checked
        between items), or when the reply is too large for ``maxValueBytes``/``maxFrameBytes``.
        """
        envelope = call.envelope
        try:
            function, wants_session = self._resolve(envelope.get("module"),
                                                    envelope.get("function"))
            if envelope.get(EXT_PENDING):
                _resolve_values(envelope, ("items", "kwargs"))
            items = envelope.get("items")
            kwargs = envelope.get("kwargs") or {}
            if type(items) is not list or type(kwargs) is not dict or \
                    any(type(item) is not list and type(item) is not tuple for item in items):
                raise TypeError("'items' must be an array of arrays and 'kwargs' an object")
            if wants_session:
                kwargs["session"] = self.sessions.get(envelope.get("session_id"), call)
        except BaseException as e:  # noqa: B902 - every failure is the caller's answer
            self._send_error(call.id, e)
            return
        attachments: List[Any] = []
        values: List[Any] = []
        errors: List[Dict[str, Any]] = []
        # Each item's result as returned, kept while the reply is written: an item dropped then
        # takes its attachments with it, so the others are encoded again (see below).
        results: List[Any] = []
        for index, args in enumerate(items):
            if call.cancelled:
                self._send_error(call.id, CallCancelled("cancelled while running"))
                return
            # Each item's attachments are kept only when its value encoded whole.
            mark = len(attachments)
            try:
                result = self._outcome(call, function(*args, **kwargs))
                values.append(encode_value(result, attachments, "result"))
                results.append(result)
            except BaseException as e:  # noqa: B902 - the item's own answer
                del attachments[mark:]
                flush_call_output()
                if isinstance(e, SerializationError) and e.unsupported:
                    e.of_call(f"{envelope.get('module')}.{envelope.get('function')}")
                values.append(None)
                results.append(None)
                errors.append({"index": index, "error": error_details(e)})
        flush_call_output()
        message = {"type": MAP_RESULT, "id": call.id, "values": values, "errors": errors}
        # A string the reply cannot carry (over maxStringBytes, a lone surrogate) is found only
        # when the whole reply is written; it names the item it is in, and that item alone
        # fails.  Then every other item is checked on its own, once, so that all such items fail
        # in one pass: the whole reply written again for each of n items cost n².  (Each pass
        # drops an item at least, so this ends.)
        for _ in range(len(values) + 1):
            try:
                self._send(message, attachments)
                return
            except SerializationError as e:
                index = _failed_item(e, values)
                if index is None:
                    self._send_error(call.id, e)
                    return
                refused = {index: e}
                for i, value in enumerate(values):
                    if i != index and value is not None:
                        alone = _item_refusal(value)
                        if alone is not None:
                            refused[i] = alone
                for i, refusal in refused.items():
                    values[i] = None
                    results[i] = None
                    errors.append({"index": i, "error": error_details(refusal)})
                errors.sort(key=lambda entry: entry["index"])
                message.pop("att", None)
                if attachments:
                    # Its attachments go too: a reply whose attachments outnumber the tags that
                    # name them is refused by the host (src/protocol/frame.ts). The other items
                    # encoded whole once; one that now fails (an encoder that changed its mind)
                    # fails alone.
                    attachments = []
                    failed = {entry["index"] for entry in errors}
                    for i, result in enumerate(results):
                        if i in failed:
                            continue
                        mark = len(attachments)
                        try:
                            values[i] = encode_value(result, attachments, "result")
                        except BaseException as again:  # noqa: B902 - the item's own answer
                            del attachments[mark:]
                            values[i] = None
                            results[i] = None
                            errors.append({"index": i, "error": error_details(again)})
                    errors.sort(key=lambda entry: entry["index"])
            except FrameTooLarge as e:
                self._send_error(call.id, e)
                return

    def _outcome(self, call: Call, result: Any) -> Any:
        """A plain call's result as it is sent: awaited, a generator's items as a list."""
        if type(result) in _PLAIN_RESULTS:
            return result
        if _is_awaitable(result):
            result = self._await(call, result)
        if isinstance(result, types.GeneratorType):
            return self._collect(call, result)
        if isinstance(result, types.AsyncGeneratorType):
            return self._await(call, _acollect(call, result))
        return result

    def code_execution(self, call: Call) -> None:
        """Run an ``exec`` and reply with the names it bound (see the module docstring)."""
        envelope = call.envelope
        try:
            if not self.allow_code:
                raise CodeExecutionDisabled(
                    "code execution is disabled; start the worker with SNAKEPIT_ALLOW_CODE=1")
            if envelope.get(EXT_PENDING):
                _resolve_values(envelope, ("context",))
            code = envelope.get("code")
            context = envelope.get("context") or {}
            if type(code) is not str or type(context) is not dict:
                raise TypeError("'code' must be a string and 'context' an object")
            namespace: Dict[str, Any] = dict(context)
            before = dict(namespace)
            exec(compile(code, "<snakepit-exec>", "exec"), namespace)  # noqa: S102 - the point
            attachments: List[Any] = []
            bound: Dict[str, Any] = {}
            for name, value in namespace.items():
                if name.startswith("_") or isinstance(value, _NOT_REPORTED):
                    continue
                if name in before and before[name] is value:
                    continue
                bound[name] = encode_value(value, attachments, "result" + key_segment(name))
        except BaseException as e:  # noqa: B902
            self._send_error(call.id, e)
            return
        flush_call_output()
        self._send_encoded({"type": RESULT, "id": call.id, "value": bound}, attachments)

    # -- helpers -----------------------------------------------------------------------------

    def _name_call(self, call_id: int, error: SerializationError) -> None:
        """Say in ``error``'s message which function's value could not be encoded."""
        with self._lock:
            call = self._calls.get(call_id)
        envelope = call.envelope if call is not None else {}
        module, function = envelope.get("module"), envelope.get("function")
        if envelope.get("type") == CALL and type(module) is str and type(function) is str:
            error.of_call(f"{module}.{function}")

    def _running_call_of(self, session_id: str) -> Optional[int]:
        """The id of the call of ``session_id`` that started running here last (not one queued),
        else None: in a chain of nested calls, the deepest, the only one whose code runs (the
        others wait for it in a tool call)."""
        with self._lock:
            for call in reversed(self._calls.values()):
                if call.state == _RUNNING and call.envelope.get("session_id") == session_id:
                    return call.id
        return None

    def _call_is_nested(self, call_id: Optional[int]) -> bool:
        """Whether call ``call_id`` (in flight here) is a nested one."""
        call = self._calls.get(call_id) if call_id is not None else None  # one atomic dict read
        return call is not None and call.envelope.get("nested") is True

    def _resolve(self, module: Any, function: Any) -> Tuple[Callable[..., Any], bool]:
        key = (module, function)
        hit = self._functions.get(key)  # type: ignore[arg-type]
        if hit is not None:
            return hit
        if type(module) is not str or type(function) is not str:
            raise TypeError("a call needs string 'module' and 'function'")
        target = resolve(self.exposure, module, function)
        hit = (target, _wants_session(target))
        # Bounded as the host's own cache is: admitted names can be long and many (an Enum
        # member's attributes hold the other members: `Color.RED.RED.RED…` of any length).
        if len(module) + len(function) <= _MAX_CACHED_NAME:
            if len(self._functions) >= _MAX_CACHED_FUNCTIONS:
                self._functions.clear()
            self._functions[key] = hit
        return hit

    def _take_credit(self, credit: StreamCredit) -> bool:
        """One chunk's credit for a stream; waiting for the host's, the thread first hands on
        the reading it may hold (the credit must be read by another thread)."""
        if credit.take(wait=False):
            return True
        self.tools.before_block()
        return credit.take()

    def _await(self, call: Call, awaitable: Any) -> Any:
        """Run ``awaitable`` on the event loop for ``call`` and wait for it here."""
        import asyncio
        import concurrent.futures
        envelope = call.envelope
        if envelope.get("nested") is True and self._loop.blocked_by(envelope.get("session_id")):
            # A host tool called back while a call of this session holds the loop in a
            # ``call_tool`` made from an ``async def``: the call that waits for this one (a
            # nested call is made for a call of its session that waits on a tool). It would
            # never run. A nested call of another session only waits for the loop.
            # Closed unstarted, so Python does not warn of a coroutine never awaited.
            close = getattr(awaitable, "close", None)
            if close is not None:
                close()
            raise AsyncLoopBlocked(
                "this async call cannot run: the worker's event loop is blocked in "
                "session.call_tool(), called from an async def that waits for this call; "
                "use 'await session.acall_tool(...)' in async functions")
        context = CallContext.of(call.id, call.envelope)
        future = asyncio.run_coroutine_threadsafe(_in_context(context, awaitable),
                                                  self._loop.get())
        call.future = future
        if call.cancelled:
            future.cancel()
        try:
            try:
                return future.result(_AWAIT_BEFORE_HANDING_ON)
            except concurrent.futures.TimeoutError:
                # Still running: it may wait for the host (``acall_tool``, a nested call), whose
                # answer another thread must read.
                self.tools.before_block()
            return future.result()
        except concurrent.futures.CancelledError:
            # The future reads cancelled at once, even while the loop is blocked (a blocking call
            # in an ``async def``) or has stopped: the cancel is confirmed only once the loop runs
            # again. Until then this call stays running, and the host ends the worker as hung
            # after its grace, rather than hand every later ``async`` call to a dead loop.
            self._loop.wait_until_it_runs()
            raise CallCancelled("cancelled while running") from None
        except _Escaped as escaped:
            raise escaped.error from None
        finally:
            call.future = None

    def _collect(self, call: Call, generator: Any) -> List[Any]:
        items = []
        most = _most_items()
        try:
            for item in generator:
                if call.cancelled:
                    raise CallCancelled("cancelled while running")
                if len(items) == most:
                    raise _too_many_items(most)
                items.append(item)
        finally:
            generator.close()
        return items

    def _stream(self, call: Call, result: Any) -> None:
        if isinstance(result, types.AsyncGeneratorType):
            if not self._await(call, _astream(self, call, result)):
                return
        elif isinstance(result, types.GeneratorType) or _is_iterator(result):
            try:
                credit = call.credit
                for index, item in enumerate(result):
                    if call.cancelled or (credit is not None and not self._take_credit(credit)):
                        raise CallCancelled("cancelled while running")
                    if not self._send_value(CHUNK, call.id, item, f"chunks[{index}]", credit):
                        return
            finally:
                close = getattr(result, "close", None)
                if close is not None:
                    close()
        elif not self._send_value(CHUNK, call.id, result, "chunks[0]"):
            return
        flush_call_output()
        self._send({"type": END, "id": call.id}, ())

    def _send_value(self, kind: str, call_id: int, value: Any, root: str,
                    credit: Optional[StreamCredit] = None) -> bool:
        """Send ``{type: kind, id, value}``; on failure send an ``error`` instead (False).

        ``root`` names the value in a ``SerializationError``'s path (``result``, ``chunks[3]``).
        A stream's chunk is recorded in its ``credit`` once sent (its bytes count until credited).
        """
        attachments: List[Any] = []
        try:
            encoded = encode_value(value, attachments, root)
        except BaseException as e:  # noqa: B902 - a user hook's failure is this call's answer
            self._send_error(call_id, e)
            return False
        return self._send_encoded({"type": kind, "id": call_id, "value": encoded}, attachments,
                                  root, credit)

    def _send_encoded(self, message: Dict[str, Any], attachments: List[Any],
                      root: Optional[str] = None, credit: Optional[StreamCredit] = None) -> bool:
        try:
            size = self._send(message, attachments)
        except (SerializationError, FrameTooLarge) as e:
            if root is not None and isinstance(e, SerializationError) and e.path is not None:
                e.reroot(root)
            self._send_error(message["id"], e)
            return False
        if credit is not None:
            credit.sent(size if type(size) is int else 0)
        return True

    def _send_error(self, call_id: int, error: BaseException) -> None:
        """Answer ``call_id`` with ``error``; never raises (a reply that cannot be sent at all,
        because even a cut one exceeds the frame limit, is reported on stderr)."""
        # What the call printed must reach the host before its error (PythonError.output).
        flush_call_output()
        if isinstance(error, SerializationError) and error.unsupported:
            self._name_call(call_id, error)
        details = error_details(error)
        for cap in (None, 4096, 0):
            if cap is not None:
                details = {key: clip_text(text, cap) if key in _CUTTABLE else text
                           for key, text in details.items()}
            try:
                self._send({"type": ERROR, "id": call_id, "error": details}, ())
                return
            except SerializationError:  # text that is not valid UTF-8 (lone surrogates)
                details = {key: text.encode("utf-8", "backslashreplace").decode("utf-8")
                           for key, text in details.items()}
                try:
                    self._send({"type": ERROR, "id": call_id, "error": details}, ())
                    return
                except (SerializationError, FrameTooLarge):
                    continue
            except FrameTooLarge:
                continue
            except Exception:  # noqa: BLE001 - cannot reply at all; say so where a human looks
                break
        try:
            sys.stderr.write(f"snakepit_bridge: could not send the error reply of call "
                             f"{call_id} ({details.get('type')})\n")
        except Exception:  # noqa: BLE001 - nowhere left to report to
            pass


# -- module helpers -----------------------------------------------------------------------------

def _resolve_values(envelope: Dict[str, Any], fields: Tuple[str, ...]) -> None:
    """Rebuild the custom-type values of ``fields`` that awaited a decoder (customtypes.py)."""
    for field in fields:
        if field in envelope:
            envelope[field] = resolve_custom(envelope[field])
    envelope.pop(EXT_PENDING, None)


class _Escaped(Exception):
    """Carries a ``SystemExit``/``KeyboardInterrupt`` out of the event loop: asyncio re-raises
    those from its loop, which would stop it for every later ``async`` call."""

    def __init__(self, error: BaseException) -> None:
        super().__init__()
        self.error = error


async def _in_context(context: CallContext, awaitable: Any) -> Any:
    current_call.set(context)
    try:
        result = await awaitable
    except BaseException as e:
        if forkchild.is_forked():
            forkchild.leave()  # a child forked on the loop: its code is back at the worker's
        if isinstance(e, (SystemExit, KeyboardInterrupt)):
            raise _Escaped(e) from None
        raise
    # A child forked through libc on the loop would otherwise idle there for ever: nothing on
    # the loop thread reads or writes a frame (is_forked is a system call: async calls only).
    if forkchild.is_forked():
        forkchild.leave()
    return result


def _most_items() -> int:
    """The most items of a generator a plain call's result can hold: each takes at least two
    bytes of its JSON (``0,``), so more cannot fit ``maxValueBytes`` (nor the reply's frame). An
    endless generator called without ``stream`` is stopped there, rather than fill the worker's
    memory until its deadline."""
    return current_limits().max_value_bytes // 2 + 1


def _too_many_items(most: int) -> SerializationError:
    return SerializationError(
        f"the generator yielded more than {most} items, more than a result within maxValueBytes "
        f"({current_limits().max_value_bytes} bytes) can hold: call it with stream (bridge.stream) "
        "to have its items one at a time", type_name="builtins.generator")


async def _acollect(call: Call, agen: Any) -> List[Any]:
    items = []
    most = _most_items()
    try:
        async for item in agen:
            if call.cancelled:
                raise CallCancelled("cancelled while running")
            if len(items) == most:
                raise _too_many_items(most)
            items.append(item)
    finally:
        await agen.aclose()
    return items


async def _astream(dispatcher: Dispatcher, call: Call, agen: Any) -> bool:
    try:
        index = 0
        credit = call.credit
        async for item in agen:
            if call.cancelled or (credit is not None and not await credit.atake()):
                raise CallCancelled("cancelled while running")
            if not dispatcher._send_value(CHUNK, call.id, item, f"chunks[{index}]", credit):
                return False
            index += 1
    finally:
        await agen.aclose()
    return True


def _leave_instead(message: Dict[str, Any], attachments: Sequence[Any]) -> None:
    forkchild.leave()


def _is_awaitable(value: Any) -> bool:
    if isinstance(value, types.CoroutineType):
        return True
    if isinstance(value, (types.GeneratorType, types.AsyncGeneratorType)):
        return False
    return hasattr(type(value), "__await__")


def _is_iterator(value: Any) -> bool:
    cls = type(value)
    return hasattr(cls, "__next__") and hasattr(cls, "__iter__")


def _wants_session(function: Callable[..., Any]) -> bool:
    """True when ``function`` has a keyword-only parameter named ``session``."""
    import inspect
    try:
        parameter = inspect.signature(function).parameters.get("session")
    except (TypeError, ValueError):
        return False
    return parameter is not None and parameter.kind is inspect.Parameter.KEYWORD_ONLY


def _failed_item(error: SerializationError, values: List[Any]) -> Optional[int]:
    """The index of the item of a ``map_result`` that ``error`` refused (at ``values[i]…``),
    with ``error`` moved to that item's ``result``; None (``error`` unchanged) if no item of
    ``values`` holds what it names."""
    match = _ITEM_PATH.match(error.path or "")
    index = int(match.group(1)) if match else -1
    if not 0 <= index < len(values) or values[index] is None:
        return None
    error.rel = match.group(2)  # type: ignore[union-attr]
    error.locate("result")
    return index


def _item_refusal(value: Any) -> Optional[SerializationError]:
    """What refuses a ``map_result`` that holds only ``value`` (an item's encoded result): the
    item's own error, as the whole reply's would be if it were the first; else None."""
    try:
        encode_message({"type": MAP_RESULT, "values": [value]}, [])
    except SerializationError as e:
        if _failed_item(e, [value]) == 0:
            return e
    return None


def error_details(error: BaseException) -> Dict[str, str]:
    """The ``error`` object of an ``error`` reply for ``error``; never raises.

    ``message`` and ``traceback`` are each cut to ``max_string_bytes`` (and a quarter of
    ``max_value_bytes``), so that they fit the reply's frame. Text that is not valid UTF-8 (a
    lone surrogate, as ``os.listdir`` decodes a name that is not UTF-8) is escaped
    (``\\udcff``): one item's error in a ``map_result`` must not fail the whole chunk.
    """
    limits = current_limits()
    cap = max(64, min(limits.max_string_bytes, limits.max_value_bytes // 4))

    def text(value: str) -> str:
        # Escaped before it is cut: escaping after would let it grow past the cap again.
        return clip_text(_well_formed(value), cap)

    details = {"type": _well_formed(wire_type(error)),
               "message": text(exception_message(error)),
               "traceback": text(format_traceback(error))}
    if issubclass(type(error), SerializationError):
        path = getattr(error, "path", None)
        type_name = getattr(error, "type_name", None)
        if type(path) is str:
            details["path"] = text(path)
        if type(type_name) is str:
            details["type_name"] = _well_formed(type_name)
    elif issubclass(type(error), ModuleNotAllowed):
        module = getattr(error, "module", None)
        function = getattr(error, "function", None)
        if type(module) is str:
            details["module"] = text(module)
        if type(function) is str:
            details["function"] = text(function)
    return details


def _well_formed(value: str) -> str:
    """``value`` with what is not valid UTF-8 (lone surrogates) escaped as ``\\udcff``."""
    return value.encode("utf-8", "backslashreplace").decode("utf-8")


def format_traceback(error: BaseException) -> str:
    """``error``'s traceback, starting at the first frame outside the bridge's plumbing.

    Never raises: formatting runs user code (``__str__``, a module loader's ``get_source``); if
    it fails, the exception line alone, and failing that a placeholder.
    """
    try:
        return _format_traceback(error)
    except BaseException:  # noqa: B902 - the error must be reported anyway
        pass
    try:
        import traceback
        return "".join(traceback.format_exception_only(type(error), error))
    except BaseException:  # noqa: B902
        return f"{wire_type(error)}: {exception_message(error)}\n" \
               "(the traceback could not be formatted)\n"


def _format_traceback(error: BaseException) -> str:
    import traceback
    tb = error.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename.startswith(_PLUMBING):
        tb = tb.tb_next
    if tb is None:
        lines = traceback.format_exception_only(type(error), error)
    else:
        lines = traceback.format_exception(type(error), error, tb)
    return "".join(lines)


def rss_bytes() -> int:
    """Current resident set size in bytes (peak RSS where ``/proc`` is missing)."""
    try:
        with open("/proc/self/statm", "rb") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        try:
            import resource
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        except Exception:  # no file descriptor left to import it: a health check still answers
            return 0
        return peak if sys.platform == "darwin" else peak * 1024
