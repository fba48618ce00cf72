"""Pub/sub (SUBSCRIBE, PSUBSCRIBE, UNSUBSCRIBE, PUNSUBSCRIBE, PUBLISH, PUBSUB): each sequence
sent byte for byte on raw sockets to Meridian and to redis-server, in RESP2 and RESP3, on as
many connections as it needs, and the frames compared; then redis-py's `pubsub()` object run
at both and its results compared. What only Meridian has (a message published at one region
reaching the subscribers of every region, once and in order; PUBLISH and PUBSUB counting the
publishing region's subscriptions only) is at the end of this file.

Known, accepted difference: `PUBSUB <unknown subcommand>` says "Try PUBSUB CHANNELS, NUMSUB
or NUMPAT." where redis-server says "Try PUBSUB HELP.": not tested here.

Channel names start with the test's unique key: the cluster is shared by the whole suite.
Node 3 (MERIDIAN_N3) has tight client limits: the tests open one connection there at most,
and close it before they end.
"""

import socket
import time

import pytest
import redis

import conftest
from conftest import Closed, encode, read_reply

WAIT = 10.0  # the longest wait for something that should come (a frame, a message)
QUIET = 0.3  # how long to go on listening, after what was awaited came, for anything more


def wait_for(what, condition, limit=WAIT):
    return conftest.wait_for(what, condition, limit)


# ------------------------------------------------------------------ raw sockets


NOTHING = b"<nothing within the wait>"
CLOSED = b"<connection closed>"


class Raw:
    """A connection that sends commands and reads frames as they come, one at a time."""

    def __init__(self, addr, protocol=2):
        self.sock = socket.create_connection(addr, timeout=WAIT)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.file = self.sock.makefile("rb")
        self.broken = False
        if protocol == 3:
            assert self.call("HELLO", "3").startswith(b"%")

    def send(self, *args):
        self.sock.sendall(encode(args))

    def frame(self):
        """The next frame; NOTHING if none came within WAIT (the connection is then of no
        more use: a scenario stops at the first difference anyway), CLOSED at its end."""
        if self.broken:
            return NOTHING
        try:
            return read_reply(self.file)
        except Closed:
            return CLOSED
        except (socket.timeout, TimeoutError):
            self.broken = True
            return NOTHING

    def frames(self, n):
        return [self.frame() for _ in range(n)]

    def call(self, *args):
        self.send(*args)
        return self.frame()

    def frames_for(self, seconds):
        """Every frame that comes within `seconds`."""
        got = []
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            self.sock.settimeout(left)
            try:
                got.append(read_reply(self.file))
            except (socket.timeout, TimeoutError):
                self.broken = True
                break
            except Closed:
                got.append(CLOSED)
                break
        self.sock.settimeout(WAIT)
        return got

    def close(self):
        self.file.close()
        self.sock.close()


def with_key(args, key):
    return [a.replace("K", key, 1) if a.startswith("K") else a for a in args]


# A scenario is a list of steps (connection, frames, command...): the command goes to the
# connection and `frames` frames are read back from it; a step with no command only reads
# (the messages another connection's PUBLISH sent). "K" at the start of an argument is the
# test's key. After the last step each connection still open answers a PING: a frame sent
# that the other server did not send shows as a difference there.
BOTH = (2, 3)
RESP2 = (2,)
RESP3 = (3,)

SCENARIOS = {
    "subscribe to several channels, one twice": (BOTH, [
        (0, 3, "SUBSCRIBE", "K:a", "K:b", "K:a"),
        (0, 1, "SUBSCRIBE", "K:c"),
        (0, 1, "SUBSCRIBE", "K:b"),
    ]),
    "psubscribe to several patterns, one twice": (BOTH, [
        (0, 2, "PSUBSCRIBE", "K:p*", "K:q?"),
        (0, 1, "PSUBSCRIBE", "K:p*"),
        (0, 1, "SUBSCRIBE", "K:p*"),
        (0, 1, "PSUBSCRIBE", "K:[ab]"),
    ]),
    "unsubscribe by name, a name not subscribed to among them": (BOTH, [
        (0, 2, "SUBSCRIBE", "K:a", "K:b"),
        (0, 1, "PSUBSCRIBE", "K:*"),
        (0, 2, "UNSUBSCRIBE", "K:a", "K:zz"),
        (0, 1, "PUNSUBSCRIBE", "K:a"),
        (0, 1, "UNSUBSCRIBE", "K:b"),
        (0, 1, "PUNSUBSCRIBE", "K:*"),
    ]),
    "unsubscribe with no argument": (BOTH, [
        (0, 1, "SUBSCRIBE", "K:a"),
        (0, 1, "PSUBSCRIBE", "K:*"),
        (0, 1, "UNSUBSCRIBE"),
        (0, 1, "UNSUBSCRIBE"),
        (0, 1, "PUNSUBSCRIBE"),
        (0, 1, "PUNSUBSCRIBE"),
        # Out of subscribed mode: any command runs.
        (0, 1, "GET", "K"),
    ]),
    "unsubscribe when subscribed to nothing": (BOTH, [
        (0, 1, "UNSUBSCRIBE"),
        (0, 1, "PUNSUBSCRIBE"),
        (0, 2, "UNSUBSCRIBE", "K:a", "K:b"),
        (0, 1, "PUNSUBSCRIBE", "K:*"),
        (0, 1, "GET", "K"),
    ]),
    "message and pmessage": (BOTH, [
        (0, 1, "SUBSCRIBE", "K:news"),
        (0, 1, "PSUBSCRIBE", "K:n*"),
        (1, 1, "PUBLISH", "K:news", "hello"),
        (0, 2),
        (1, 1, "PUBLISH", "K:nope", "pattern only"),
        (0, 1),
        (1, 1, "PUBLISH", "K:other", "nobody"),
        (1, 1, "PUBLISH", "K:news", ""),
        (0, 2),
        (1, 1, "PUBLISH", "K:news", "two\r\nlines \x00 and a zero"),
        (0, 2),
    ]),
    "messages to two subscribers and a pattern subscriber": (BOTH, [
        (0, 1, "SUBSCRIBE", "K:c"),
        (1, 1, "SUBSCRIBE", "K:c"),
        (2, 1, "PSUBSCRIBE", "K:?"),
        (3, 1, "PUBLISH", "K:c", "m1"),
        (0, 1), (1, 1), (2, 1),
        (1, 1, "UNSUBSCRIBE", "K:c"),
        (3, 1, "PUBLISH", "K:c", "m2"),
        (0, 1), (2, 1),
    ]),
    "ping in subscribed mode": (BOTH, [
        (0, 1, "SUBSCRIBE", "K:a"),
        (0, 1, "PING"),
        (0, 1, "PING", "hello"),
        (0, 1, "PING", ""),
        (0, 1, "UNSUBSCRIBE"),
        (0, 1, "PING"),
        (0, 1, "PING", "hello"),
    ]),
    "ping of the wrong arity in subscribed mode": (BOTH, [
        (0, 1, "SUBSCRIBE", "K:a"),
        (0, 1, "PING", "a", "b"),
    ]),
    "commands in subscribed mode": (BOTH, [
        # RESP2 refuses them; RESP3 runs them.
        (0, 1, "PSUBSCRIBE", "K:*"),
        (0, 1, "SET", "K", "v"),
        (0, 1, "GET", "K"),
        (0, 1, "ECHO", "x"),
        (0, 1, "MULTI"),
        (0, 1, "PUNSUBSCRIBE"),
        (0, 1, "GET", "K"),
    ]),
    "reset leaves subscribed mode, a transaction and a watch": (BOTH, [
        (0, 1, "SUBSCRIBE", "K:a"),
        (0, 1, "PSUBSCRIBE", "K:*"),
        (0, 1, "RESET"),
        (1, 1, "PUBLISH", "K:a", "nobody left"),
        (0, 1, "HGETALL", "K:h"),
        (0, 1, "WATCH", "K"),
        (1, 1, "SET", "K", "touched"),
        (0, 1, "MULTI"),
        (0, 1, "SET", "K", "queued"),
        (0, 1, "RESET"),
        (0, 1, "EXEC"),
        (0, 1, "MULTI"),
        (0, 1, "SET", "K", "after the reset"),
        (0, 1, "EXEC"),
        (0, 1, "GET", "K"),
        (0, 1, "RESET", "extra"),
    ]),
    "an unknown command and a wrong arity in subscribed mode": (BOTH, [
        (0, 1, "SUBSCRIBE", "K:a"),
        (0, 1, "NOSUCHCOMMAND", "x"),
        (0, 1, "GET"),
        (0, 1, "SUBSCRIBE"),
        (0, 1, "PSUBSCRIBE"),
    ]),
    "a command with a subcommand refused in subscribed mode": (RESP2, [
        (0, 1, "SUBSCRIBE", "K:a"),
        (0, 1, "PUBSUB", "NUMSUB", "K:a"),
        (0, 1, "PUBSUB", "NUMPAT"),
        (0, 1, "CONFIG", "GET", "maxclients"),
    ]),
    "publish refused in RESP2 subscribed mode": (RESP2, [
        (0, 1, "SUBSCRIBE", "K:a"),
        (0, 1, "PUBLISH", "K:a", "x"),
    ]),
    "a normal command between messages in RESP3": (RESP3, [
        (0, 1, "SUBSCRIBE", "K:a"),
        (0, 1, "SET", "K", "1"),
        (1, 1, "PUBLISH", "K:a", "m1"),
        (0, 1),
        (0, 1, "INCR", "K"),
        (0, 1, "HSET", "K:h", "f", "v"),
        (0, 1, "HGETALL", "K:h"),
        (0, 1, "PUBSUB", "NUMSUB", "K:a"),
        (1, 1, "PUBLISH", "K:a", "m2"),
        (0, 1),
        (0, 1, "GET", "K"),
    ]),
    "quit in subscribed mode": (BOTH, [
        (0, 1, "SUBSCRIBE", "K:a"),
        (0, 1, "QUIT"),
        (0, 1),
        (1, 1, "PUBSUB", "NUMSUB", "K:a"),
    ]),
    "subscribe inside a transaction": (BOTH, [
        (0, 1, "MULTI"),
        (0, 1, "SUBSCRIBE", "K:a"),
        (0, 1, "EXEC"),
        (0, 1, "PING"),
        (1, 1, "PUBSUB", "NUMSUB", "K:a"),
    ]),
    # RESP2 only: in RESP3 the subscriber's pushes come between its replies, and Meridian
    # delivers a message just after PUBLISH's reply where redis-server writes it during
    # PUBLISH, so the frames a RESP3 connection reads next differ (docs/resp.md, Pub/sub).
    "publish counts": (RESP2, [
        (0, 1, "PUBLISH", "K:c", "nobody"),
        (1, 1, "SUBSCRIBE", "K:c"),
        (0, 1, "PUBLISH", "K:c", "one"),
        # A connection with the channel and a pattern of it counts twice.
        (1, 1, "PSUBSCRIBE", "K:*"),
        (0, 1, "PUBLISH", "K:c", "two"),
        (2, 1, "PSUBSCRIBE", "K:c*"),
        (0, 1, "PUBLISH", "K:c", "three"),
        (0, 1, "PUBLISH", "K:cd", "two patterns"),
        (0, 1, "PUBLISH", "K:d", "one pattern"),
    ]),
    "pubsub numsub and channels": (BOTH, [
        (1, 2, "SUBSCRIBE", "K:a", "K:b"),
        (2, 1, "SUBSCRIBE", "K:a"),
        (2, 1, "PSUBSCRIBE", "K:b"),
        (0, 1, "PUBSUB", "NUMSUB", "K:a", "K:b", "K:c", "K:a"),
        (0, 1, "PUBSUB", "NUMSUB"),
        (0, 1, "PUBSUB", "numsub", "K:b"),
        (0, 1, "PUBSUB", "CHANNELS", "K:a*"),
        (0, 1, "PUBSUB", "channels", "K:[a]"),
        (0, 1, "PUBSUB", "CHANNELS", "K:zz*"),
        (1, 1, "UNSUBSCRIBE", "K:a"),
        (0, 1, "PUBSUB", "NUMSUB", "K:a", "K:b"),
        (2, 1, "UNSUBSCRIBE"),
        (0, 1, "PUBSUB", "NUMSUB", "K:a"),
        (0, 1, "PUBSUB", "CHANNELS", "K:a"),
    ]),
    "arity errors": (BOTH, [
        (0, 1, "SUBSCRIBE"),
        (0, 1, "PSUBSCRIBE"),
        (0, 1, "PUBLISH"),
        (0, 1, "PUBLISH", "K:c"),
        (0, 1, "PUBLISH", "K:c", "a", "b"),
        (0, 1, "PUBSUB"),
        (0, 1, "PUBSUB", "NUMPAT", "x"),
        (0, 1, "PUBSUB", "numpat", "x"),
    ]),
    "pubsub channels with two arguments": (BOTH, [
        (0, 1, "PUBSUB", "CHANNELS", "K:*", "x"),
    ]),
}


def run_scenario(name, steps, key, protocol, n1_addr, oracle_addr):
    servers = {"meridian": n1_addr, "redis-server": oracle_addr}
    conns = {label: {} for label in servers}
    closed = set()

    def conn(label, i):
        if i not in conns[label]:
            conns[label][i] = Raw(servers[label], protocol)
        return conns[label][i]

    try:
        for n, (i, frames, *args) in enumerate(steps):
            args = with_key(args, key)
            replies = {}
            for label in servers:
                c = conn(label, i)
                if args:
                    c.send(*args)
                replies[label] = c.frames(frames)
            got, want = replies["meridian"], replies["redis-server"]
            assert got == want, (
                f"{name}, step {n}: {args or '(reading)'} on connection {i}: "
                f"meridian {got!r}, redis-server {want!r}"
            )
            if CLOSED in got:
                closed.add(i)
        for i in sorted(conns["meridian"]):
            if i in closed:
                continue
            got = conn("meridian", i).call("PING", "end")
            want = conn("redis-server", i).call("PING", "end")
            assert got == want, f"{name}: PING at the end on connection {i}: meridian {got!r}, redis-server {want!r}"
    finally:
        for by_index in conns.values():
            for c in by_index.values():
                c.close()


@pytest.mark.parametrize("protocol", [2, 3], ids=["resp2", "resp3"])
@pytest.mark.parametrize("name", list(SCENARIOS))
def test_frames_byte_for_byte(n1_addr, oracle_addr, key, protocol, name):
    protocols, steps = SCENARIOS[name]
    if protocol not in protocols:
        pytest.skip(f"RESP{protocol} does not apply")
    run_scenario(name, steps, key, protocol, n1_addr, oracle_addr)


def subscriber_and_publisher(addr, protocol, key, setup):
    """A connection that runs `setup` (each command's confirmations read), and another."""
    sub, pub = Raw(addr, protocol), Raw(addr, protocol)
    for frames, *args in setup:
        sub.send(*with_key(args, key))
        assert all(f.startswith((b"*", b">")) for f in sub.frames(frames))
    return sub, pub


def named(confirmation):
    """A confirmation frame without its count."""
    return confirmation.rsplit(b":", 1)[0]


def counted(confirmation):
    """A confirmation frame's count."""
    return confirmation.rsplit(b":", 1)[1]


@pytest.mark.parametrize("protocol", [2, 3], ids=["resp2", "resp3"])
def test_unsubscribe_with_no_argument_from_several(n1_addr, oracle_addr, key, protocol):
    """One confirmation per channel (then per pattern), the count going down by one each:
    redis-server goes through its channels in no set order, so the names are compared as a
    set, and the counts in the order they came."""
    setup = [(3, "SUBSCRIBE", "K:a", "K:b", "K:c"), (2, "PSUBSCRIBE", "K:*", "K:?")]
    results = {}
    for label, addr in (("meridian", n1_addr), ("redis-server", oracle_addr)):
        sub, pub = subscriber_and_publisher(addr, protocol, key, setup)
        try:
            sub.send("UNSUBSCRIBE")
            channels = sub.frames(3)
            patterns = [sub.call("PUNSUBSCRIBE")] + sub.frames(1)
            results[label] = (
                sorted(named(f) for f in channels),
                [counted(f) for f in channels],
                sorted(named(f) for f in patterns),
                [counted(f) for f in patterns],
                sub.call("GET", key),
            )
        finally:
            sub.close()
            pub.close()
    assert results["meridian"] == results["redis-server"]


@pytest.mark.parametrize("protocol", [2, 3], ids=["resp2", "resp3"])
def test_a_channel_matching_several_patterns(n1_addr, oracle_addr, key, protocol):
    """A channel that one connection subscribes to and that two of its patterns match: a
    message and a pmessage per pattern (redis-server sends the pmessages in no set order)."""
    setup = [(1, "SUBSCRIBE", "K:abc"), (3, "PSUBSCRIBE", "K:a*", "K:*c", "K:x*")]
    results = {}
    for label, addr in (("meridian", n1_addr), ("redis-server", oracle_addr)):
        sub, pub = subscriber_and_publisher(addr, protocol, key, setup)
        try:
            count = pub.call("PUBLISH", f"{key}:abc", "m")
            frames = sub.frames(3)
            end = sub.call("PING", "end")
            results[label] = (count, frames[0], sorted(frames[1:]), end)
        finally:
            sub.close()
            pub.close()
    assert results["meridian"] == results["redis-server"]


# Glob patterns: each pattern subscribed to on a connection of its own, then a message per
# channel; PUBLISH's count and which patterns got a pmessage must be those of redis-server.
PATTERNS = ["K:h?llo", "K:h*llo", "K:h[ae]llo", "K:h[^e]llo", "K:h[a-c]llo", "K:h\\*llo", "K:*", "K:hello"]
CHANNELS = ["K:hello", "K:hallo", "K:hbllo", "K:hllo", "K:heeeello", "K:h*llo", "K:hxllo", "K:x"]


def test_glob_patterns_match_as_in_redis(n1_addr, oracle_addr, key):
    results = {}
    for label, addr in (("meridian", n1_addr), ("redis-server", oracle_addr)):
        subs, pub = [], Raw(addr)
        try:
            # A marker channel every connection subscribes to as well, published to last:
            # what a connection gets before the marker is all that the channels sent it.
            marker = f"{key}:zz-marker"
            for p in with_key(PATTERNS, key):
                s = Raw(addr)
                subs.append(s)
                s.send("PSUBSCRIBE", p)
                s.frame()
                s.send("SUBSCRIBE", marker)
                s.frame()
            counts = [pub.call("PUBLISH", c, "m") for c in with_key(CHANNELS, key)]
            pub.call("PUBLISH", marker, "end")
            received = []
            for s in subs:
                got = []
                while (f := s.frame()) not in (NOTHING, CLOSED) and not f.startswith(b"*3\r\n$7\r\nmessage"):
                    got.append(f)
                received.append(got)
            results[label] = (counts, received)
        finally:
            for s in subs:
                s.close()
            pub.close()
    assert results["meridian"] == results["redis-server"]
    assert all(results["meridian"][1]), "every pattern matches one channel at least"


def test_resp3_publish_to_a_channel_of_the_same_connection(n1_addr, oracle_addr, key):
    """A RESP3 connection publishing to a channel it subscribes to gets the message and the
    reply: redis-server writes the push while it runs PUBLISH, before the reply; Meridian
    delivers it just after."""
    results = {}
    for label, addr in (("meridian", n1_addr), ("redis-server", oracle_addr)):
        c = Raw(addr, 3)
        try:
            c.call("SUBSCRIBE", f"{key}:a")
            c.send("PUBLISH", f"{key}:a", "to myself")
            results[label] = c.frames(2)
        finally:
            c.close()
    # The same frames; Meridian delivers the message just after PUBLISH's reply, where
    # redis-server writes it during PUBLISH (docs/resp.md, Pub/sub).
    assert sorted(results["meridian"]) == sorted(results["redis-server"])


def test_pubsub_numpat_counts_distinct_patterns(n1_addr, oracle_addr, key):
    """NUMPAT is node-wide: its change is compared, not its value."""
    results = {}
    for label, addr in (("meridian", n1_addr), ("redis-server", oracle_addr)):
        a, b, q = Raw(addr), Raw(addr), Raw(addr)
        try:
            before = int(q.call("PUBSUB", "NUMPAT")[1:])
            a.send("PSUBSCRIBE", f"{key}:*", f"{key}:x?")
            a.frames(2)
            b.send("PSUBSCRIBE", f"{key}:*")
            b.frame()
            b.send("SUBSCRIBE", f"{key}:c")
            b.frame()
            during = int(q.call("PUBSUB", "NUMPAT")[1:]) - before
            a.call("PUNSUBSCRIBE", f"{key}:*")
            one_left = int(q.call("PUBSUB", "NUMPAT")[1:]) - before
            a.call("PUNSUBSCRIBE", f"{key}:x?")
            after = int(q.call("PUBSUB", "NUMPAT")[1:]) - before
            results[label] = (during, one_left, after)
        finally:
            for c in (a, b, q):
                c.close()
    assert results["meridian"] == results["redis-server"] == (2, 2, 1)


def test_a_closed_connection_s_subscriptions_go(n1_addr, oracle_addr, key):
    for addr in (n1_addr, oracle_addr):
        q = redis.Redis(host=addr[0], port=addr[1], decode_responses=True)
        s = Raw(addr)
        try:
            s.send("SUBSCRIBE", f"{key}:a")
            s.frame()
            s.send("PSUBSCRIBE", f"{key}:*")
            s.frame()
            assert q.pubsub_numsub(f"{key}:a") == [(f"{key}:a", 1)]
            assert q.publish(f"{key}:a", "m") == 2
            s.close()
            wait_for("the closed connection's subscriptions go", lambda: q.pubsub_numsub(f"{key}:a") == [(f"{key}:a", 0)])
            wait_for("nobody gets the message", lambda: q.publish(f"{key}:a", "m") == 0)
            assert q.pubsub_channels(f"{key}*") == []
        finally:
            s.close()
            q.close()


# ------------------------------------------------------------------ redis-py's pubsub()


@pytest.fixture(params=[2, 3], ids=["resp2", "resp3"])
def clients(request, n1_addr, oracle_addr):
    """redis-py clients of Meridian and of redis-server; a read that waits past 10 s fails."""
    made = [
        redis.Redis(host=h, port=p, protocol=request.param, decode_responses=True, socket_timeout=WAIT)
        for h, p in (n1_addr, oracle_addr)
    ]
    yield made
    for c in made:
        c.close()


def both(clients, run):
    """Runs `run(client)` at Meridian and at redis-server; their results must match."""
    meridian, oracle = clients
    got, want = run(meridian), run(oracle)
    assert got == want, f"meridian {got!r}, redis-server {want!r}"
    return got


def test_pubsub_object_get_message(clients, key):
    def run(client):
        p = client.pubsub()
        try:
            out = []
            p.subscribe(f"{key}:a", f"{key}:b")
            p.psubscribe(f"{key}:*")
            out += [p.get_message(timeout=WAIT) for _ in range(3)]
            out.append(client.publish(f"{key}:a", "hello"))
            out += [p.get_message(timeout=WAIT) for _ in range(2)]
            out.append(client.publish(f"{key}:c", "pattern"))
            out.append(p.get_message(timeout=WAIT))
            p.ping("are you there")
            out.append(p.get_message(timeout=WAIT))
            p.unsubscribe(f"{key}:a")
            out.append(p.get_message(timeout=WAIT))
            out.append(sorted(client.pubsub_channels(f"{key}*")))
            out.append(client.pubsub_numsub(f"{key}:a", f"{key}:b"))
            p.unsubscribe()
            p.punsubscribe()
            out.append(p.get_message(timeout=WAIT))
            out.append(p.get_message(timeout=WAIT))
            out.append(p.get_message(timeout=0.1))
            out.append(client.publish(f"{key}:a", "nobody"))
            return out
        finally:
            p.close()

    out = both(clients, run)
    assert out[3] == 2
    assert out[4]["type"] == "message" and out[4]["data"] == "hello"
    assert out[5] == {"type": "pmessage", "pattern": f"{key}:*", "channel": f"{key}:a", "data": "hello"}
    assert out[-1] == 0


def test_pubsub_object_ignoring_subscribe_messages(clients, key):
    def run(client):
        p = client.pubsub(ignore_subscribe_messages=True)
        try:
            p.subscribe(f"{key}:a")
            p.psubscribe(f"{key}:?")
            # The confirmations are read and dropped.
            first = [p.get_message(timeout=0.2), p.get_message(timeout=0.2)]
            assert p.subscribed
            client.publish(f"{key}:a", "one")
            got = []
            while len(got) < 2 and (m := p.get_message(timeout=WAIT)) is not None:
                got.append(m)
            return first, got
        finally:
            p.close()

    first, got = both(clients, run)
    assert first == [None, None]
    assert [m["type"] for m in got] == ["message", "pmessage"]


def test_pubsub_object_listen(clients, key):
    def run(client):
        p = client.pubsub()
        try:
            p.subscribe(f"{key}:a")
            for i in range(3):
                client.publish(f"{key}:a", f"m{i}")
            out = []
            for m in p.listen():
                out.append(m)
                if m["type"] == "message" and m["data"] == "m2":
                    p.unsubscribe()
                if m["type"] == "unsubscribe":
                    break
            return out
        finally:
            p.close()

    out = both(clients, run)
    assert [m["data"] for m in out] == [1, "m0", "m1", "m2", 0]


def test_pubsub_object_with_handlers(clients, key):
    def run(client):
        got = []
        p = client.pubsub()
        try:
            p.subscribe(**{f"{key}:a": got.append})
            p.psubscribe(**{f"{key}:*": got.append})
            client.publish(f"{key}:a", "handled")
            deadline = time.monotonic() + WAIT
            while len(got) < 2 and time.monotonic() < deadline:
                p.get_message(timeout=0.1)
            return got
        finally:
            p.close()

    got = both(clients, run)
    assert len(got) == 2


# ------------------------------------------------------------------ Meridian only: regions


def region_client(addr, protocol=2, password=None):
    return redis.Redis(
        host=addr[0], port=addr[1], protocol=protocol, password=password, decode_responses=True, socket_timeout=WAIT
    )


def confirmed(p, n):
    """Reads `n` (un)subscribe confirmations of pubsub object `p`."""
    got = [p.get_message(timeout=WAIT) for _ in range(n)]
    assert all(m is not None and m["type"].endswith("subscribe") for m in got), got
    return got


def collect(p, until, quiet=QUIET):
    """The messages `p` gets until `until(messages)` holds (failing after WAIT), then for
    `quiet` seconds more: what came more than once, or that should not have, shows."""
    got = []
    deadline = time.monotonic() + WAIT
    while not until(got):
        left = deadline - time.monotonic()
        if left <= 0:
            pytest.fail(f"not within {WAIT}s; got {got!r}")
        m = p.get_message(timeout=min(left, 0.5))
        if m is not None:
            got.append(m)
    end = time.monotonic() + quiet
    while (left := end - time.monotonic()) > 0:
        m = p.get_message(timeout=left)
        if m is not None:
            got.append(m)
    return got


@pytest.mark.parametrize("protocol", [2, 3], ids=["resp2", "resp3"])
def test_a_message_reaches_another_region_once(n1_addr, n3_addr, key, protocol):
    """Published at region 1 to a channel that a connection at region 3 subscribes to, and
    that a pattern of that connection matches: one message and one pmessage there."""
    here, there = region_client(n1_addr, protocol), region_client(n3_addr, protocol)
    p = there.pubsub()
    try:
        channel = f"{key}:news"
        p.subscribe(channel)
        p.psubscribe(f"{key}:n*")
        confirmed(p, 2)
        # No subscriber at region 1: PUBLISH counts its own region's only.
        assert here.publish(channel, "from region 1") == 0
        got = collect(p, lambda g: len(g) >= 2)
        assert sorted((m["type"], m["pattern"] or "", m["channel"], m["data"]) for m in got) == [
            ("message", "", channel, "from region 1"),
            ("pmessage", f"{key}:n*", channel, "from region 1"),
        ], got
    finally:
        p.close()
        there.close()
        here.close()


def test_a_message_published_at_region_3_reaches_region_1(n1_addr, n3_addr, key):
    here, there = region_client(n1_addr), region_client(n3_addr)
    p = here.pubsub()
    try:
        p.subscribe(f"{key}:c")
        p.psubscribe(f"{key}:*")
        confirmed(p, 2)
        assert there.publish(f"{key}:c", "from region 3") == 0
        got = collect(p, lambda g: len(g) >= 2)
        assert sorted((m["type"], m["data"]) for m in got) == [
            ("message", "from region 3"),
            ("pmessage", "from region 3"),
        ], got
    finally:
        p.close()
        here.close()
        there.close()


def test_a_message_published_at_region_2_reaches_regions_1_and_3(n1_addr, n2_addr, n3_addr, password, key):
    one, two, three = region_client(n1_addr), region_client(n2_addr), region_client(n3_addr)
    try:
        two.ping()
    except redis.AuthenticationError:
        # Region 2 asks for the password (it does under tests/redis_clients.rs).
        two.close()
        two = region_client(n2_addr, password=password)
    p1, p3 = one.pubsub(), three.pubsub()
    try:
        for p in (p1, p3):
            p.subscribe(f"{key}:c")
            confirmed(p, 1)
        assert two.publish(f"{key}:c", "from region 2") == 0
        for p in (p1, p3):
            got = collect(p, lambda g: len(g) >= 1)
            assert [(m["type"], m["data"]) for m in got] == [("message", "from region 2")]
    finally:
        p1.close()
        p3.close()
        for c in (one, two, three):
            c.close()


def test_messages_of_one_publisher_arrive_in_order(n1_addr, n3_addr, key):
    """A hundred messages published at region 1, pipelined, reach region 3 all and in order
    (as PUBLISH answered them), those of a pattern as well."""
    here, there = region_client(n1_addr), region_client(n3_addr)
    p = there.pubsub()
    try:
        p.subscribe(f"{key}:c")
        p.psubscribe(f"{key}:*")
        confirmed(p, 2)
        pipe = here.pipeline(transaction=False)
        for i in range(100):
            pipe.publish(f"{key}:c", str(i))
        assert pipe.execute() == [0] * 100
        got = collect(p, lambda g: len(g) >= 200)
        expected = [str(i) for i in range(100)]
        assert [m["data"] for m in got if m["type"] == "message"] == expected
        assert [m["data"] for m in got if m["type"] == "pmessage"] == expected
        assert len(got) == 200
    finally:
        p.close()
        there.close()
        here.close()


def test_publish_counts_its_own_region_only(n1_addr, n3_addr, key):
    """Subscribers at regions 1 and 3: PUBLISH at region 1 counts region 1's; region 3's
    subscriber gets the message all the same. PUBSUB NUMSUB and CHANNELS are per region."""
    here, there = region_client(n1_addr), region_client(n3_addr)
    local, remote = here.pubsub(), there.pubsub()
    try:
        channel = f"{key}:c"
        local.subscribe(channel)
        local.psubscribe(f"{key}:*")
        confirmed(local, 2)
        remote.subscribe(channel)
        confirmed(remote, 1)
        assert here.pubsub_numsub(channel) == [(channel, 1)]
        assert here.pubsub_channels(f"{key}*") == [channel]
        assert here.publish(channel, "counted here") == 2
        assert [m["data"] for m in collect(remote, lambda g: len(g) >= 1)] == ["counted here"]
        assert [m["type"] for m in collect(local, lambda g: len(g) >= 2)] == ["message", "pmessage"]
        # Region 3's own view: its subscriber only.
        remote.unsubscribe(channel)
        confirmed(remote, 1)
        assert here.pubsub_numsub(channel) == [(channel, 1)]
        local.unsubscribe(channel)
        local.punsubscribe()
        confirmed(local, 2)
        assert here.publish(channel, "nobody") == 0
        assert here.pubsub_channels(f"{key}*") == []
    finally:
        local.close()
        remote.close()
        here.close()
        there.close()


def test_a_region_s_numsub_and_channels_are_its_own(n1_addr, n3_addr, key):
    """A subscriber at region 3 (RESP3, so that it may ask PUBSUB itself) counts there only."""
    here = region_client(n1_addr)
    there = Raw(n3_addr, 3)
    try:
        channel = f"{key}:c".encode()
        there.send("SUBSCRIBE", channel)
        assert there.frame() == b">3\r\n$9\r\nsubscribe\r\n$%d\r\n%s\r\n:1\r\n" % (len(channel), channel)
        assert there.call("PUBSUB", "NUMSUB", channel) == b"*2\r\n$%d\r\n%s\r\n:1\r\n" % (len(channel), channel)
        assert there.call("PUBSUB", "CHANNELS", f"{key}*") == b"*1\r\n$%d\r\n%s\r\n" % (len(channel), channel)
        assert here.pubsub_numsub(channel.decode()) == [(channel.decode(), 0)]
        assert here.pubsub_channels(f"{key}*") == []
        assert here.publish(channel, "not counted here") == 0
        assert there.frame() == b">3\r\n$7\r\nmessage\r\n$%d\r\n%s\r\n$16\r\nnot counted here\r\n" % (
            len(channel),
            channel,
        )
    finally:
        there.close()
        here.close()


def test_nothing_arrives_after_unsubscribing(n1_addr, n3_addr, key):
    """After UNSUBSCRIBE (and PUNSUBSCRIBE) at region 3, a message published at region 1 to
    the channel no longer comes: a later message of the same publisher to a channel still
    subscribed to comes alone (one publisher's messages arrive in order)."""
    here, there = region_client(n1_addr), region_client(n3_addr)
    p = there.pubsub()
    try:
        a, b = f"{key}:a", f"{key}:b"
        p.subscribe(a, b)
        p.psubscribe(f"{key}:a*")
        confirmed(p, 3)
        here.publish(a, "1")
        got = collect(p, lambda g: len(g) >= 2, quiet=0)
        assert sorted(m["type"] for m in got) == ["message", "pmessage"]

        p.unsubscribe(a)
        confirmed(p, 1)
        here.publish(a, "2")
        here.publish(b, "marker 1")
        got = collect(p, lambda g: any(m["data"] == "marker 1" for m in g), quiet=0)
        # The pattern still matches a.
        assert [(m["type"], m["data"]) for m in got] == [("pmessage", "2"), ("message", "marker 1")]

        p.punsubscribe(f"{key}:a*")
        confirmed(p, 1)
        here.publish(a, "3")
        here.publish(b, "marker 2")
        got = collect(p, lambda g: any(m["data"] == "marker 2" for m in g))
        assert [(m["type"], m["data"]) for m in got] == [("message", "marker 2")]

        p.unsubscribe()
        confirmed(p, 1)
        here.publish(b, "4")
        here.publish(a, "5")
        # Nothing to wait for: a short look that nothing comes.
        assert p.get_message(timeout=QUIET) is None
    finally:
        p.close()
        there.close()
        here.close()


def test_a_subscriber_at_region_3_in_raw_resp2(n1_addr, n3_addr, key):
    """The frames a RESP2 subscriber at region 3 reads for a message from region 1 are those
    redis-server writes for a local one."""
    here = region_client(n1_addr)
    there = Raw(n3_addr)
    try:
        channel = f"{key}:c".encode()
        there.send("SUBSCRIBE", channel)
        there.frame()
        there.send("PSUBSCRIBE", f"{key}:*")
        there.frame()
        here.publish(channel, "hi")
        frames = [there.frame(), there.frame()]
        assert frames == [
            b"*3\r\n$7\r\nmessage\r\n$%d\r\n%s\r\n$2\r\nhi\r\n" % (len(channel), channel),
            b"*4\r\n$8\r\npmessage\r\n$%d\r\n%s:*\r\n$%d\r\n%s\r\n$2\r\nhi\r\n"
            % (len(key) + 2, key.encode(), len(channel), channel),
        ]
        assert there.frames_for(QUIET) == []
    finally:
        there.close()
        here.close()
