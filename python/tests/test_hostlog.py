"""hostlog.LogStream: a forked worker's sys.stdout/sys.stderr, one log frame per line."""
import threading

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


def test_a_huge_line_is_cut_to_fit_a_frame():
    sent = []
    out = stream(sent)
    out.write("x" * (hostlog.MAX_LINE + 10))
    assert len(sent) == 1 and len(sent[0]["message"]) == hostlog.MAX_LINE


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
