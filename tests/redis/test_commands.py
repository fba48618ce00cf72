"""Every command Meridian serves, through redis-py, with Redis's semantics and errors.

Differences from Redis that follow from the CRDTs are pinned here too (docs/resp.md).
"""

import socket

import redis
import pytest


# ---------------------------------------------------------------- connection


def test_ping_echo_select(r):
    assert r.ping() is True
    assert r.echo("hello") == "hello"
    assert r.execute_command("SELECT", 0) in (True, "OK")
    with pytest.raises(redis.ResponseError, match="DB index is out of range"):
        r.execute_command("SELECT", 1)


def test_hello_switches_protocol_and_reports_the_server(n1_addr):
    # On a raw socket: a client library's parser cannot follow a switch it did not ask for.
    s = socket.create_connection(n1_addr, timeout=10)
    s.sendall(b"HELLO 3\r\n")
    reply = recv_reply(s)
    assert reply.startswith(b"%"), reply
    for field in (b"server", b"proto", b"role", b"master", b"meridian"):
        assert field in reply, reply
    s.sendall(b"HGETALL nothing\r\n")
    assert recv_reply(s) == b"%0\r\n"
    s.sendall(b"HELLO 2\r\nHGETALL nothing\r\n")
    reply = recv_reply(s)
    assert reply.startswith(b"*"), reply
    s.sendall(b"HELLO 4\r\n")
    assert recv_reply(s).startswith(b"-NOPROTO")
    s.close()


def recv_reply(s):
    """One read's worth of reply: enough for the short replies these tests ask for."""
    time_limit = s.gettimeout()
    data = s.recv(65536)
    s.settimeout(0.2)
    try:
        while True:
            more = s.recv(65536)
            if not more:
                break
            data += more
    except socket.timeout:
        pass
    s.settimeout(time_limit)
    return data


def test_hello_with_a_redis_py_resp3_client(n1_addr):
    host, port = n1_addr
    client = redis.Redis(host=host, port=port, protocol=3, decode_responses=True)
    assert client.hgetall("nothing") == {}
    assert client.smembers("nothing") == set()
    client.close()


def test_client_name_and_id(r):
    assert r.client_setname("worker-1") is True
    assert r.client_getname() == "worker-1"
    assert isinstance(r.client_id(), int)
    info = r.execute_command("CLIENT", "INFO")
    assert "name=worker-1" in str(info)
    with pytest.raises(redis.ResponseError):
        r.execute_command("CLIENT", "SETNAME", "has space")


def test_command_table_is_served(r, n1_addr):
    table = r.command()
    assert table["get"]["arity"] == 2
    assert table["set"]["arity"] == -3
    assert r.command_count() == len(table)
    s = socket.create_connection(n1_addr, timeout=10)
    s.sendall(b"COMMAND INFO get\r\nCOMMAND DOCS set\r\n")
    reply = recv_reply(s)
    assert b"get" in reply and b"summary" in reply, reply
    s.close()


def test_unknown_commands_and_wrong_arity_are_redis_errors(r):
    with pytest.raises(redis.ResponseError, match="unknown command 'NOSUCHCOMMAND'"):
        r.execute_command("NOSUCHCOMMAND")
    with pytest.raises(redis.ResponseError, match="wrong number of arguments for 'get' command"):
        r.execute_command("GET")


def test_info_has_every_section_and_the_replication_peers(r):
    info = r.info("everything")
    assert info["redis_version"]
    assert info["connected_clients"] >= 1
    assert info["role"] == "master"
    assert info["meridian_role"] == "leader"
    assert info["connected_peers"] == 2
    peers = [v for k, v in info.items() if k.startswith("peer")]
    assert len(peers) == 2
    assert all(p["state"] == "up" for p in peers)
    assert "used_memory" in r.info("memory")
    r.set("info:probe", "1")
    assert "db0" in r.info("keyspace")


# ---------------------------------------------------------------- strings


def test_set_get_and_options(r, key):
    assert r.set(key, "v1") is True
    assert r.get(key) == "v1"
    assert r.set(key, "v2", nx=True) is None
    assert r.get(key) == "v1"
    assert r.set(key, "v3", xx=True) is True
    assert r.set(key + ":absent", "v", xx=True) is None
    assert r.get(key + ":absent") is None
    assert r.set(key, "v4", get=True) == "v3"
    assert r.get(key) == "v4"
    with pytest.raises(redis.ResponseError, match="syntax error"):
        r.execute_command("SET", key, "v", "NX", "XX")
    # Expiry: test_expiry.py.
    assert r.set(key, "v", ex=10) is True


def test_mget_mset_getdel_strlen(r, key):
    assert r.mset({key + ":a": "1", key + ":b": "22"}) is True
    assert r.mget([key + ":a", key + ":b", key + ":c"]) == ["1", "22", None]
    assert r.strlen(key + ":b") == 2
    assert r.strlen(key + ":c") == 0
    assert r.getdel(key + ":a") == "1"
    assert r.get(key + ":a") is None
    assert r.getdel(key + ":a") is None
    with pytest.raises(redis.ResponseError, match="wrong number of arguments"):
        r.execute_command("MSET", key, "1", key + ":x")


def test_binary_values_round_trip(raw, key):
    value = bytes(range(256)) * 4
    raw.set(key, value)
    assert raw.get(key) == value


# ---------------------------------------------------------------- counters


def test_counters(r, key):
    assert r.incr(key) == 1
    assert r.incrby(key, 10) == 11
    assert r.decr(key) == 10
    assert r.decrby(key, 4) == 6
    assert r.get(key) == "6"
    assert r.incrby(key, -10) == -4


def test_counter_errors(r, key):
    r.set(key, "not a number")
    with pytest.raises(redis.ResponseError, match="not an integer"):
        r.incr(key)
    with pytest.raises(redis.ResponseError, match="not an integer"):
        r.incrby(key + ":n", "1.5")
    r.set(key + ":max", str(2**63 - 1))
    with pytest.raises(redis.ResponseError, match="overflow"):
        r.incr(key + ":max")


def test_a_numeric_string_becomes_a_counter(r, key):
    r.set(key, "41")
    assert r.incr(key) == 42
    assert r.get(key) == "42"


# ---------------------------------------------------------------- sets


def test_sets(r, key):
    assert r.sadd(key, "a", "b", "b") == 2
    assert r.sadd(key, "b", "c") == 1
    assert r.smembers(key) == {"a", "b", "c"}
    assert r.sismember(key, "a") is True or r.sismember(key, "a") == 1
    assert r.smismember(key, ["a", "z"]) in ([True, False], [1, 0])
    assert r.scard(key) == 3
    assert r.srem(key, "a", "z") == 1
    assert r.smembers(key) == {"b", "c"}
    assert r.smembers(key + ":none") == set()
    assert r.scard(key + ":none") == 0


# ---------------------------------------------------------------- hashes


def test_hashes(r, key):
    assert r.hset(key, mapping={"name": "ada", "lang": "en"}) == 2
    assert r.hset(key, "lang", "fr") == 0
    assert r.hget(key, "lang") == "fr"
    assert r.hget(key, "none") is None
    assert r.hmget(key, ["name", "none"]) == ["ada", None]
    assert r.hgetall(key) == {"name": "ada", "lang": "fr"}
    assert sorted(r.hkeys(key)) == ["lang", "name"]
    assert sorted(r.hvals(key)) == ["ada", "fr"]
    assert r.hlen(key) == 2
    assert r.hexists(key, "name") in (True, 1)
    assert r.hexists(key, "none") in (False, 0)
    assert r.hincrby(key, "visits", 3) == 3
    assert r.hincrby(key, "visits", -1) == 2
    assert r.hdel(key, "name", "none") == 1
    assert r.hgetall(key + ":none") == {}
    with pytest.raises(redis.ResponseError, match="wrong number of arguments"):
        r.execute_command("HSET", key, "field")


def test_hincrby_on_a_non_integer_field_is_an_error(r, key):
    r.hset(key, "f", "x")
    with pytest.raises(redis.ResponseError, match="not an integer"):
        r.hincrby(key, "f", 1)


# ---------------------------------------------------------------- types and keyspace


def test_wrongtype_errors(r, key):
    r.sadd(key, "m")
    for call in (
        lambda: r.get(key),
        lambda: r.hget(key, "f"),
        lambda: r.incr(key),
        lambda: r.hset(key, "f", "v"),
        lambda: r.set(key, "v", get=True),
        lambda: r.execute_command("MVGET", key),
    ):
        with pytest.raises(redis.ResponseError, match="WRONGTYPE"):
            call()
    # SET overwrites any type, as in Redis.
    assert r.set(key, "now a string") is True
    assert r.type(key) == "string"


def test_type_exists_del_dbsize(r, key):
    r.set(key + ":s", "v")
    r.incr(key + ":c")
    r.sadd(key + ":set", "m")
    r.hset(key + ":h", "f", "v")
    r.execute_command("MVSET", key + ":mv", "v")
    assert [r.type(key + s) for s in (":s", ":c", ":set", ":h", ":mv", ":none")] == [
        "string",
        "string",
        "set",
        "hash",
        "mvreg",
        "none",
    ]
    assert r.exists(key + ":s", key + ":s", key + ":none") == 2
    before = r.dbsize()
    assert r.delete(key + ":s", key + ":c", key + ":none") == 2
    assert r.exists(key + ":s") == 0
    assert r.dbsize() == before - 2


def test_keys_and_scan_with_match_count_and_type(r, key):
    names = [f"{key}:{i:03}" for i in range(120)]
    r.mset({n: "v" for n in names})
    r.sadd(f"{key}:set", "m")
    assert sorted(r.keys(f"{key}:0[0-4]?")) == names[:50]
    assert r.keys(f"{key}:nothing*") == []
    seen = list(r.scan_iter(match=f"{key}:*", count=7))
    assert sorted(set(seen)) == sorted(names + [f"{key}:set"])
    only_sets = list(r.scan_iter(match=f"{key}:*", _type="set", count=50))
    assert only_sets == [f"{key}:set"]
    cursor, batch = r.scan(0, match=f"{key}:*", count=5)
    assert cursor != 0 and len(batch) <= 5
    with pytest.raises(redis.ResponseError, match="invalid cursor"):
        r.scan(999999999999)
    with pytest.raises(redis.ResponseError, match="syntax error"):
        r.execute_command("SCAN", 0, "COUNT", 0)


def test_scan_returns_every_key_present_throughout_despite_deletes(r, key):
    names = [f"{key}:{i:03}" for i in range(60)]
    r.mset({n: "v" for n in names})
    cursor, seen = 0, []
    deleted = False
    while True:
        cursor, batch = r.scan(cursor, match=f"{key}:*", count=10)
        seen += batch
        if not deleted:
            # Delete keys on both sides of the cursor: no survivor may be skipped.
            r.delete(names[0], names[59])
            deleted = True
        if cursor == 0:
            break
    assert set(names[1:59]) <= set(seen)


# ---------------------------------------------------------------- MV registers


def test_mvset_mvget_and_contexts(r, key):
    token = r.execute_command("MVSET", key, "draft-1")
    assert isinstance(token, str) and ":" in token
    values, context = r.execute_command("MVGET", key)
    assert values == ["draft-1"]
    token2 = r.execute_command("MVSET", key, "draft-2", "CTX", context)
    values, _ = r.execute_command("MVGET", key)
    assert values == ["draft-2"]
    assert r.execute_command("MVGET", key + ":none") is None
    with pytest.raises(redis.ResponseError, match="invalid causal token"):
        r.execute_command("MVSET", key, "x", "CTX", "not-a-token")
    assert r.execute_command("WAITTOKEN", token2, 1000) == "OK"


# ---------------------------------------------------------------- replication waits


def test_wait_counts_regions_holding_the_latest_write(r, key):
    r.set(key, "v")
    assert r.execute_command("WAIT", 2, 5000) == 2
    assert r.execute_command("WAIT", 0, 0) >= 0


def test_waittoken_times_out_on_a_future_token(r):
    with pytest.raises(redis.ResponseError, match="TIMEOUT"):
        r.execute_command("WAITTOKEN", "1:999999999", 200)
    with pytest.raises(redis.ResponseError, match="invalid causal token"):
        r.execute_command("WAITTOKEN", "1:0", 10)


# ---------------------------------------------------------------- pipelines


def test_a_pipeline_reads_its_own_writes_in_order(r, key):
    pipe = r.pipeline(transaction=False)
    for i in range(200):
        pipe.incr(key)
    pipe.get(key)
    results = pipe.execute()
    assert results[:200] == list(range(1, 201))
    assert results[200] == "200"


# ---------------------------------------------------------------- authentication


def test_auth_is_required_when_a_password_is_set(n2_addr, password):
    host, port = n2_addr
    anonymous = redis.Redis(host=host, port=port, protocol=2)
    with pytest.raises(redis.AuthenticationError):
        anonymous.get("k")
    anonymous.close()
    with pytest.raises(redis.AuthenticationError):
        redis.Redis(host=host, port=port, password="wrong", protocol=2).ping()
    good = redis.Redis(host=host, port=port, password=password, protocol=2)
    assert good.ping() is True
    assert good.set("auth:k", "v") is True
    good.close()
    resp3 = redis.Redis(host=host, port=port, password=password, protocol=3)
    assert resp3.ping() is True
    resp3.close()


def test_reset_forgets_authentication_where_a_password_is_set(n2_addr, password):
    """RESET leaves a connection as it opened: on a node with a password, unauthenticated
    (Redis resets it to the default user, which then needs AUTH again), unnamed, RESP2.
    (On raw frames: redis-py would reconnect and authenticate again on its own.)"""
    from conftest import encode, read_reply

    with socket.create_connection(n2_addr, timeout=10) as sock:
        f = sock.makefile("rb")

        def call(*args):
            sock.sendall(encode(args))
            return read_reply(f)

        assert call("HELLO", "3", "AUTH", "default", password).startswith(b"%")
        assert call("CLIENT", "SETNAME", "before") == b"+OK\r\n"
        assert call("HGETALL", "reset:nothing") == b"%0\r\n"
        assert call("RESET") == b"+RESET\r\n"
        assert call("GET", "k").startswith(b"-NOAUTH")
        assert call("AUTH", password) == b"+OK\r\n"
        assert call("CLIENT", "GETNAME") == b"$-1\r\n"
        assert call("HGETALL", "reset:nothing") == b"*0\r\n"


def test_auth_without_a_password_configured_is_an_error(r):
    with pytest.raises(redis.RedisError, match="without any password configured"):
        r.execute_command("AUTH", "x")


def test_config_get_is_a_read_only_view_under_redis_names(r, n1_addr):
    config = r.config_get("*")
    assert config["port"] == str(n1_addr[1])
    assert config["databases"] == "1"
    assert config["appendonly"] == "yes"
    assert config["save"] == ""
    assert config["meridian-fsync"]
    assert "requirepass" not in config, "the password is never shown"
    assert r.config_get("max*") == {"maxclients": config["maxclients"]}
    assert r.config_get("SAVE") == {"save": ""}
    with pytest.raises(redis.ResponseError, match="CONFIG SET is not supported"):
        r.config_set("maxclients", "10")
    with pytest.raises(redis.ResponseError, match="unknown subcommand"):
        r.execute_command("CONFIG", "REWRITE")
    with pytest.raises(redis.ResponseError, match="wrong number of arguments for 'config|get' command"):
        r.execute_command("CONFIG", "GET")


def test_time_is_the_node_clock(r):
    import time

    seconds, micros = r.time()
    assert abs(seconds + micros / 1e6 - time.time()) < 5
    assert 0 <= micros < 1_000_000


def test_spop_removes_what_it_returns_and_srandmember_samples(r, key):
    members = {f"m{i}" for i in range(10)}
    r.sadd(key, *members)
    one = r.spop(key)
    assert one in members and not r.sismember(key, one)
    three = r.spop(key, 3)
    assert len(set(three)) == 3 and set(three) <= members - {one}
    assert r.scard(key) == 6
    rest = set(r.smembers(key))
    assert set(r.srandmember(key, 4)) <= rest and len(set(r.srandmember(key, 4))) == 4
    assert len(r.srandmember(key, -20)) == 20
    assert set(r.srandmember(key, -20)) <= rest
    assert r.spop(key, 100) and r.scard(key) == 0 and r.exists(key) == 0
    with pytest.raises(redis.ResponseError, match="count is too large"):
        r.srandmember(key, -10_000_000)


def test_hrandfield_with_values_pairs_fields_with_their_values(r, key):
    r.hset(key, mapping={"a": "1", "b": "2", "c": "3"})
    pairs = r.hrandfield(key, 2, withvalues=True)
    flat = pairs if not isinstance(pairs[0], list) else [x for p in pairs for x in p]
    as_dict = dict(zip(flat[::2], flat[1::2]))
    assert len(as_dict) == 2 and all(r.hget(key, f) == v for f, v in as_dict.items())
    assert r.hrandfield(key) in {"a", "b", "c"}


def test_sscan_and_hscan_walk_everything_a_page_at_a_time(r, key):
    members = {f"m{i:03}" for i in range(57)}
    r.sadd(key, *members)
    seen, cursor, calls = set(), 0, 0
    while True:
        cursor, page = r.sscan(key, cursor, count=10)
        seen.update(page)
        calls += 1
        if cursor == 0:
            break
    assert seen == members and calls >= 6
    assert set(r.sscan_iter(key, match="m00*")) == {f"m00{i}" for i in range(10)}
    h = key + ":h"
    r.hset(h, mapping={f"f{i}": str(i) for i in range(23)})
    assert dict(r.hscan_iter(h, count=4)) == {f"f{i}": str(i) for i in range(23)}
    assert dict(r.hscan_iter(h, match="f1*")) == {f"f1{i}": f"1{i}" for i in range(10)} | {"f1": "1"}
    with pytest.raises(redis.ResponseError, match="WRONGTYPE"):
        r.sscan(h, 0)
    with pytest.raises(redis.ResponseError, match="syntax error"):
        r.execute_command("SSCAN", key, 0, "TYPE", "set")


def test_flushall_removes_every_key_and_randomkey_finds_one(r, key):
    r.mset({key + ":a": "1", key + ":b": "2"})
    r.sadd(key + ":s", "x")
    assert r.randomkey() is not None
    assert r.flushall() is True
    assert r.dbsize() == 0 and r.randomkey() is None
    r.set(key, "v")
    assert r.randomkey() == key
    assert r.execute_command("FLUSHDB", "ASYNC") in (True, "OK", b"OK")
    assert r.dbsize() == 0
    with pytest.raises(redis.ResponseError, match="syntax error"):
        r.execute_command("FLUSHALL", "LATER")
