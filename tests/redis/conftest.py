"""Fixtures for the redis-py suite, run by tests/redis_clients.rs against a local cluster.

The harness starts three nodes and passes their Redis protocol addresses:
  MERIDIAN_N1  a node with default client settings
  MERIDIAN_N2  a node whose clients must AUTH with MERIDIAN_PASSWORD
  MERIDIAN_N3  a node with tight client limits (few clients, small output buffer, short idle timeout)
  MERIDIAN_ORACLE  a redis-server: the reference for what each reply should be
"""

import os
import time
import uuid

import pytest
import redis


def address(var):
    value = os.environ.get(var)
    if not value:
        pytest.fail(f"{var} is not set: run this suite through `cargo test --test redis_clients`")
    host, port = value.rsplit(":", 1)
    return host, int(port)


@pytest.fixture(scope="session")
def n1_addr():
    return address("MERIDIAN_N1")


@pytest.fixture(scope="session")
def n2_addr():
    return address("MERIDIAN_N2")


@pytest.fixture(scope="session")
def n3_addr():
    return address("MERIDIAN_N3")


@pytest.fixture(scope="session")
def password():
    return os.environ["MERIDIAN_PASSWORD"]


@pytest.fixture(params=[2, 3], ids=["resp2", "resp3"])
def r(request, n1_addr):
    """A client of the default node, in RESP2 and in RESP3."""
    host, port = n1_addr
    client = redis.Redis(host=host, port=port, protocol=request.param, decode_responses=True)
    yield client
    client.close()


@pytest.fixture
def other(n3_addr):
    """A client of another region (node 3: few clients, short idle timeout: closed promptly),
    RESP2, decoding."""
    host, port = n3_addr
    client = redis.Redis(host=host, port=port, protocol=2, decode_responses=True)
    yield client
    client.close()


@pytest.fixture
def raw(n1_addr):
    """A client without decoding, RESP2."""
    host, port = n1_addr
    client = redis.Redis(host=host, port=port, protocol=2)
    yield client
    client.close()


@pytest.fixture
def key():
    """A key no other test uses: the cluster is shared by the whole suite."""
    return f"t:{uuid.uuid4().hex}"


@pytest.fixture(scope="session")
def oracle_addr():
    return address("MERIDIAN_ORACLE")


@pytest.fixture(params=[2, 3], ids=["resp2", "resp3"])
def pair(request, n1_addr, oracle_addr):
    """A Meridian client and a redis-server client of one protocol, decoding replies."""
    clients = [
        redis.Redis(host=h, port=p, protocol=request.param, decode_responses=True)
        for h, p in (n1_addr, oracle_addr)
    ]
    for c in clients:
        # redis-py reads ZADD's reply as an integer, which INCR's score (and QUEUED inside
        # MULTI) is not: compare it as it came.
        c.set_response_callback("ZADD", lambda reply, **_: reply)
    yield Both(*clients)
    for c in clients:
        c.close()


class Both:
    """Sends each command to Meridian and to redis-server and checks that the replies (or
    the errors) are the same; returns Meridian's."""

    def __init__(self, meridian, oracle):
        self.meridian = meridian
        self.oracle = oracle

    def __call__(self, *args):
        got, want = outcome(self.meridian, args), outcome(self.oracle, args)
        assert got == want, f"{args}: meridian {got!r}, redis-server {want!r}"
        if isinstance(got, Failed):
            raise redis.ResponseError(got.message)
        return got


class Failed:
    def __init__(self, message):
        self.message = message

    def __eq__(self, other):
        return isinstance(other, Failed) and other.message == self.message

    def __repr__(self):
        return f"error({self.message!r})"


def outcome(client, args):
    try:
        return errors_named(client.execute_command(*args))
    except redis.ResponseError as e:
        return Failed(str(e))


def errors_named(reply):
    """`reply` with the errors inside it (EXEC's replies) as their text: redis-py gives them
    as exception objects, which never compare equal."""
    if isinstance(reply, Exception):
        return Failed(str(reply))
    if isinstance(reply, list):
        return [errors_named(r) for r in reply]
    return reply


def wait_for(what, condition, limit=15.0):
    """Polls `condition` until it holds; fails after `limit` seconds, saying what was awaited."""
    start = time.monotonic()
    while not condition():
        if time.monotonic() - start > limit:
            pytest.fail(f"not within {limit}s: {what}")
        time.sleep(0.02)


def encode(args):
    """A command as a RESP array of bulk strings, for the tests that compare raw bytes."""
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)


class Closed(ConnectionError):
    """The server closed the connection between frames."""


def read_reply(f):
    """One whole frame as the server wrote it, RESP2 or RESP3 (a push `>` included)."""
    line = f.readline()
    if not line:
        raise Closed()
    if not line.endswith(b"\r\n"):
        raise ConnectionError(f"connection closed in a frame: {line!r}")
    kind, body = line[:1], line[1:-2]
    if kind in b"$!=":
        n = int(body)
        return line if n < 0 else line + f.read(n + 2)
    if kind in b"*~>%|":
        n = int(body)
        if n < 0:
            return line
        out = line + b"".join(read_reply(f) for _ in range(n * 2 if kind in b"%|" else n))
        return out + read_reply(f) if kind == b"|" else out
    return line
