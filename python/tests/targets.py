"""Functions the dispatcher tests call by module name."""
import asyncio
import logging
import threading
import time

log = logging.getLogger("targets")
started = threading.Event()
#: What :func:`wait_for_gate` waits for (a test sets it).
gate = threading.Event()


class CustomError(Exception):
    pass


class Greeter:
    @staticmethod
    def hello(name):
        return f"hello {name}"


def raise_custom():
    raise CustomError("custom")


def returns_object():
    return object()


def returns_bytes(n):
    return b"x" * n


def positional_session(session=None):
    return session


def session_info(*, session):
    session.log.warning("from %s", session.id)
    session.telemetry("used", n=1, tags=("a",))
    return [session.id, sorted(session.state)]


def use_tool(x, *, session):
    return session.call_tool("double", x, scale=2)


async def ause_tool(x, *, session):
    return await session.acall_tool("double", x)


async def ause_tool_blocking(x, *, session):
    """The mistake: the blocking ``call_tool`` in an ``async def``."""
    return session.call_tool("double", x)


async def atwice(x):
    return 2 * x


def slow_gen(n, delay):
    for i in range(n):
        started.set()
        yield i
        time.sleep(delay)


async def aslow(delay):
    started.set()
    try:
        await asyncio.sleep(delay)
    except asyncio.CancelledError:
        log.info("cancelled")
        raise
    return "finished"


async def aslow_gen(n, delay):
    for i in range(n):
        started.set()
        yield i
        await asyncio.sleep(delay)


def wait_then(delay, value):
    started.set()
    time.sleep(delay)
    return value


def wait_for_gate(value):
    """Hold an execution slot until the test sets :data:`gate`."""
    started.set()
    gate.wait(10)
    return value


def log_in_call():
    log.warning("inside")
    return True


def span(seconds):
    """Sleep, and say when (monotonic clock): for checks that calls overlap."""
    start = time.monotonic()
    started.set()
    time.sleep(seconds)
    return [start, time.monotonic()]


def trace_parent():
    import snakepit_bridge
    return snakepit_bridge.traceparent()


async def atrace_parent():
    import snakepit_bridge
    return snakepit_bridge.traceparent()


def gen_objects():
    """Yields an encodable item, then one that is not."""
    yield 1
    yield object()


def fit():
    """A result with a value the codec cannot encode, one level down."""
    return {"score": 0.5, "model": object()}


def big_items(mib):
    """Yield ``mib`` MiB of bytes for ever (a stream's byte window stops it)."""
    item = b"x" * (mib << 20)
    while True:
        yield item


async def abig_items(mib):
    """``big_items`` as an async generator."""
    item = b"x" * (mib << 20)
    while True:
        yield item


def bad_names(*, session):
    """A tool call and a telemetry event named by a non-string: both TypeErrors, nothing sent."""
    refused = []
    for send in (lambda: session.call_tool(1), lambda: session.telemetry(None)):
        try:
            send()
        except TypeError as e:
            refused.append(str(e))
    return refused
