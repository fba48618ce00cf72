"""Expiry through redis-py: the commands' replies (against redis-server in
test_differential.py as well), and a deadline passing at every region of the cluster."""

import time

import pytest
import redis

from conftest import wait_for


def test_set_with_a_time_to_live_and_the_ttl_family(r, key):
    assert r.set(key, "v", ex=100)
    assert r.ttl(key) in (99, 100)
    assert 99_000 < r.pttl(key) <= 100_000
    assert abs(r.expiretime(key) - (time.time() + 100)) < 2
    assert r.expire(key, 50, gt=True) is False
    assert r.expire(key, 50, lt=True) is True
    assert r.ttl(key) in (49, 50)
    assert r.persist(key) is True
    assert r.persist(key) is False
    assert r.ttl(key) == -1
    assert r.expire(key, 10, xx=True) is False
    assert r.expire(key, 10, nx=True) is True
    assert r.ttl(key) in (9, 10)
    # A SET without KEEPTTL clears it; with KEEPTTL keeps it.
    assert r.set(key, "w", keepttl=True)
    assert r.ttl(key) in (9, 10)
    assert r.set(key, "w")
    assert r.ttl(key) == -1
    assert r.ttl(f"{key}:absent") == -2
    assert r.pexpiretime(f"{key}:absent") == -2


def test_writes_that_keep_the_ttl_keep_it(r, key):
    r.set(key, "1", ex=100)
    assert r.incr(key) == 2
    assert r.append(key, "0") == 2
    assert r.get(key) == "20"
    assert r.ttl(key) in (99, 100)
    r.sadd(f"{key}:s", "a")
    r.expire(f"{key}:s", 100)
    r.sadd(f"{key}:s", "b")
    assert r.ttl(f"{key}:s") in (99, 100)
    # GETSET is a SET: the time to live goes.
    assert r.getset(key, "x") == "20"
    assert r.ttl(key) == -1


def test_setex_psetex_and_getex(r, key):
    assert r.execute_command("SETEX", key, "100", "v")
    assert r.ttl(key) in (99, 100)
    assert r.psetex(key, 100_000, "w")
    assert r.get(key) == "w"
    assert r.getex(key, persist=True) == "w"
    assert r.ttl(key) == -1
    assert r.getex(key, px=100_000) == "w"
    assert 99_000 < r.pttl(key) <= 100_000
    assert r.getex(f"{key}:absent", ex=10) is None
    with pytest.raises(redis.ResponseError, match="invalid expire time in 'setex' command"):
        r.execute_command("SETEX", key, "0", "v")
    with pytest.raises(redis.ResponseError, match="invalid expire time in 'set' command"):
        r.set(key, "v", ex=-1)
    with pytest.raises(redis.ResponseError, match="syntax error"):
        r.execute_command("SET", key, "v", "EX", "10", "KEEPTTL")
    with pytest.raises(redis.ResponseError, match="NX and XX, GT or LT"):
        r.execute_command("EXPIRE", key, "10", "NX", "GT")
    with pytest.raises(redis.ResponseError, match="Unsupported option BOGUS"):
        r.execute_command("EXPIRE", key, "10", "BOGUS")
    r.sadd(f"{key}:s", "m")
    with pytest.raises(redis.ResponseError, match="WRONGTYPE"):
        r.getex(f"{key}:s", ex=10)


def test_a_deadline_in_the_past_deletes_the_key(r, key):
    r.set(key, "v")
    assert r.expire(key, -1) is True
    assert r.exists(key) == 0
    assert r.set(key, "v", pxat=1)
    assert r.get(key) is None
    r.set(key, "v")
    assert r.getex(key, exat=1) == "v"
    assert r.exists(key) == 0


def test_a_key_expires_at_every_region(r, key, n3_addr):
    host, port = n3_addr
    other = redis.Redis(host=host, port=port, protocol=2, decode_responses=True)
    try:
        r.set(key, "v", px=800)
        wait_for("the other region reads the key", lambda: other.get(key) == "v")
        assert other.pttl(key) > 0
        wait_for("no region reads the key", lambda: r.get(key) is None and other.get(key) is None)
        assert r.ttl(key) == -2 and other.ttl(key) == -2
        assert r.exists(key) == 0 and other.exists(key) == 0
        assert key not in r.keys(f"{key}*")
    finally:
        other.close()


def test_info_counts_keys_with_a_deadline(r, key):
    r.set(key, "v", ex=100)
    keyspace = r.info("keyspace")
    assert keyspace["db0"]["expires"] >= 1
