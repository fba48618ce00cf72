"""Limits and bad input on raw sockets: protocol errors close the connection with Redis's
words, sizes from outside are bounded, a client that never reads is disconnected, idle
clients are disconnected, and connections past max_clients are refused.

The node at MERIDIAN_N3 runs with max_clients = 8, max_output_buffer_bytes = 262144 and
idle_timeout_s = 2 (tests/redis_clients.rs).
"""

import socket
import time

import redis
import pytest

TIMEOUT = 10


def connect(addr):
    s = socket.create_connection(addr, timeout=TIMEOUT)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def read_until_closed(s, limit=1 << 20):
    """Everything the server sends until it closes the connection (bounded by TIMEOUT)."""
    data = b""
    while len(data) < limit:
        try:
            chunk = s.recv(65536)
        except (ConnectionResetError, BrokenPipeError):
            break
        if not chunk:
            break
        data += chunk
    return data


def test_inline_commands_work(n1_addr):
    s = connect(n1_addr)
    s.sendall(b"PING\r\n\r\nECHO \"two words\"\r\n")
    assert s.recv(100).startswith(b"+PONG\r\n")
    s.close()


@pytest.mark.parametrize(
    "bad, message",
    [
        (b"*x\r\n", b"-ERR Protocol error: invalid multibulk length"),
        (b"*1\r\n$x\r\n", b"-ERR Protocol error: invalid bulk length"),
        (b"*1\r\n+PING\r\n", b"-ERR Protocol error: expected '$'"),
        (b"ECHO \"unbalanced\r\n", b"-ERR Protocol error: unbalanced quotes"),
    ],
)
def test_protocol_errors_close_the_connection(n1_addr, bad, message):
    s = connect(n1_addr)
    s.sendall(bad)
    reply = read_until_closed(s)
    assert reply.startswith(message), reply
    s.close()


def test_oversized_requests_are_refused_before_they_are_buffered(n1_addr):
    s = connect(n1_addr)
    # A 1 GiB bulk announced: refused at its header, without waiting for the bytes.
    s.sendall(b"*2\r\n$4\r\nECHO\r\n$1073741824\r\n")
    reply = read_until_closed(s)
    assert reply.startswith(b"-ERR Protocol error: invalid bulk length"), reply
    s.close()
    s = connect(n1_addr)
    s.sendall(b"*100000000\r\n")
    reply = read_until_closed(s)
    assert reply.startswith(b"-ERR Protocol error: invalid multibulk length"), reply
    s.close()


def test_limits_are_stricter_before_auth(n2_addr):
    s = connect(n2_addr)
    s.sendall(b"*2\r\n$4\r\nAUTH\r\n$100000\r\n")
    reply = read_until_closed(s)
    assert reply.startswith(b"-ERR Protocol error"), reply
    s.close()


def test_a_client_that_never_reads_is_disconnected(n3_addr):
    host, port = n3_addr
    setup = redis.Redis(host=host, port=port)
    setup.set("big", b"x" * 100_000)
    setup.close()
    s = connect(n3_addr)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    request = b"*2\r\n$3\r\nGET\r\n$3\r\nbig\r\n" * 200  # 20 MB of replies, never read
    sent = 0
    try:
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            s.sendall(request)
            sent += 1
    except (ConnectionResetError, BrokenPipeError, socket.timeout):
        pass
    # The node dropped the client: reading now reaches the end of the stream.
    s.settimeout(TIMEOUT)
    read_until_closed(s, limit=1 << 30)
    s.close()
    assert sent < 1000, "the node kept taking requests from a client that never reads"


def test_an_idle_client_is_disconnected(n3_addr):
    s = connect(n3_addr)
    s.sendall(b"PING\r\n")
    assert s.recv(100) == b"+PONG\r\n"
    started = time.monotonic()
    assert read_until_closed(s) == b""
    assert time.monotonic() - started >= 1.5
    s.close()


def test_connections_past_max_clients_are_refused(n3_addr):
    held = []
    try:
        refused = None
        for _ in range(20):
            s = connect(n3_addr)
            s.sendall(b"PING\r\n")
            reply = s.recv(100)
            if reply.startswith(b"-ERR max number of clients reached"):
                refused = reply
                s.close()
                break
            assert reply == b"+PONG\r\n"
            held.append(s)
        assert refused is not None
        assert len(held) <= 8
    finally:
        for s in held:
            s.close()
