"""Lists, through redis-py, each command sent to Meridian and to redis-server and the replies
(errors included) compared. What only Meridian has (pops at two regions at once, blocking on
a push made at another region) is in tests/redis_clients.rs and at the end of this file.
"""

import threading
import time

import pytest
import redis


def test_pushes_lengths_and_ranges(pair, key):
    assert pair("RPUSH", key, "a", "b", "c") == 3
    assert pair("LPUSH", key, "z", "y") == 5
    assert pair("LLEN", key) == 5
    for start, stop in [(0, -1), (1, 2), (-2, -1), (-100, 100), (3, 1), (5, 9), (-1, -2), (0, 0)]:
        pair("LRANGE", key, start, stop)
    for i in [0, 4, -1, -5, 5, -6]:
        pair("LINDEX", key, i)
    assert pair("LPUSHX", key, "x") == 6
    assert pair("RPUSHX", key, "w", "v") == 8
    assert pair("LPUSHX", key + ":absent", "x") == 0
    assert pair("RPUSHX", key + ":absent", "x") == 0
    assert pair("EXISTS", key + ":absent") == 0
    assert pair("LRANGE", key, 0, -1) == ["x", "y", "z", "a", "b", "c", "w", "v"]
    assert pair("LLEN", key + ":absent") == 0
    pair("LRANGE", key + ":absent", 0, -1)
    pair("LINDEX", key + ":absent", 0)
    assert pair("TYPE", key) == "list"
    with pytest.raises(redis.ResponseError, match="not an integer"):
        pair("LRANGE", key, "a", 1)
    with pytest.raises(redis.ResponseError, match="not an integer"):
        pair("LINDEX", key, "1.5")


def test_binary_and_empty_items(pair, key):
    pair("RPUSH", key, "", "\x00\xff", "ünï")
    assert pair("LRANGE", key, 0, -1) == ["", "\x00\xff", "ünï"]


def test_linsert(pair, key):
    pair("RPUSH", key, "a", "b", "a")
    assert pair("LINSERT", key, "BEFORE", "a", "x") == 4
    assert pair("LINSERT", key, "after", "a", "y") == 5
    assert pair("LINSERT", key, "AFTER", "missing", "y") == -1
    assert pair("LINSERT", key + ":absent", "AFTER", "a", "y") == 0
    assert pair("LRANGE", key, 0, -1) == ["x", "a", "y", "b", "a"]
    with pytest.raises(redis.ResponseError, match="syntax error"):
        pair("LINSERT", key, "BESIDE", "a", "y")


def test_lset(pair, key):
    pair("RPUSH", key, "a", "b", "c")
    assert pair("LSET", key, 1, "B") is True
    assert pair("LSET", key, -1, "C") is True
    assert pair("LRANGE", key, 0, -1) == ["a", "B", "C"]
    with pytest.raises(redis.ResponseError, match="index out of range"):
        pair("LSET", key, 3, "x")
    with pytest.raises(redis.ResponseError, match="index out of range"):
        pair("LSET", key, -4, "x")
    with pytest.raises(redis.ResponseError, match="no such key"):
        pair("LSET", key + ":absent", 0, "x")
    with pytest.raises(redis.ResponseError, match="not an integer"):
        pair("LSET", key, "one", "x")


@pytest.mark.parametrize("count", [0, 1, 2, -1, -2, 9, -9])
def test_lrem(pair, key, count):
    pair("RPUSH", key, "a", "b", "a", "c", "a", "b")
    pair("LREM", key, count, "a")
    assert pair("LRANGE", key, 0, -1)
    pair("LREM", key, count, "missing")
    pair("LREM", key + ":absent", count, "a")


def test_lrem_of_every_item_removes_the_key(pair, key):
    pair("RPUSH", key, "a", "a")
    assert pair("LREM", key, 0, "a") == 2
    assert pair("EXISTS", key) == 0
    assert pair("TYPE", key) == "none"


@pytest.mark.parametrize(
    "start,stop", [(0, -1), (1, 2), (-2, -1), (2, 1), (5, 10), (-100, 1), (0, 0), (3, -1)]
)
def test_ltrim(pair, key, start, stop):
    pair("RPUSH", key, "a", "b", "c", "d", "e")
    assert pair("LTRIM", key, start, stop) is True
    pair("LRANGE", key, 0, -1)
    pair("EXISTS", key)
    pair("LTRIM", key + ":absent", start, stop)


def test_lpos(pair, key):
    pair("RPUSH", key, "a", "b", "c", "1", "2", "3", "c", "c")
    for args in [
        ["c"],
        ["c", "RANK", 2],
        ["c", "RANK", -1],
        ["c", "RANK", -3],
        ["c", "RANK", 4],
        ["c", "COUNT", 2],
        ["c", "COUNT", 0],
        ["c", "RANK", -1, "COUNT", 2],
        ["c", "MAXLEN", 3],
        ["c", "MAXLEN", 2],
        ["c", "COUNT", 0, "MAXLEN", 7],
        ["c", "RANK", -1, "MAXLEN", 1],
        ["missing"],
        ["missing", "COUNT", 0],
        ["c", "RANK", -9223372036854775808],
    ]:
        pair("LPOS", key, *args)
    pair("LPOS", key + ":absent", "c")
    pair("LPOS", key + ":absent", "c", "COUNT", 1)
    for bad in [
        ["RANK", 0],
        ["COUNT", -1],
        ["MAXLEN", -1],
        ["RANK", "x"],
        ["NOPE", 1],
        ["RANK"],
    ]:
        with pytest.raises(redis.ResponseError):
            pair("LPOS", key, "c", *bad)


def test_pops(pair, key):
    pair("RPUSH", key, "a", "b", "c", "d", "e")
    assert pair("LPOP", key) == "a"
    assert pair("RPOP", key) == "e"
    assert pair("LPOP", key, 2) == ["b", "c"]
    assert pair("RPOP", key, 0) == []
    assert pair("RPOP", key, 5) == ["d"]
    assert pair("EXISTS", key) == 0
    assert pair("LPOP", key) is None
    assert pair("LPOP", key, 2) is None
    assert pair("RPOP", key, 0) is None
    for bad in [-1, "x"]:
        with pytest.raises(redis.ResponseError, match="must be positive"):
            pair("LPOP", key, bad)


def test_rpop_with_a_count_answers_from_the_tail_in(pair, key):
    pair("RPUSH", key, "a", "b", "c")
    assert pair("RPOP", key, 2) == ["c", "b"]


@pytest.mark.parametrize("wherefrom", ["LEFT", "RIGHT"])
@pytest.mark.parametrize("whereto", ["LEFT", "RIGHT"])
def test_lmove(pair, key, wherefrom, whereto):
    other = key + ":other"
    pair("RPUSH", key, "a", "b", "c")
    pair("RPUSH", other, "x")
    pair("LMOVE", key, other, wherefrom, whereto)
    pair("LRANGE", key, 0, -1)
    pair("LRANGE", other, 0, -1)
    # The same list: a rotation.
    pair("LMOVE", key, key, wherefrom, whereto)
    pair("LRANGE", key, 0, -1)


def test_lmove_and_rpoplpush_edges(pair, key):
    other = key + ":other"
    assert pair("LMOVE", key, other, "LEFT", "RIGHT") is None
    assert pair("RPOPLPUSH", key, other) is None
    pair("RPUSH", key, "a", "b")
    assert pair("RPOPLPUSH", key, other) == "b"
    assert pair("RPOPLPUSH", key, key) == "a"
    assert pair("RPOPLPUSH", key, other) == "a"
    assert pair("EXISTS", key) == 0
    assert pair("LRANGE", other, 0, -1) == ["a", "b"]
    with pytest.raises(redis.ResponseError, match="syntax error"):
        pair("LMOVE", key, other, "UP", "LEFT")
    string = key + ":string"
    pair("SET", string, "v")
    with pytest.raises(redis.ResponseError, match="WRONGTYPE"):
        pair("LMOVE", other, string, "LEFT", "LEFT")
    # An empty source answers nil before the destination's type is looked at.
    assert pair("LMOVE", key + ":absent", string, "LEFT", "LEFT") is None
    assert pair("LRANGE", other, 0, -1) == ["a", "b"]


def test_list_commands_on_other_types_and_back(pair, key):
    string, lst = key + ":s", key + ":l"
    pair("SET", string, "v")
    pair("RPUSH", lst, "a")
    for args in [
        ["LPUSH", string, "x"],
        ["RPUSHX", string, "x"],
        ["LRANGE", string, 0, -1],
        ["LLEN", string],
        ["LINDEX", string, 0],
        ["LPOP", string],
        ["LSET", string, 0, "x"],
        ["LREM", string, 0, "x"],
        ["LTRIM", string, 0, 1],
        ["LPOS", string, "x"],
        ["LINSERT", string, "BEFORE", "v", "x"],
        ["GET", lst],
        ["SADD", lst, "m"],
        ["HSET", lst, "f", "v"],
        ["INCR", lst],
    ]:
        with pytest.raises(redis.ResponseError, match="WRONGTYPE"):
            pair(*args)
    # SET replaces a list; DEL removes it.
    assert pair("SET", lst, "now a string") is True
    assert pair("GET", lst) == "now a string"
    pair("RPUSH", lst + "2", "a")
    assert pair("DEL", lst + "2") == 1
    assert pair("LRANGE", lst + "2", 0, -1) == []


def test_blocking_pops_that_need_not_wait(pair, key):
    other = key + ":other"
    pair("RPUSH", other, "a", "b")
    assert list(pair("BLPOP", key, other, 1)) == [other, "a"]
    assert list(pair("BRPOP", key, other, 0)) == [other, "b"]
    pair("RPUSH", key, "x", "y")
    assert pair("BLMOVE", key, other, "LEFT", "RIGHT", 1) == "x"
    assert pair("BRPOPLPUSH", key, other, 1) == "y"
    assert pair("LRANGE", other, 0, -1) == ["y", "x"]
    with pytest.raises(redis.ResponseError, match="timeout is not a float"):
        pair("BLPOP", key, "soon")
    with pytest.raises(redis.ResponseError, match="timeout is negative"):
        pair("BLPOP", key, -1)
    string = key + ":s"
    pair("SET", string, "v")
    with pytest.raises(redis.ResponseError, match="WRONGTYPE"):
        pair("BLPOP", string, other, 1)


def test_blocking_pops_time_out(pair, key):
    assert pair("BLPOP", key, 0.05) is None
    assert pair("BRPOP", key, key + ":2", "0.05") is None
    assert pair("BLMOVE", key, key + ":2", "LEFT", "LEFT", 0.05) is None
    assert pair("BRPOPLPUSH", key, key + ":2", 0.05) is None


# -------------------------------------------------------------- Meridian only


def test_a_blocked_pop_wakes_on_a_push_from_another_client(r, n1_addr, key):
    host, port = n1_addr
    pusher = redis.Redis(host=host, port=port, decode_responses=True)
    result = {}

    def blocked():
        result["got"] = r.blpop([key], timeout=10)

    t = threading.Thread(target=blocked)
    t.start()
    # Push until the blocked client has taken an item: whenever it blocked, it wakes then.
    deadline = time.monotonic() + 10
    while t.is_alive() and time.monotonic() < deadline:
        pusher.rpush(key, "job")
        t.join(timeout=0.05)
    t.join()
    assert list(result["got"]) == [key, "job"], result
    pusher.close()


def test_a_blocked_pop_wakes_on_a_push_made_at_another_region(r, n3_addr, key):
    host, port = n3_addr
    elsewhere = redis.Redis(host=host, port=port, decode_responses=True)
    result = {}

    def blocked():
        result["got"] = r.brpop([key], timeout=10)

    t = threading.Thread(target=blocked)
    t.start()
    deadline = time.monotonic() + 10
    while t.is_alive() and time.monotonic() < deadline:
        elsewhere.lpush(key, "from-n3")
        t.join(timeout=0.1)
    t.join()
    assert list(result["got"]) == [key, "from-n3"], result
    elsewhere.close()


def test_a_pipeline_after_a_blocking_pop_runs_once_it_returns(r, key):
    pipe = r.pipeline(transaction=False)
    pipe.blpop([key], timeout=0.05)
    pipe.rpush(key, "a")
    pipe.lpop(key)
    assert pipe.execute() == [None, 1, "a"]
