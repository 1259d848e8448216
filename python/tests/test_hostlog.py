"""hostlog.LogStream: a forked worker's sys.stdout/sys.stderr, one log frame per line."""
import threading

import pytest

from snakepit_bridge import hostlog
from snakepit_bridge.context import CallContext, current_call


def stream(sent, name="stdout", level="info"):
    return hostlog.LogStream(lambda message, attachments: sent.append(message), name, level, 1)


def test_print_becomes_one_log_frame_per_line():
    sent = []
    out = stream(sent)
    print("hello", file=out)
    print("a\nb", "c", file=out)
    assert [(m["logger"], m["level"], m["message"]) for m in sent] == [
        ("stdout", "info", "hello"), ("stdout", "info", "a"), ("stdout", "info", "b c")]
    assert all(m["type"] == "log" for m in sent)


def test_a_partial_line_waits_for_its_end_or_a_flush():
    sent = []
    out = stream(sent, "stderr", "warning")
    out.write("no newline yet")
    assert sent == []
    out.write(" still")
    out.flush()
    assert [m["message"] for m in sent] == ["no newline yet still"]
    out.flush()
    assert len(sent) == 1


def test_a_huge_line_is_sent_whole_in_pieces_that_fit_a_frame():
    sent = []
    out = stream(sent)
    out.write("x" * (2 * hostlog.MAX_LINE + 10) + "\n")
    assert [len(m["message"]) for m in sent] == [hostlog.MAX_LINE, hostlog.MAX_LINE, 10]


def test_an_unfinished_line_is_never_held_past_max_line():
    sent = []
    out = stream(sent)
    for _ in range(5):
        out.write("y" * (hostlog.MAX_LINE // 2 + 1))
    # 5 × (MAX_LINE/2 + 1) characters: two full pieces left, the rest waits for its newline.
    assert [len(m["message"]) for m in sent] == [hostlog.MAX_LINE, hostlog.MAX_LINE]
    out.flush()
    assert sum(len(m["message"]) for m in sent) == 5 * (hostlog.MAX_LINE // 2 + 1)


def test_lines_carry_the_session_and_call_of_the_call_that_wrote_them():
    sent = []
    out = stream(sent)
    token = current_call.set(CallContext(call_id=7, session_id="s1"))
    try:
        print("inside", file=out)
    finally:
        current_call.reset(token)
    print("outside", file=out)
    assert [(m["session_id"], m["call_id"]) for m in sent] == [("s1", 7), (None, None)]


def test_threads_never_split_a_line():
    sent = []
    out = stream(sent)

    def shout(i):
        for _ in range(200):
            out.write(f"thread {i} says hello\n")

    threads = [threading.Thread(target=shout, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(sent) == 800
    assert all(m["message"].startswith("thread ") and m["message"].endswith(" says hello") for m in sent)


def test_it_is_a_text_stream_with_the_inherited_fd():
    out = stream([])
    assert out.writable() and not out.isatty() and out.fileno() == 1 and out.encoding == "utf-8"
    try:
        out.write(b"bytes")  # type: ignore[arg-type]
    except TypeError as e:
        assert "must be str" in str(e)
    else:
        raise AssertionError("bytes were accepted")


def test_code_written_for_a_real_stdout_keeps_working():
    sent = []
    out = stream(sent)
    out.reconfigure(line_buffering=True, errors="replace")
    assert out.line_buffering
    encoded = "bytes too: é\n".encode()
    split = encoded.index(b"\xc3") + 1  # between the two bytes of "é"
    out.buffer.write(encoded[:split])
    out.buffer.write(encoded[split:])
    out.buffer.flush()
    assert [m["message"] for m in sent] == ["bytes too: é"]


def in_call(call_id, session_id=None):
    """Run the body as call ``call_id`` would (a context manager over ``current_call``)."""
    import contextlib

    @contextlib.contextmanager
    def scope():
        token = current_call.set(CallContext(call_id=call_id, session_id=session_id))
        try:
            yield
        finally:
            current_call.reset(token)
    return scope()


def test_with_a_passthrough_only_what_calls_print_becomes_frames():
    import io
    sent, real = [], io.StringIO()
    out = hostlog.LogStream(lambda message, attachments: sent.append(message), "stdout", "info", 1,
                            passthrough=real)
    print("start-up chatter", file=out)
    with in_call(3):
        print("from call 3", file=out)
    out.flush()
    assert real.getvalue() == "start-up chatter\n"
    assert [(m["message"], m["call_id"], m["session_id"]) for m in sent] == [("from call 3", 3, None)]


def test_unfinished_lines_of_two_calls_do_not_mix_and_each_is_flushed_as_its_own():
    sent = []
    out = stream(sent)
    with in_call(1, "a"):
        out.write("one-")
    with in_call(2, "b"):
        out.write("two-")
    with in_call(1, "a"):
        out.write("done\n")
    with in_call(2, "b"):
        out.flush()
    assert [(m["message"], m["call_id"]) for m in sent] == [("one-done", 1), ("two-", 2)]


@pytest.mark.parametrize("function, line, reply", [
    ("unfinished_then_raise", "no newline at the end", "error"),
    ("unfinished_then_return", "no newline before the result", "result"),
])
def test_a_call_sends_its_last_unfinished_line_before_its_reply(dispatcher, outbox, monkeypatch,
                                                                function, line, reply):
    from conftest import call, deliver
    monkeypatch.setattr("sys.stdout", hostlog.LogStream(dispatcher.connection.send, "stdout",
                                                        "info", 1))
    monkeypatch.setattr("sys.stderr", hostlog.LogStream(dispatcher.connection.send, "stderr",
                                                        "warning", 2))
    deliver(dispatcher, call(5, "noisy", function, session_id="s"))
    outbox.reply(5)
    mine = [m for m in outbox.messages if m.get("call_id") == 5 or m.get("id") == 5]
    assert [(m["type"], m.get("message")) for m in mine] == [("log", line), (reply, None)]
    assert mine[0]["session_id"] == "s"


def test_flush_call_output_finds_an_unfinished_line_in_any_call_and_forgets_a_flushed_one(
        monkeypatch):
    # flush_call_output skips its look at the streams while none holds an unfinished line: the
    # record of which do must follow every write and flush, or a call's last line would be lost.
    sent = []
    out = stream(sent)
    monkeypatch.setattr("sys.stdout", out)
    with in_call(1, "a"):
        out.write("one-")
    with in_call(2, "b"):
        out.write("two\n")  # a finished line in another call leaves call 1's unfinished one
        hostlog.flush_call_output()
    assert out in hostlog.unfinished
    with in_call(1, "a"):
        hostlog.flush_call_output()
    assert [(m["message"], m["call_id"]) for m in sent] == [("two", 2), ("one-", 1)]
    assert out not in hostlog.unfinished
    with in_call(3, "c"):
        out.write("x\n")
        hostlog.flush_call_output()
    assert out not in hostlog.unfinished and len(sent) == 3



def test_writing_a_line_a_character_at_a_time_costs_each_write_its_own_length():
    # Each write joined the unfinished line to its text and split the whole again: a line of n
    # characters written one at a time cost n² (65 536 writes took 1.1 s, against 0.11 s when
    # each ended a line).  Four times the writes must allocate about four times as much, not
    # sixteen.
    from allocations import StepAllocations
    totals = []
    for n in (10_000, 40_000):
        sent = []
        out = stream(sent)
        with StepAllocations() as steps:
            for _ in range(n):
                out.write("x")
                steps.step()
        assert sent == []
        out.flush()
        assert [m["message"] for m in sent] == ["x" * n]
        totals.append(steps.total)
    assert totals[1] < 8 * totals[0], totals  # the line so far, at each write: 16 times


def test_lines_are_the_same_however_the_text_is_cut_into_writes(monkeypatch):
    import random
    monkeypatch.setattr(hostlog, "MAX_LINE", 10)
    rng = random.Random(5)
    text = "".join(rng.choice(["a", "bc", "\n", "0123456789", "\n\n", "é" * 7, "z" * 23])
                   for _ in range(3000))
    # A line is sent in pieces of at most MAX_LINE characters; an empty one is not sent.
    expected = [line[i:i + 10] for line in text.split("\n") for i in range(0, len(line), 10)]
    for trial in range(20):
        sent = []
        out = stream(sent)
        at = 0
        while at < len(text):
            size = rng.choice([1, 1, 2, 3, 7, 40]) if trial else 1
            out.write(text[at:at + size])
            at = min(len(text), at + size)
            if trial % 3 == 0:
                # Unfinished, a line is sent only once MAX_LINE characters are held.
                held = len(text[:at].rsplit("\n", 1)[-1])
                assert sum(len(m["message"]) for m in sent) == at - held + held // 10 * 10 - \
                    text[:at].count("\n")
        out.flush()
        assert [m["message"] for m in sent] == expected, trial
