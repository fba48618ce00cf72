"""Transactions (MULTI, EXEC, DISCARD, WATCH, UNWATCH) through redis-py: each sequence sent to
Meridian and to redis-server on as many connections as it needs, one to one, and the replies
(errors included, those inside EXEC's reply as well) compared; then the same sequences byte
for byte on raw sockets, in RESP2 and RESP3. What only Meridian has (a blocking command
refused inside MULTI, WATCH seeing another region's write, a transaction and a multi-key
write seen whole from another region) is at the end of this file.
"""

import socket
import threading

import pytest
import redis

from conftest import Failed, encode, read_reply, wait_for


def named(reply):
    """`reply` with the errors redis-py leaves inside it (EXEC's replies) as their text."""
    if isinstance(reply, Exception):
        return Failed(str(reply))
    if isinstance(reply, list):
        return [named(r) for r in reply]
    return reply


def outcome(client, args):
    try:
        return named(client.execute_command(*args))
    except redis.ResponseError as e:
        return Failed(str(e))


class Conn:
    """One connection to Meridian and one to redis-server, with redis-py's reply callbacks
    off (QUEUED reads as QUEUED): each command goes to both and the outcomes must be equal."""

    def __init__(self, meridian, oracle):
        self.meridian = meridian
        self.oracle = oracle

    def __call__(self, *args):
        got, want = outcome(self.meridian, args), outcome(self.oracle, args)
        assert got == want, f"{args}: meridian {got!r}, redis-server {want!r}"
        return got


@pytest.fixture(params=[2, 3], ids=["resp2", "resp3"])
def connect(request, n1_addr, oracle_addr):
    """Opens a `Conn` per call: a transaction and the client that disturbs it each need one."""
    opened = []

    def open_one():
        clients = [
            redis.Redis(
                host=h,
                port=p,
                protocol=request.param,
                decode_responses=True,
                single_connection_client=True,
            )
            for h, p in (n1_addr, oracle_addr)
        ]
        for c in clients:
            c.response_callbacks.clear()
        opened.extend(clients)
        return Conn(*clients)

    yield open_one
    for c in opened:
        c.close()


def err(prefix):
    """Matches a Failed whose text starts with `prefix`. redis-py drops the ERR and EXECABORT
    codes from an error's text (the byte-for-byte tests below see them)."""

    class Starts(Failed):
        # A subclass of Failed: `failed == err(...)` asks this __eq__ first.
        def __eq__(self, other):
            return isinstance(other, Failed) and other.message.startswith(prefix)

        def __repr__(self):
            return f"error({prefix!r}...)"

    return Starts(prefix)


NIL = None


# ------------------------------------------------------------------ MULTI, EXEC, DISCARD


def test_queued_writes_and_reads_see_each_other(connect, key):
    c = connect()
    assert c("MULTI") == "OK"
    assert c("SET", key, "1") == "QUEUED"
    assert c("INCR", key) == "QUEUED"
    assert c("GET", key) == "QUEUED"
    assert c("INCRBY", key, 10) == "QUEUED"
    assert c("APPEND", key, "x") == "QUEUED"
    assert c("RPUSH", f"{key}:l", "a", "b") == "QUEUED"
    assert c("LRANGE", f"{key}:l", 0, -1) == "QUEUED"
    assert c("DEL", key) == "QUEUED"
    assert c("EXISTS", key) == "QUEUED"
    assert c("PING") == "QUEUED"
    assert c("EXEC") == ["OK", 2, "2", 12, 3, 2, ["a", "b"], 1, 0, "PONG"]
    assert c("GET", key) is NIL
    assert c("LRANGE", f"{key}:l", 0, -1) == ["a", "b"]


def test_nothing_runs_before_exec(connect, key):
    c, other = connect(), connect()
    c("MULTI")
    c("SET", key, "v")
    c("SADD", f"{key}:s", "m")
    assert other("GET", key) is NIL
    assert other("EXISTS", f"{key}:s") == 0
    assert c("EXEC") == ["OK", 1]
    assert other("GET", key) == "v"


def test_exec_and_discard_without_multi(connect, key):
    c = connect()
    assert c("EXEC") == err("EXEC without MULTI")
    assert c("DISCARD") == err("DISCARD without MULTI")
    # The connection is fine afterwards, outside any transaction.
    assert c("SET", key, "1") == "OK"
    assert c("EXEC") == err("EXEC without MULTI")


def test_nested_multi_is_an_error_and_the_transaction_goes_on(connect, key):
    c = connect()
    c("MULTI")
    c("SET", key, "1")
    assert c("MULTI") == err("MULTI calls can not be nested")
    assert c("INCR", key) == "QUEUED"
    assert c("EXEC") == ["OK", 2]
    assert c("GET", key) == "2"
    # Out of the transaction: EXEC has nothing to run.
    assert c("EXEC") == err("EXEC without MULTI")


def test_watch_inside_multi_is_an_error_and_the_transaction_goes_on(connect, key):
    c, other = connect(), connect()
    c("MULTI")
    c("SET", key, "1")
    assert c("WATCH", key) == err("WATCH inside MULTI is not allowed")
    c("INCR", key)
    # The refused WATCH watches nothing: a change now does not stop EXEC.
    other("SET", f"{key}:other", "x")
    assert c("EXEC") == ["OK", 2]
    assert c("GET", key) == "2"


@pytest.mark.parametrize(
    "bad",
    [
        ["NOSUCHCOMMAND", "a", "b"],
        ["GET"],
        ["SET", "k"],
        ["INCR", "a", "b"],
        ["DISCARD", "extra"],
        ["MULTI", "extra"],
        ["WATCH"],
        ["UNWATCH", "extra"],
    ],
    ids=lambda b: " ".join(b),
)
def test_an_error_while_queueing_aborts_exec(connect, key, bad):
    c = connect()
    c("SET", key, "before")
    c("MULTI")
    c("SET", key, "1")
    c("INCR", f"{key}:n")
    refused = c(*bad)
    assert isinstance(refused, Failed)
    # Queueing goes on after the error; EXEC then discards all of it.
    assert c("SET", f"{key}:after", "x") == "QUEUED"
    assert c("EXEC") == err("Transaction discarded because of previous errors")
    assert c("GET", key) == "before"
    assert c("EXISTS", f"{key}:n", f"{key}:after") == 0
    assert c("EXEC") == err("EXEC without MULTI")


def test_a_run_time_error_answers_in_place_and_the_rest_runs(connect, key):
    c = connect()
    c("SADD", f"{key}:s", "m")
    c("SET", f"{key}:str", "abc")
    c("MULTI")
    c("SET", key, "1")
    c("LPUSH", f"{key}:s", "x")  # WRONGTYPE
    c("INCR", key)
    c("INCR", f"{key}:str")  # not an integer
    c("SET", key, "v", "BOGUS")  # syntax error, found when it runs
    c("GET", f"{key}:s")  # WRONGTYPE
    c("SADD", f"{key}:s", "n")
    reply = c("EXEC")
    assert reply[0] == "OK"
    assert reply[1] == err("WRONGTYPE")
    assert reply[2] == 2
    assert reply[3] == err("value is not an integer")
    assert reply[4] == err("syntax error")
    assert reply[5] == err("WRONGTYPE")
    assert reply[6] == 1
    assert c("GET", key) == "2"
    # A set's members in any order: Redis's depends on its hash seed.
    for server in (c.meridian, c.oracle):
        assert sorted(server.execute_command("SMEMBERS", f"{key}:s")) == ["m", "n"]


def test_empty_multi_exec(connect):
    c = connect()
    c("MULTI")
    assert c("EXEC") == []
    c("MULTI")
    assert c("DISCARD") == "OK"


def test_discard_drops_the_queued_writes(connect, key):
    c = connect()
    c("SET", key, "before")
    c("MULTI")
    c("SET", key, "after")
    c("DEL", key)
    c("RPUSH", f"{key}:l", "x")
    assert c("DISCARD") == "OK"
    assert c("GET", key) == "before"
    assert c("EXISTS", f"{key}:l") == 0
    assert c("EXEC") == err("EXEC without MULTI")
    assert c("DISCARD") == err("DISCARD without MULTI")
    # DISCARD also ends a transaction that a queueing error doomed.
    c("MULTI")
    c("NOSUCHCOMMAND")
    assert c("DISCARD") == "OK"
    c("MULTI")
    c("SET", key, "later")
    assert c("EXEC") == ["OK"]


# ------------------------------------------------------------------ WATCH


def test_watch_then_a_change_by_another_connection_aborts(connect, key):
    c, other = connect(), connect()
    c("SET", key, "1")
    assert c("WATCH", key, f"{key}:b") == "OK"
    assert other("SET", key, "2") == "OK"
    c("MULTI")
    c("SET", key, "mine")
    c("SET", f"{key}:b", "mine")
    assert c("EXEC") is NIL
    assert c("GET", key) == "2"
    assert c("EXISTS", f"{key}:b") == 0


def test_watch_with_no_change_runs(connect, key):
    c, other = connect(), connect()
    c("SET", key, "1")
    c("WATCH", key)
    # Reads, and writes of other keys, are not changes of the key.
    other("GET", key)
    other("SET", f"{key}:other", "x")
    c("GET", key)
    c("MULTI")
    c("INCR", key)
    assert c("EXEC") == [2]


def test_a_change_of_any_watched_key_aborts(connect, key):
    c, other = connect(), connect()
    c("MSET", f"{key}:a", "1", f"{key}:b", "1")
    c("WATCH", f"{key}:a")
    c("WATCH", f"{key}:b", f"{key}:a")
    other("INCR", f"{key}:b")
    c("MULTI")
    c("INCR", f"{key}:a")
    assert c("EXEC") is NIL
    assert c("MGET", f"{key}:a", f"{key}:b") == ["1", "2"]


def test_unwatch(connect, key):
    c, other = connect(), connect()
    c("SET", key, "1")
    c("WATCH", key)
    assert c("UNWATCH") == "OK"
    other("SET", key, "2")
    c("MULTI")
    c("INCR", key)
    assert c("EXEC") == [3]
    # UNWATCH with nothing watched.
    assert c("UNWATCH") == "OK"


def test_watch_of_a_missing_key_that_gets_created(connect, key):
    c, other = connect(), connect()
    c("WATCH", key)
    other("SET", key, "made")
    c("MULTI")
    c("SET", key, "mine")
    assert c("EXEC") is NIL
    assert c("GET", key) == "made"
    # Missing and still missing: runs.
    c("WATCH", f"{key}:absent")
    other("GET", f"{key}:absent")
    other("DEL", f"{key}:absent")
    c("MULTI")
    c("SET", f"{key}:absent", "mine")
    assert c("EXEC") == ["OK"]


# (what the key holds when watched, what another connection then does to it). Redis aborts
# EXEC after a write that touched the key, whatever the value became, and not after a write
# that found nothing to do (a failed SETNX, a DEL of a missing key, an SADD of a member in).
CHANGES = [
    (["SET", "K", "same"], [["SET", "K", "same"]]),  # the same value again
    (["SET", "K", "v"], [["EXPIRE", "K", "100"]]),
    (["SET", "K", "v"], [["APPEND", "K", ""]]),
    (["SET", "K", "v"], [["GETDEL", "K"]]),
    (["SET", "K", "v"], [["SETNX", "K", "other"]]),
    (["SET", "K", "v"], [["PERSIST", "K"]]),  # no deadline to remove
    (["SET", "K", "v"], [["EXPIRE", "K", "100", "XX"]]),
    (["SET", "K", "v"], [["MSETNX", "K", "x", "K:other", "y"]]),
    (["SET", "K", "v"], [["SET", "K:other", "x"]]),  # a key not watched
    (["SET", "K", "1"], [["INCR", "K"], ["DECR", "K"]]),
    (["SET", "K", "1"], [["INCRBY", "K", "0"]]),
    (None, [["DEL", "K"]]),
    (None, [["INCRBY", "K", "0"]]),
    (None, [["LPUSHX", "K", "a"]]),
    (None, [["SET", "K", "v", "XX"]]),
    (None, [["SUNIONSTORE", "K", "K:none"]]),
    (None, [["SET", "K", "x"], ["DEL", "K"]]),  # created and deleted again: touched
    (["SADD", "K", "a"], [["SREM", "K", "zz"]]),
    (["SADD", "K", "a"], [["SREM", "K", "a"], ["SADD", "K", "a"]]),
    (["SADD", "K", "a"], [["SMOVE", "K", "K:other", "zz"]]),
    (["ZADD", "K", "1", "m"], [["ZADD", "K", "1", "m"]]),
    (["ZADD", "K", "1", "m"], [["ZREM", "K", "zz"]]),
    (["HSET", "K", "f", "v"], [["HSET", "K", "f", "v"]]),
    (["HSET", "K", "f", "v"], [["HSETNX", "K", "f", "w"]]),
    (["HSET", "K", "f", "v"], [["HDEL", "K", "zz"]]),
    (["RPUSH", "K", "a"], [["LSET", "K", "0", "a"]]),
    (["RPUSH", "K", "a"], [["LREM", "K", "0", "zz"]]),
    (["RPUSH", "K", "a"], [["RPUSH", "K", "b"], ["RPOP", "K"]]),
]


def with_key(args, key):
    return [a.replace("K", key, 1) if a.startswith("K") else a for a in args]


@pytest.mark.parametrize(
    "setup,changes",
    CHANGES,
    ids=[f"{s[0] if s else 'missing'}: " + ", ".join(" ".join(c) for c in cs) for s, cs in CHANGES],
)
def test_what_counts_as_a_change_of_a_watched_key(connect, key, setup, changes):
    c, other = connect(), connect()
    if setup:
        c(*with_key(setup, key))
    c("WATCH", key)
    for change in changes:
        other(*with_key(change, key))
    c("MULTI")
    c("SET", f"{key}:ran", "yes")
    c("EXEC")
    c("GET", f"{key}:ran")


def gone(conn, k):
    """Whether `k` expired at both servers: each by its own clock, so polled one by one."""
    return lambda: conn.meridian.exists(k) == 0 and conn.oracle.exists(k) == 0


def test_a_watched_key_that_expires_before_exec_aborts_it(connect, key):
    c, other = connect(), connect()
    c("SET", key, "v", "PX", "100")
    c("WATCH", key)
    wait_for("the key expires at both servers", gone(other, key))
    c("MULTI")
    c("SET", f"{key}:ran", "1")
    assert c("EXEC") is NIL
    assert c("EXISTS", f"{key}:ran") == 0


def test_a_watched_key_created_and_expired_again(connect, key):
    c, other = connect(), connect()
    c("WATCH", key)
    other("SET", key, "v", "PX", "50")
    wait_for("the key expires at both servers", gone(other, key))
    c("MULTI")
    c("SET", f"{key}:ran", "yes")
    c("EXEC")
    c("GET", f"{key}:ran")


def test_the_watching_connection_s_own_write_aborts(connect, key):
    c = connect()
    c("SET", key, "1")
    c("WATCH", key)
    c("INCR", key)
    c("MULTI")
    c("INCR", key)
    assert c("EXEC") is NIL
    assert c("GET", key) == "2"


def test_exec_and_discard_clear_the_watches(connect, key):
    c, other = connect(), connect()
    c("SET", key, "1")
    # A successful EXEC.
    c("WATCH", key)
    c("MULTI")
    c("INCR", key)
    assert c("EXEC") == [2]
    other("INCR", key)
    c("MULTI")
    c("INCR", key)
    assert c("EXEC") == [4]
    # An aborted EXEC.
    c("WATCH", key)
    other("INCR", key)
    c("MULTI")
    c("INCR", key)
    assert c("EXEC") is NIL
    other("INCR", key)
    c("MULTI")
    c("INCR", key)
    assert c("EXEC") == [7]
    # DISCARD.
    c("WATCH", key)
    c("MULTI")
    c("DISCARD")
    other("INCR", key)
    c("MULTI")
    c("INCR", key)
    assert c("EXEC") == [9]
    # EXECABORT.
    c("WATCH", key)
    c("MULTI")
    c("GET")
    assert c("EXEC") == err("Transaction discarded")
    other("INCR", key)
    c("MULTI")
    c("INCR", key)
    assert c("EXEC") == [11]


# ------------------------------------------------------------------ redis-py's helpers


@pytest.fixture(params=[2, 3], ids=["resp2", "resp3"])
def clients(request, n1_addr, oracle_addr):
    """Plain redis-py clients (their callbacks on), Meridian's and redis-server's, and a
    second pair for the connection that disturbs a WATCH."""
    made = [
        [redis.Redis(host=h, port=p, protocol=request.param, decode_responses=True) for h, p in (n1_addr, oracle_addr)]
        for _ in range(2)
    ]
    yield made
    for pair_ in made:
        for c in pair_:
            c.close()


def both(clients, run):
    """Runs `run(main, other)` at Meridian and at redis-server; their results must match."""
    (m_main, o_main), (m_other, o_other) = clients
    got, want = run(m_main, m_other), run(o_main, o_other)
    assert got == want, f"meridian {got!r}, redis-server {want!r}"
    return got


def test_pipeline_in_a_transaction(clients, key):
    def run(c, _):
        pipe = c.pipeline()
        pipe.set(key, 1).incr(key).get(key).lpush(key, "x").incrby(key, 5).getset(key, "z")
        replies = named(pipe.execute(raise_on_error=False))
        try:
            with c.pipeline() as pipe:
                pipe.set(key, "a").hset(key, "f", "v").get(key).execute()
            raised = None
        except redis.ResponseError as e:
            raised = str(e)
        return replies, raised, c.get(key)

    replies, raised, value = both(clients, run)
    assert replies[:3] == [True, 2, "2"]
    assert isinstance(replies[3], Failed) and replies[3].message.startswith("WRONGTYPE")
    assert replies[4:] == [7, "7"]
    assert "WRONGTYPE" in raised
    assert value == "a"


def test_pipeline_with_a_queueing_error(clients, key):
    def run(c, _):
        c.set(key, "before")
        pipe = c.pipeline()
        pipe.set(key, "after")
        pipe.execute_command("NOSUCHCOMMAND", key)
        pipe.incr(key)
        try:
            pipe.execute()
            raised = None
        except redis.ResponseError as e:
            raised = (type(e).__name__, str(e))
        return raised, c.get(key)

    raised, value = both(clients, run)
    assert raised is not None and "NOSUCHCOMMAND" in raised[1].upper()
    assert value == "before"


def test_pipeline_without_a_transaction(clients, key):
    def run(c, _):
        pipe = c.pipeline(transaction=False)
        pipe.set(key, 1).incr(key).rpush(key, "x").get(key).delete(key).exists(key)
        return named(pipe.execute(raise_on_error=False))

    replies = both(clients, run)
    assert replies[:2] == [True, 2]
    assert replies[2] == Failed("WRONGTYPE Operation against a key holding the wrong kind of value")
    assert replies[3:] == ["2", 1, 0]


def test_pipeline_watch_and_multi_by_hand(clients, key):
    def run(c, other):
        c.set(key, 5)
        results = []
        with c.pipeline() as pipe:
            pipe.watch(key)
            value = int(pipe.get(key))  # immediate mode after WATCH
            other.set(key, 6)
            pipe.multi()
            pipe.set(key, value + 1)
            try:
                results.append(pipe.execute())
            except redis.WatchError:
                results.append("watch error")
            pipe.watch(key)
            value = int(pipe.get(key))
            pipe.multi()
            pipe.set(key, value * 10)
            results.append(pipe.execute())
        return results, c.get(key)

    assert both(clients, run) == (["watch error", [True]], "60")


def test_transaction_helper_retries_on_a_watched_change(clients, key):
    def run(c, other):
        c.set(key, 10)
        seen = []

        def double(pipe):
            value = int(pipe.get(key))
            seen.append(value)
            if len(seen) == 1:
                other.incr(key)  # after WATCH: the first EXEC replies nil
            pipe.multi()
            pipe.set(key, value * 2)
            pipe.get(key)

        result = c.transaction(double, key)
        return result, seen, c.get(key)

    assert both(clients, run) == ([True, "22"], [10, 11], "22")


def test_transaction_helper_without_a_change(clients, key):
    def run(c, _):
        c.rpush(key, "a", "b")

        def move(pipe):
            head = pipe.lindex(key, 0)
            pipe.multi()
            pipe.lpop(key)
            pipe.rpush(f"{key}:dest", head)

        return c.transaction(move, key, f"{key}:dest", value_from_callable=False), c.lrange(f"{key}:dest", 0, -1)

    assert both(clients, run) == (["a", 1], ["a"])


# ------------------------------------------------------------------ byte for byte


class Raw:
    def __init__(self, addr, protocol):
        self.sock = socket.create_connection(addr, timeout=10)
        self.file = self.sock.makefile("rb")
        if protocol == 3:
            self.call("HELLO", "3")

    def call(self, *args):
        self.sock.sendall(encode(args))
        return read_reply(self.file)

    def close(self):
        self.file.close()
        self.sock.close()


# (connection, command...): connection 0 runs the transaction, 1 disturbs it. "K" is the key.
SCENARIOS = {
    "queued writes and reads": [
        (0, "MULTI"), (0, "SET", "K", "1"), (0, "INCR", "K"), (0, "GET", "K"), (0, "DEL", "K:x"),
        (0, "EXEC"), (0, "GET", "K"),
    ],
    "without multi": [(0, "EXEC"), (0, "DISCARD"), (0, "UNWATCH")],
    "nested multi": [(0, "MULTI"), (0, "MULTI"), (0, "SET", "K", "1"), (0, "EXEC")],
    "watch inside multi": [(0, "MULTI"), (0, "WATCH", "K"), (0, "INCR", "K"), (0, "EXEC")],
    "unknown command": [
        (0, "MULTI"), (0, "SET", "K", "1"), (0, "NOSUCH", "K", "x"), (0, "EXEC"), (0, "GET", "K"),
    ],
    "wrong arity": [(0, "MULTI"), (0, "SET", "K", "1"), (0, "SET", "K"), (0, "EXEC"), (0, "GET", "K")],
    "wrong type at run time": [
        (0, "SADD", "K:s", "m"), (0, "MULTI"), (0, "SET", "K", "1"), (0, "LPUSH", "K:s", "x"),
        (0, "INCR", "K"), (0, "EXEC"), (0, "GET", "K"),
    ],
    "exec of a wrong arity": [
        (0, "MULTI"), (0, "SET", "K", "1"), (0, "EXEC", "extra"), (0, "SET", "K", "2"), (0, "EXEC"),
        (0, "GET", "K"),
    ],
    "empty": [(0, "MULTI"), (0, "EXEC")],
    "discard": [(0, "MULTI"), (0, "SET", "K", "1"), (0, "DISCARD"), (0, "GET", "K"), (0, "DISCARD")],
    "watch and a change": [
        (0, "SET", "K", "1"), (0, "WATCH", "K"), (1, "SET", "K", "2"), (0, "MULTI"),
        (0, "SET", "K", "3"), (0, "EXEC"), (0, "GET", "K"),
    ],
    "watch, no change": [(0, "WATCH", "K"), (0, "MULTI"), (0, "SET", "K", "3"), (0, "EXEC")],
    "unwatch": [
        (0, "WATCH", "K"), (1, "SET", "K", "2"), (0, "UNWATCH"), (0, "MULTI"), (0, "SET", "K", "3"),
        (0, "EXEC"),
    ],
    "watch a missing key that gets created": [
        (0, "WATCH", "K"), (1, "RPUSH", "K", "a"), (0, "MULTI"), (0, "RPUSH", "K", "b"), (0, "EXEC"),
        (0, "LRANGE", "K", "0", "-1"),
    ],
    "exec clears the watches": [
        (0, "WATCH", "K"), (0, "MULTI"), (0, "EXEC"), (1, "SET", "K", "2"), (0, "MULTI"),
        (0, "SET", "K", "3"), (0, "EXEC"),
    ],
    "discard clears the watches": [
        (0, "WATCH", "K"), (0, "MULTI"), (0, "DISCARD"), (1, "SET", "K", "2"), (0, "MULTI"),
        (0, "SET", "K", "3"), (0, "EXEC"),
    ],
    "hash and set replies inside exec": [
        (0, "MULTI"), (0, "HSET", "K:h", "f", "1", "g", "2"), (0, "HGETALL", "K:h"),
        (0, "SADD", "K:s", "a"), (0, "SMEMBERS", "K:s"), (0, "SISMEMBER", "K:s", "a"),
        (0, "ZADD", "K:z", "1.5", "m"), (0, "ZSCORE", "K:z", "m"), (0, "EXEC"),
    ],
}


@pytest.mark.parametrize("protocol", [2, 3], ids=["resp2", "resp3"])
@pytest.mark.parametrize("name", list(SCENARIOS))
def test_replies_byte_for_byte(n1_addr, oracle_addr, key, protocol, name):
    servers = {}
    try:
        for label, addr in (("meridian", n1_addr), ("redis-server", oracle_addr)):
            servers[label] = [Raw(addr, protocol), Raw(addr, protocol)]
        for conn, *args in SCENARIOS[name]:
            args = with_key(args, key)
            got = servers["meridian"][conn].call(*args)
            want = servers["redis-server"][conn].call(*args)
            assert got == want, f"{name}: {args} on connection {conn}: meridian {got!r}, redis-server {want!r}"
    finally:
        for conns in servers.values():
            for c in conns:
                c.close()


# ------------------------------------------------------------------ Meridian only


def single(addr, protocol=2):
    """One connection, replies as the server sent them (QUEUED, OK)."""
    host, port = addr
    client = redis.Redis(host=host, port=port, protocol=protocol, decode_responses=True, single_connection_client=True)
    client.response_callbacks.clear()
    return client


@pytest.mark.parametrize(
    "blocking",
    [
        ["BLPOP", "{k}:l", "0"],
        ["BRPOP", "{k}:l", "{k}:m", "1"],
        ["BLMOVE", "{k}:l", "{k}:m", "LEFT", "RIGHT", "0"],
        ["BRPOPLPUSH", "{k}:l", "{k}:m", "0"],
    ],
    ids=lambda b: b[0],
)
@pytest.mark.parametrize("protocol", [2, 3], ids=["resp2", "resp3"])
def test_a_blocking_command_is_refused_inside_multi(n1_addr, key, blocking, protocol):
    c = single(n1_addr, protocol)
    try:
        c.set(key, "before")
        assert c.execute_command("MULTI")
        assert c.execute_command("SET", key, "after") == "QUEUED"
        with pytest.raises(redis.ResponseError) as refused:
            c.execute_command(*[a.replace("{k}", key) for a in blocking])
        assert "MULTI" in str(refused.value)
        assert blocking[0] in str(refused.value).upper()
        with pytest.raises(redis.exceptions.ExecAbortError, match="Transaction discarded because of previous errors"):
            c.execute_command("EXEC")
        assert c.get(key) == "before"
        # The connection is out of the transaction and usable; the blocking command, outside
        # a transaction, still works.
        c.rpush(f"{key}:l", "x")
        assert c.execute_command(*[a.replace("{k}", key) for a in blocking]) is not None
    finally:
        c.close()


def test_wait_inside_multi_counts_regions(n1_addr, key):
    """WAIT inside a transaction runs when EXEC does and counts the regions holding the
    connection's latest write, as outside one (redis-server counts replicas: 0 here)."""
    c = single(n1_addr)
    try:
        c.execute_command("MULTI")
        c.execute_command("SET", key, "1")
        assert c.execute_command("WAIT", "2", "5000") == "QUEUED"
        reply = c.execute_command("EXEC")
        assert reply[0] in (True, "OK")
        assert reply[1] == 2
    finally:
        c.close()


# Where WATCH differs from redis-server, by design (docs/resp.md, "Transactions"): it counts
# the ops applied to a key, and a write that Redis treats as no change may still be an op
# here (an SADD of a member already in renews its tag, so that it survives a concurrent
# SREM elsewhere; a ZINCRBY of 0 is an increment like any other), while one that Meridian
# finds nothing to send for (an LTRIM that keeps every item) is no op.
@pytest.mark.parametrize(
    "setup,change,aborts",
    [
        (["SADD", "K", "a"], ["SADD", "K", "a"], True),
        (["ZADD", "K", "1", "m"], ["ZINCRBY", "K", "0", "m"], True),
        (["RPUSH", "K", "a"], ["LTRIM", "K", "0", "-1"], False),
    ],
    ids=["SADD of a member in", "ZINCRBY 0", "LTRIM keeping all"],
)
def test_watch_counts_ops_not_values(n1_addr, key, setup, change, aborts):
    c, other = single(n1_addr), single(n1_addr)
    try:
        c.execute_command(*with_key(setup, key))
        c.execute_command("WATCH", key)
        other.execute_command(*with_key(change, key))
        c.execute_command("MULTI")
        c.execute_command("SET", f"{key}:ran", "yes")
        reply = c.execute_command("EXEC")
        assert (reply is None) == aborts
    finally:
        c.close()
        other.close()


def test_a_write_replicated_from_another_region_aborts_exec(n1_addr, n3_addr, key):
    here, there = single(n1_addr), single(n3_addr)
    try:
        # A key that exists: region 3 holds it before it writes over it.
        here.set(key, "before")
        wait_for("region 3 reads the key", lambda: there.get(key) == "before")
        assert here.execute_command("WATCH", key, f"{key}:missing") == "OK"
        there.set(key, "from-3")
        wait_for("region 1 reads region 3's write", lambda: here.get(key) == "from-3")
        here.execute_command("MULTI")
        here.execute_command("SET", key, "from-1")
        here.execute_command("SET", f"{key}:ran", "yes")
        assert here.execute_command("EXEC") is None
        assert here.get(key) == "from-3"
        assert here.exists(f"{key}:ran") == 0

        # A missing key that region 3 creates.
        here.execute_command("WATCH", f"{key}:missing")
        there.rpush(f"{key}:missing", "a")
        wait_for("region 1 reads the list", lambda: here.llen(f"{key}:missing") == 1)
        here.execute_command("MULTI")
        here.execute_command("RPUSH", f"{key}:missing", "b")
        assert here.execute_command("EXEC") is None
        assert here.lrange(f"{key}:missing", 0, -1) == ["a"]

        # Control: region 3 writing another key does not abort.
        here.execute_command("WATCH", key)
        there.set(f"{key}:unrelated", "x")
        wait_for("region 1 reads the other key", lambda: here.get(f"{key}:unrelated") == "x")
        here.execute_command("MULTI")
        here.execute_command("SET", key, "from-1")
        assert here.execute_command("EXEC") == ["OK"]
        assert here.get(key) == "from-1"
    finally:
        here.close()
        there.close()


def seen_whole_at_another_region(n1_addr, n3_addr, key, write, rounds=200, counter=False):
    """Runs `write(client, i)` for i in 0..rounds at region 1 while a reader at region 3 reads
    a and b (and n) in one MGET, again and again: no read may see a unit in part."""
    writer, reader = single(n1_addr), single(n3_addr)
    torn, reads, failures = [], [0], []
    done = threading.Event()
    names = [f"{key}:a", f"{key}:b"] + ([f"{key}:n"] if counter else [])

    def read():
        try:
            while not done.is_set():
                values = reader.mget(names)
                reads[0] += 1
                a, b = values[0], values[1]
                whole = a == b
                if counter:
                    n = values[2]
                    whole = whole and ((a is None and n is None) or (a is not None and n == str(int(a) + 1)))
                if not whole:
                    torn.append(values)
        except Exception as e:  # noqa: BLE001: reported below
            failures.append(e)

    thread = threading.Thread(target=read)
    thread.start()
    try:
        for i in range(rounds):
            write(writer, i)
    finally:
        done.set()
        thread.join(15)
    try:
        assert not thread.is_alive()
        assert not failures, failures
        assert not torn, f"region 3 read {len(torn)} of {reads[0]} MGETs in part: {torn[:5]}"
        last = str(rounds - 1)
        expected = [last, last] + ([str(rounds)] if counter else [])
        wait_for("region 3 reads the last values", lambda: reader.mget(names) == expected)
        assert reads[0] > 0
    finally:
        writer.close()
        reader.close()


def test_a_transaction_is_seen_whole_at_another_region(n1_addr, n3_addr, key):
    def transaction(c, i):
        assert c.execute_command("MULTI") == "OK"
        c.execute_command("SET", f"{key}:a", i)
        c.execute_command("SET", f"{key}:b", i)
        c.execute_command("INCR", f"{key}:n")
        assert c.execute_command("EXEC") == ["OK", "OK", i + 1]

    seen_whole_at_another_region(n1_addr, n3_addr, key, transaction, counter=True)


def test_an_mset_is_seen_whole_at_another_region(n1_addr, n3_addr, key):
    def mset(c, i):
        assert c.mset({f"{key}:a": i, f"{key}:b": i}) == "OK"

    seen_whole_at_another_region(n1_addr, n3_addr, key, mset)
