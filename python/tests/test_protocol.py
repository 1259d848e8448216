"""Frames: layout, alignment of attachments, size limits, reading and writing over sockets."""
from __future__ import annotations

import os
import socket
import struct
import threading

import pytest
from conftest import unwire, wire

from snakepit_bridge import protocol
from snakepit_bridge.errors import FrameTooLarge, ProtocolError
from snakepit_bridge.protocol import (FrameReader, FrameWriter, align8, encode_frame,
                                      frame_buffers, parse_body)


def test_vocabulary_matches_the_protocol_document():
    assert protocol.HOST_TO_WORKER == ("call", "exec", "cancel", "ping", "cleanup_session",
                                       "tool_result", "shutdown", "map", "credit")
    assert protocol.WORKER_TO_HOST == ("ready", "result", "error", "chunk", "end", "pong", "log",
                                       "telemetry", "tool_call", "map_result")
    doc = open(os.path.join(os.path.dirname(__file__), "..", "..", "docs", "protocol.md")).read()
    for name in protocol.HOST_TO_WORKER + protocol.WORKER_TO_HOST + protocol.ERROR_TYPES:
        assert f"`{name}`" in doc, name


def test_frame_without_attachments():
    frame = encode_frame(b'{"type":"ping","id":1}')
    body_length, header_length = struct.unpack(">II", frame[:8])
    assert body_length == len(frame) - 4 == 4 + header_length
    assert frame[8:] == b'{"type":"ping","id":1}'


@pytest.mark.parametrize("header_size", [1, 4, 5, 11, 12, 13])
def test_attachments_start_at_multiples_of_eight(header_size):
    header = b"x" * header_size
    attachments = [b"a", b"", b"bcdefghij", bytes(8), b"k"]
    frame = encode_frame(header, attachments)
    body = frame[4:]
    assert struct.unpack(">I", frame[:4])[0] == len(body)
    off = align8(4 + header_size)
    for att in attachments:
        assert off % 8 == 0
        assert body[off:off + len(att)] == att
        end = off + len(att)
        off = align8(end)
    assert len(body) == end
    parsed = parse_body(frame, 4, len(body))
    views = parsed.attachments([len(a) for a in attachments])
    assert [bytes(v) for v in views] == attachments
    gaps = bytearray(body)
    for start, att in zip(_offsets(header_size, attachments), attachments):
        gaps[start:start + len(att)] = b"\0" * len(att)
    assert gaps[4 + header_size:] == bytes(len(gaps) - 4 - header_size)  # padding is zeros


def _offsets(header_size, attachments):
    off = align8(4 + header_size)
    for att in attachments:
        yield off
        off = align8(off + len(att))


def test_memoryview_attachments_are_not_copied_into_the_buffer_list():
    big = memoryview(bytearray(100_000))
    parts = frame_buffers(b"{}", [big])
    assert any(p is big for p in parts)


def test_sender_refuses_a_frame_over_the_limit():
    with pytest.raises(FrameTooLarge):
        encode_frame(b"x" * 100, max_frame_bytes=64)
    with pytest.raises(FrameTooLarge):
        encode_frame(b"{}", [bytes(64)], max_frame_bytes=64)
    assert encode_frame(b"x" * 60, max_frame_bytes=64)  # bodyLength == limit is fine


@pytest.mark.parametrize("body,error", [
    (b"\x00\x00", "no header length"),
    (b"\x00\x00\x00\x09{}", "past the end"),
    (b"\x00\x00\x00\x02\xff\xfe", "UTF-8"),
])
def test_malformed_bodies_are_protocol_errors(body, error):
    with pytest.raises(ProtocolError, match=error):
        parse_body(body, 0, len(body))


def test_attachment_lengths_past_the_body_are_protocol_errors():
    frame = encode_frame(b"{}", [b"abc"])
    parsed = parse_body(frame, 4, len(frame) - 4)
    with pytest.raises(ProtocolError):
        parsed.attachments([4])
    with pytest.raises(ProtocolError):
        parsed.attachments("3")


# -- over real sockets ---------------------------------------------------------------------------



def _envelopes(reader):
    from snakepit_bridge.codec import decode_envelope
    return [decode_envelope(f.header, f.attachments) for f in reader.frames()]


def test_reader_takes_every_frame_of_one_read_and_stops_at_eof(pair):
    a, b = pair
    data = b"".join(wire({"type": "ping", "id": i}) for i in range(50))
    a.sendall(data)
    a.shutdown(socket.SHUT_WR)
    assert [e["id"] for e in _envelopes(FrameReader(b.fileno()))] == list(range(50))


def test_reader_reassembles_frames_split_across_reads(pair):
    a, b = pair
    frames = [wire({"type": "result", "id": i, "value": [b"z" * i, "x" * (i * 7)]})
              for i in range(40)]
    data = b"".join(frames)

    def trickle():
        for i in range(0, len(data), 13):
            a.sendall(data[i:i + 13])
        a.shutdown(socket.SHUT_WR)

    t = threading.Thread(target=trickle)
    t.start()
    got = _envelopes(FrameReader(b.fileno()))
    t.join()
    assert [e["value"][0] for e in got] == [b"z" * i for i in range(40)]


def test_big_frames_are_read_into_their_own_writable_buffer(pair):
    a, b = pair
    blob = os.urandom(3 * 1024 * 1024 + 5)
    frames = wire({"type": "ping", "id": 1}) + wire({"type": "result", "id": 2, "value": blob}) \
        + wire({"type": "ping", "id": 3})

    def send():
        a.sendall(frames)
        a.shutdown(socket.SHUT_WR)

    t = threading.Thread(target=send)
    t.start()
    got = list(FrameReader(b.fileno()).frames())
    t.join()
    assert len(got) == 3
    assert isinstance(got[1]._buf, bytearray)
    views = got[1].attachments([len(blob)])
    assert not views[0].readonly and bytes(views[0]) == blob


def test_reader_refuses_an_oversized_length_before_reading_the_body(pair):
    a, b = pair
    a.sendall(struct.pack(">I", 1025))  # nothing follows: reading the body would block
    with pytest.raises(FrameTooLarge):
        next(FrameReader(b.fileno(), max_frame_bytes=1024).frames())


def test_eof_in_the_middle_of_a_frame_ends_the_stream(pair):
    a, b = pair
    a.sendall(wire({"type": "ping", "id": 1})[:-3])
    a.shutdown(socket.SHUT_WR)
    assert list(FrameReader(b.fileno()).frames()) == []


def test_writer_sends_small_and_big_frames_whole(pair):
    a, b = pair
    writer = FrameWriter(a.fileno())
    blob = memoryview(bytearray(os.urandom(5 * 1024 * 1024)))
    received = []

    def read():
        received.extend(_envelopes(FrameReader(b.fileno())))

    t = threading.Thread(target=read)
    t.start()
    from snakepit_bridge.codec import encode_message, encode_value
    for i in range(3):
        atts = []
        value = encode_value([b"small", blob] if i == 1 else i, atts)
        writer.write(encode_message({"type": "result", "id": i, "value": value}, atts), atts)
    a.shutdown(socket.SHUT_WR)
    t.join()
    assert [e["id"] for e in received] == [0, 1, 2]
    assert received[1]["value"][1] == bytes(blob)


def test_each_writev_of_a_frame_of_many_parts_costs_its_batch_not_the_parts_left(monkeypatch):
    # The parts left were sliced into a new list after each writev (at most _IOV_MAX parts a
    # call): a frame of n parts cost n²/1024, with the writer's lock held (400 000 attachments
    # took 6.7 s).  Here writev takes 2 500 bytes a call, so it also ends inside a part.
    from allocations import StepAllocations
    parts = [bytes([i % 251]) * 3 for i in range(100_000)]
    expected = b"".join(parts)
    out = bytearray(len(expected))
    done = 0
    calls = []

    def writev(fd, buffers):
        # Nothing raised here: a write that fails once a frame has started ends the process.
        nonlocal done
        steps.step()
        calls.append((fd, len(buffers)))
        room = 2_500
        for buffer in buffers:
            n = min(len(buffer), room)
            out[done:done + n] = buffer[:n]
            done += n
            room -= n
            if not room:
                break
        return 2_500 - room

    monkeypatch.setattr(protocol.os, "writev", writev)
    with StepAllocations() as steps:
        protocol._writev_all(99, parts)
    assert done == len(expected) and out == expected
    assert all(fd == 99 and 0 < n <= protocol._IOV_MAX for fd, n in calls)
    assert len(steps.sizes) == len(calls) - 1 == len(expected) // 2_500 - 1
    assert steps.largest < 32 * 1024, steps.largest  # the rest of the list was up to 800 KB


def test_writer_refuses_oversized_frames_without_writing(pair):
    a, b = pair
    writer = FrameWriter(a.fileno(), max_frame_bytes=32)
    with pytest.raises(FrameTooLarge):
        writer.write(b"x" * 40)
    with pytest.raises(FrameTooLarge):
        writer.write(b"{}", [bytes(40)])
    b.setblocking(False)
    with pytest.raises(BlockingIOError):
        b.recv(1)


def test_wire_helpers_roundtrip():
    assert unwire(wire({"type": "ping", "id": 5})) == {"type": "ping", "id": 5}


def test_corked_frames_wait_for_flush_and_keep_their_order(pair):
    a, b = pair
    writer = FrameWriter(a.fileno())
    writer.cork_thread = threading.get_ident()
    from snakepit_bridge.codec import encode_message
    for i in range(3):
        writer.write(encode_message({"type": "pong", "id": i}, []))
    b.setblocking(False)
    with pytest.raises(BlockingIOError):
        b.recv(1)
    other = threading.Thread(target=writer.write,
                             args=(encode_message({"type": "pong", "id": 99}, []),))
    other.start()
    other.join()
    writer.write(encode_message({"type": "pong", "id": 3}, []))
    writer.flush()
    a.shutdown(socket.SHUT_WR)
    b.setblocking(True)
    assert [e["id"] for e in _envelopes(FrameReader(b.fileno()))] == [0, 1, 2, 99, 3]


def test_corked_frames_leave_in_writes_of_cork_frames(pair):
    a, b = pair
    writer = FrameWriter(a.fileno())
    writer.cork_thread = threading.get_ident()
    from snakepit_bridge.codec import encode_message
    for i in range(FrameWriter.CORK_FRAMES - 1):
        writer.write(encode_message({"type": "pong", "id": i}, []))
    b.setblocking(False)
    with pytest.raises(BlockingIOError):
        b.recv(1)
    # The CORK_FRAMES-th frame writes every held frame, without waiting for a flush.
    writer.write(encode_message({"type": "pong", "id": FrameWriter.CORK_FRAMES - 1}, []))
    writer.write(encode_message({"type": "pong", "id": FrameWriter.CORK_FRAMES}, []))
    a.shutdown(socket.SHUT_WR)
    b.setblocking(True)
    ids = [e["id"] for e in _envelopes(FrameReader(b.fileno()))]
    assert ids == list(range(FrameWriter.CORK_FRAMES))
