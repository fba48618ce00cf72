"""HyperLogLog through redis-py: each command sent to Meridian and to redis-server 7.0 and the
replies (errors included) compared. What only Meridian has (a HyperLogLog written at two
regions) is at the end of this file.
"""

import pytest
import redis

from conftest import wait_for


# An error reads the same in both protocols: the tests of errors alone run in RESP2.
resp2_only = pytest.mark.parametrize("pair", [2], ids=["resp2"], indirect=True)


def test_pfadd_answers_whether_a_register_rose(pair, key):
    p = pair
    assert p("PFADD", key, "a", "b", "c") == 1
    assert p("PFADD", key, "a") == 0
    assert p("PFADD", key, "c", "b", "a", "a") == 0
    # No element: 1 if it made the key, 0 if the key was there.
    assert p("PFADD", key) == 0
    assert p("PFADD", f"{key}:empty") == 1
    assert p("PFCOUNT", f"{key}:empty") == 0
    assert p("EXISTS", f"{key}:empty") == 1
    assert p("TYPE", key) == "string"
    assert p("PFCOUNT", key) == 3
    p("PFADD", key, "", "\x00", "binary\r\nelement", "é")
    p("PFCOUNT", key)


def test_counts_match_redis_as_the_sketch_grows(pair, key):
    p = pair
    # Past the sparse form of both servers, a batch at a time.
    for start in range(0, 20_000, 2_500):
        p("PFADD", key, *[f"e{i}" for i in range(start, start + 2_500)])
        p("PFCOUNT", key)
    # Adding the same elements again changes nothing.
    assert p("PFADD", key, *[f"e{i}" for i in range(0, 500)]) == 0


def test_pfcount_of_several_keys_is_the_count_of_their_union(pair, key):
    p = pair
    p("PFADD", f"{key}:a", *[f"x{i}" for i in range(300)])
    p("PFADD", f"{key}:b", *[f"x{i}" for i in range(200, 700)])
    p("PFCOUNT", f"{key}:a", f"{key}:b")
    p("PFCOUNT", f"{key}:a", f"{key}:absent", f"{key}:b", f"{key}:a")
    assert p("PFCOUNT", f"{key}:absent", f"{key}:absent2") == 0
    assert p("PFCOUNT", f"{key}:absent") == 0


def test_pfmerge(pair, key):
    p = pair
    a, b, dest = f"{key}:a", f"{key}:b", f"{key}:dest"
    p("PFADD", a, *[f"m{i}" for i in range(100)])
    p("PFADD", b, *[f"m{i}" for i in range(50, 400)])
    assert p("PFMERGE", dest, a, b) is True
    p("PFCOUNT", dest)
    # The destination's own registers stay.
    p("PFADD", f"{key}:d2", "only-here")
    p("PFMERGE", f"{key}:d2", a, f"{key}:absent")
    p("PFCOUNT", f"{key}:d2")
    # With no source, it makes an empty one.
    assert p("PFMERGE", f"{key}:new") is True
    assert p("EXISTS", f"{key}:new") == 1
    assert p("PFCOUNT", f"{key}:new") == 0
    # Merging into itself changes nothing.
    p("PFMERGE", a, a)
    p("PFCOUNT", a)
    p("DEL", dest)
    assert p("PFCOUNT", dest) == 0


@resp2_only
def test_errors(pair, key):
    p = pair
    p("SADD", f"{key}:set", "x")
    p("SET", f"{key}:str", "not a sketch")
    p("INCR", f"{key}:int")
    p("PFADD", f"{key}:h", "a")
    for args in [
        ("PFADD", f"{key}:set", "a"),
        ("PFADD", f"{key}:str", "a"),
        ("PFADD", f"{key}:int"),
        ("PFCOUNT", f"{key}:set"),
        ("PFCOUNT", f"{key}:str"),
        ("PFCOUNT", f"{key}:h", f"{key}:str"),
        ("PFCOUNT", f"{key}:h", f"{key}:set"),
        ("PFMERGE", f"{key}:h", f"{key}:set"),
        ("PFMERGE", f"{key}:h", f"{key}:str"),
        ("PFMERGE", f"{key}:str", f"{key}:h"),
        ("PFADD",),
        ("PFCOUNT",),
        ("PFMERGE",),
    ]:
        with pytest.raises(redis.ResponseError):
            p(*args)
    # A refused PFMERGE wrote nothing.
    p("PFCOUNT", f"{key}:h")
    assert p("GET", f"{key}:str") == "not a sketch"


# ------------------------------------------------------------------ Meridian only: regions


region_test = pytest.mark.parametrize("r", [2], ids=["resp2"], indirect=True)


@region_test
def test_adds_at_two_regions_all_count(r, other, key):
    r.pfadd(key, *[f"a{i}" for i in range(1_000)])
    other.pfadd(key, *[f"b{i}" for i in range(1_000)])
    # The same estimate as one sketch that saw both halves.
    one = f"{key}:one"
    r.pfadd(one, *[f"a{i}" for i in range(1_000)], *[f"b{i}" for i in range(1_000)])
    want = r.pfcount(one)
    wait_for(
        "both regions count both halves",
        lambda: r.pfcount(key) == want and other.pfcount(key) == want,
    )
    assert other.execute_command("TYPE", key) == "string"


@region_test
def test_a_merge_at_one_region_reaches_the_other(r, other, key):
    r.pfadd(f"{key}:a", "x", "y")
    wait_for("region 3 holds the source", lambda: other.pfcount(f"{key}:a") == 2)
    other.pfmerge(f"{key}:dest", f"{key}:a")
    wait_for("region 1 reads the merge", lambda: r.pfcount(f"{key}:dest") == 2)
    r.delete(f"{key}:dest")
    wait_for("the delete reaches region 3", lambda: other.exists(f"{key}:dest") == 0)
