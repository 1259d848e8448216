"""``forkserver.connect`` sends a fork's key only to the host: the process listening on the
fork socket must be the host's pid (``SO_PEERCRED``), else nothing is sent (a same-user proxy
on the socket's path would read the key and the worker's traffic)."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile

import pytest

from snakepit_bridge import forkserver

pytestmark = pytest.mark.skipif(not hasattr(socket, "SO_PEERCRED"), reason="SO_PEERCRED is Linux's")


def _listen(path: str) -> socket.socket:
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    server.listen(4)
    return server


def _received(server: socket.socket) -> bytes:
    conn, _ = server.accept()
    conn.settimeout(5)
    data = b""
    while True:
        chunk = conn.recv(4096)
        if not chunk:
            break
        data += chunk
    conn.close()
    return data


def test_sends_the_key_to_the_host() -> None:
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "fork.sock")
        server = _listen(path)
        fd = forkserver.connect(path, "k" * 48, "w1.1", "proto", os.getpid())
        os.close(fd)
        assert _received(server) == b"k" * 48 + b" w1.1 proto\n"
        server.close()


def test_sends_nothing_to_a_listener_that_is_not_the_host() -> None:
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "fork.sock")
        server = _listen(path)  # listened on by this process, which is not "the host" below
        with pytest.raises(forkserver.NotTheHost, match="was not sent"):
            forkserver.connect(path, "k" * 48, "w1.1", "proto", os.getppid())
        assert _received(server) == b""
        server.close()


def test_sends_nothing_to_a_proxy_in_another_process() -> None:
    """The attack itself: another process of the same user listens on the path."""
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "fork.sock")
        log = os.path.join(d, "proxy.log")
        proxy = subprocess.Popen([sys.executable, "-c", (
            "import socket, sys\n"
            "s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)\n"
            f"s.bind({path!r}); s.listen(4); print('up', flush=True)\n"
            "c, _ = s.accept(); c.settimeout(5); data = b''\n"
            "while True:\n"
            "    b = c.recv(4096)\n"
            "    if not b: break\n"
            "    data += b\n"
            f"open({log!r}, 'wb').write(data)\n")], stdout=subprocess.PIPE)
        try:
            assert proxy.stdout is not None and proxy.stdout.readline() == b"up\n"
            with pytest.raises(forkserver.NotTheHost):
                forkserver.connect(path, "k" * 48, "w1.1", "proto", os.getpid())
            assert proxy.wait(10) == 0
            with open(log, "rb") as f:
                assert f.read() == b""
        finally:
            proxy.kill()
            proxy.wait()


def test_no_host_pid_skips_the_check() -> None:
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "fork.sock")
        server = _listen(path)
        os.close(forkserver.connect(path, "key", "w1.1", "proto", None))
        assert _received(server) == b"key w1.1 proto\n"
        server.close()
