"""Sorted sets through redis-py: each command sent to Meridian and to redis-server 7.0 and the
replies (errors included) compared, with redis-py's reply parsing turned off so that a score
compares as the text each server wrote (`%.17g` in RESP2). What only Meridian has (a sorted
set written at two regions) is at the end of this file.
"""


import pytest
import redis

from conftest import wait_for


@pytest.fixture
def exact(pair):
    """`pair` with replies as the servers sent them: no float conversion of scores, no
    pairing of WITHSCORES replies by redis-py."""
    for client in (pair.meridian, pair.oracle):
        client.response_callbacks.clear()
    return pair


# An error reads the same in both protocols: the tests of errors alone run in RESP2.
resp2_only = pytest.mark.parametrize("pair", [2], ids=["resp2"], indirect=True)


def fails(pair, *args, match=None):
    """Sends a command that both servers must refuse with the same error."""
    with pytest.raises(redis.ResponseError, match=match):
        pair(*args)


# ------------------------------------------------------------------ ZADD, point reads


def test_zadd_and_point_reads(exact, key):
    z = exact
    assert z("ZADD", key, 1, "a", 2, "b", 3, "c") == 3
    assert z("ZADD", key, "1.5", "a", 4, "d") == 1
    assert z("ZCARD", key) == 4
    z("ZSCORE", key, "a")
    z("ZSCORE", key, "missing")
    z("ZSCORE", f"{key}:absent", "a")
    z("ZMSCORE", key, "a", "missing", "d", "a")
    z("ZMSCORE", f"{key}:absent", "a", "b")
    for member in ["a", "b", "c", "d", "missing"]:
        z("ZRANK", key, member)
        z("ZREVRANK", key, member)
    assert z("ZRANK", f"{key}:absent", "a") is None
    assert z("ZCARD", f"{key}:absent") == 0
    assert z("TYPE", key) == "zset"
    assert z("EXISTS", key) == 1
    assert z("ZRANGE", key, 0, -1, "WITHSCORES")
    # Equal scores order by member name.
    z("ZADD", f"{key}:tie", 1, "b", 1, "a", 1, "c", 0, "z")
    assert z("ZRANGE", f"{key}:tie", 0, -1) == ["z", "a", "b", "c"]
    z("ZRANK", f"{key}:tie", "b")


def test_binary_and_empty_members(exact, key):
    z = exact
    assert z("ZADD", key, 1, "", 2, "\x00\xff", 3, "ünï") == 3
    assert z("ZRANGE", key, 0, -1, "WITHSCORES")
    z("ZSCORE", key, "")
    z("ZRANGEBYLEX", f"{key}", "-", "+")


OPTIONS = [
    [],
    ["NX"],
    ["XX"],
    ["GT"],
    ["LT"],
    ["CH"],
    ["nx", "ch"],
    ["XX", "CH"],
    ["XX", "GT"],
    ["XX", "LT"],
    ["GT", "CH"],
    ["LT", "CH"],
    ["XX", "GT", "CH"],
    ["ch", "xx", "lt"],
]


def test_zadd_options(exact, key):
    z = exact
    for i, options in enumerate(OPTIONS):
        k = f"{key}:{i}"
        z("ZADD", k, 1, "a", 5, "b", 3, "c")
        # a rises, b falls, c stays, d is new.
        z("ZADD", k, *options, 3, "a", 3, "b", 3, "c", 3, "d")
        z("ZRANGE", k, 0, -1, "WITHSCORES")
        z("ZCARD", k)
        # INCR: existing members up and down, a new member.
        z("ZADD", k, *options, "INCR", 2, "a")
        z("ZADD", k, *options, "INCR", -10, "b")
        z("ZADD", k, *options, "INCR", 0, "c")
        z("ZADD", k, *options, "INCR", "2.5", "new")
        z("ZRANGE", k, 0, -1, "WITHSCORES")
        # A missing key.
        z("ZADD", f"{k}:absent", *options, 1, "a")
        z("ZRANGE", f"{k}:absent", 0, -1, "WITHSCORES")


@resp2_only
def test_zadd_option_errors(exact, key):
    z = exact
    z("ZADD", key, 1, "a")
    for args, match in [
        (["NX", "XX", 1, "a"], "XX and NX options at the same time are not compatible"),
        (["NX", "GT", 1, "a"], "GT, LT, and/or NX options at the same time are not compatible"),
        (["LT", "NX", 1, "a"], "GT, LT, and/or NX options at the same time are not compatible"),
        (["GT", "LT", 1, "a"], "GT, LT, and/or NX options at the same time are not compatible"),
        (["INCR", 1, "a", 2, "b"], "INCR option supports a single increment-element pair"),
        (["NX", 1], "syntax error"),
        ([1, "a", 2], "syntax error"),
        (["BOGUS", 1, "a"], "syntax error"),
        (["BOGUS", 1, "a", "b"], "not a valid float"),
        (["NX", "abc", "a"], "not a valid float"),
        ([1, "a", "x", "b"], "not a valid float"),
        (["INCR", "abc", "a"], "not a valid float"),
        # The option conflicts are found before the scores are read.
        (["NX", "XX", "abc", "a"], "XX and NX options"),
        (["GT", "LT", "INCR", "abc", "a"], "GT, LT, and/or NX"),
    ]:
        fails(z, "ZADD", key, *args, match=match)
    fails(z, "ZADD", key, 1, match="wrong number of arguments")
    fails(z, "ZADD", key, match="wrong number of arguments")
    # Nothing was written by a refused ZADD.
    assert z("ZRANGE", key, 0, -1, "WITHSCORES")


@resp2_only
def test_zadd_incompatible_options_are_refused_before_the_incr_pair_count(exact, key):
    # redis-server checks NX with XX, then GT/LT/NX, and only then INCR's single pair.
    fails(exact, "ZADD", key, "NX", "XX", "INCR", 1, "a", 2, "b", match="XX and NX")
    fails(exact, "ZADD", key, "GT", "LT", "INCR", 1, "a", 2, "b", match="GT, LT")


def test_zadd_with_a_member_named_twice(exact, key):
    z = exact
    assert z("ZADD", key, 1, "a", 2, "a") == 1
    assert z("ZSCORE", key, "a")
    z("ZADD", key, "CH", 3, "a", 3, "a")
    z("ZADD", key, "CH", 4, "a", 3, "a")
    z("ZADD", key, "NX", "CH", 5, "n", 6, "n")
    z("ZADD", key, "XX", "CH", 7, "a", 8, "a", 9, "missing", 9, "missing")
    z("ZADD", key, "GT", "CH", 10, "a", 9, "a", 11, "a")
    z("ZADD", key, "LT", "CH", 1, "a", 20, "a")
    z("ZADD", key, "CH", 1, "same", 2, "same", 1, "same")
    assert z("ZRANGE", key, 0, -1, "WITHSCORES")
    z("ZCARD", key)


def test_zadd_incr(exact, key):
    z = exact
    z("ZADD", key, "INCR", 5, "a")
    z("ZADD", key, "INCR", "1.5", "a")
    z("ZADD", key, "CH", "INCR", 1, "a")
    # Held back by a condition: nil.
    assert z("ZADD", key, "NX", "INCR", 1, "a") is None
    assert z("ZADD", key, "XX", "INCR", 1, "missing") is None
    assert z("ZADD", key, "GT", "INCR", -1, "a") is None
    assert z("ZADD", key, "LT", "INCR", 1, "a") is None
    assert z("ZADD", key, "GT", "INCR", 0, "a") is None
    z("ZADD", key, "GT", "INCR", 1, "a")
    z("ZADD", key, "XX", "LT", "INCR", -2, "a")
    z("ZADD", key, "NX", "INCR", 3, "b")
    z("ZADD", key, "GT", "INCR", -3, "c")
    z("ZADD", key, "INCR", 0, "a")
    assert z("ZRANGE", key, 0, -1, "WITHSCORES")
    assert z("EXISTS", f"{key}:absent") == 0
    z("ZADD", f"{key}:absent", "XX", "INCR", 1, "a")
    assert z("EXISTS", f"{key}:absent") == 0


def test_zincrby(exact, key):
    z = exact
    z("ZINCRBY", key, 2, "a")
    z("ZINCRBY", key, "-0.5", "a")
    z("ZINCRBY", key, 0, "a")
    z("ZINCRBY", key, "1e3", "b")
    assert z("ZRANGE", key, 0, -1, "WITHSCORES")
    fails(z, "ZINCRBY", key, "abc", "a", match="not a valid float")
    fails(z, "ZINCRBY", key, "", "a", match="not a valid float")
    fails(z, "ZINCRBY", key, "nan", "a", match="not a valid float")
    fails(z, "ZINCRBY", key, 1, match="wrong number of arguments")
    fails(z, "ZINCRBY", key, 1, "a", "b", match="wrong number of arguments")


def test_float_sums_are_written_as_redis_writes_them(exact, key):
    z = exact
    assert z("ZINCRBY", key, "0.1", "a") in ("0.10000000000000001", 0.1)
    assert z("ZINCRBY", key, "0.2", "a") in ("0.30000000000000004", 0.30000000000000004)
    z("ZSCORE", key, "a")
    z("ZADD", key, "1.1", "b")
    z("ZSCORE", key, "b")
    z("ZADD", key, "INCR", "0.7", "c")
    z("ZADD", key, "INCR", "0.1", "c")
    for score in ["3", "-2.5", "1e100", "1e-5", "123456789012345678", "0.1", "1e21", "-1e-300",
                  "0x10", ".5", "5.", "+7", "2.5e+3", "4.9e-324"]:
        z("ZADD", f"{key}:many", score, f"m{score}")
    assert z("ZRANGE", f"{key}:many", 0, -1, "WITHSCORES")
    z("ZMSCORE", f"{key}:many", "m1e100", "m0.1", "m4.9e-324")


def test_minus_zero_in_a_small_sorted_set_reads_as_zero(exact, key):
    # redis-server keeps the scores of a small sorted set (128 members or fewer) as integers
    # where they are whole: a score of -0 reads back as 0.
    z = exact
    z("ZADD", key, "-0", "neg", "0", "pos")
    z("ZMSCORE", key, "neg", "pos")
    z("ZINCRBY", key, "-0", "pos")
    z("ZRANGE", key, 0, -1, "WITHSCORES")


def test_an_equal_score_of_the_other_sign_changes_nothing(exact, r, key):
    # 0 and -0 are the same score: ZADD of one over the other is no change (CH counts 0).
    # Meridian stores -0 as 0 whatever the size of the sorted set, as redis-server does in a
    # small one; a large one there keeps the sign (docs/resp.md, "Sorted sets").
    z = exact
    z("ZADD", key, *[x for i in range(200) for x in (i + 1, f"m{i}")])
    z("ZADD", key, "-0", "neg", "0", "pos")
    assert z("ZADD", key, "CH", "0", "neg", "-0", "pos") == 0
    z("ZADD", key, "GT", "CH", "0", "neg")
    z("ZADD", key, "XX", "-0", "pos")
    assert r.zmscore(key, ["neg", "pos"]) == [0.0, 0.0]
    assert r.execute_command("ZSCORE", key, "neg") in ("0", 0.0)


def test_infinite_scores(exact, key):
    z = exact
    assert z("ZADD", key, "inf", "a", "-inf", "b", "+inf", "c", "Infinity", "d", 0, "e") == 5
    assert z("ZRANGE", key, 0, -1, "WITHSCORES")
    z("ZINCRBY", key, 1, "a")
    z("ZINCRBY", key, "inf", "e")
    z("ZMSCORE", key, "a", "b", "e")
    z("ZCOUNT", key, "-inf", "+inf")
    z("ZCOUNT", key, "(-inf", "(inf")
    z("ZRANGEBYSCORE", key, "(-inf", "+inf", "WITHSCORES")
    z("ZRANGEBYSCORE", key, "inf", "inf")


def test_a_nan_result_is_refused(exact, key):
    z = exact
    z("ZINCRBY", key, "+inf", "a")
    fails(z, "ZINCRBY", key, "-inf", "a", match="resulting score is not a number")
    fails(z, "ZADD", key, "INCR", "-inf", "a", match="resulting score is not a number")
    # Nothing changed.
    z("ZSCORE", key, "a")
    z("ZADD", key, "-inf", "b")
    fails(z, "ZINCRBY", key, "inf", "b", match="resulting score is not a number")
    assert z("ZRANGE", key, 0, -1, "WITHSCORES")
    fails(z, "ZADD", key, "nan", "c", match="not a valid float")
    assert z("ZCARD", key) == 2


BAD_SCORES = ["(1", "abc", "1e400", "-1e400", "1e-400", "", " 1", "1 ", "nan", "1e", "0x", "inf1"]


@resp2_only
def test_bad_scores(exact, key):
    z = exact
    for score in BAD_SCORES:
        fails(z, "ZADD", key, score, "a")
        fails(z, "ZINCRBY", key, score, "a")
        fails(z, "ZADD", key, "INCR", score, "a")
        fails(z, "ZADD", key, 1, "a", score, "b")
    assert z("EXISTS", key) == 0


SCORE_ENDS = [
    ("(1", "3"),
    ("1", "(3"),
    ("(1", "(3"),
    ("(1", "(1"),
    ("1e400", "+inf"),
    ("-1e400", "2"),
    ("-inf", "1e400"),
    (" 1", "2"),
    ("", "2"),
    ("(", "2"),
    ("3", "1"),
    ("0x1", "0x2"),
    ("-INF", "INF"),
    ("2.0", "2"),
]


def test_score_range_ends(exact, key):
    z = exact
    z("ZADD", key, "-inf", "lo", 0, "zero", 1, "a", 2, "b", 3, "c", "inf", "hi")
    for low, high in SCORE_ENDS:
        z("ZCOUNT", key, low, high)
        z("ZRANGEBYSCORE", key, low, high, "WITHSCORES")
        z("ZREVRANGEBYSCORE", key, high, low)
        z("ZRANGE", key, low, high, "BYSCORE")
        z("ZRANGE", key, high, low, "BYSCORE", "REV", "WITHSCORES")
        z("ZCOUNT", f"{key}:absent", low, high)


@resp2_only
def test_bad_score_range_ends(exact, key):
    z = exact
    z("ZADD", key, 1, "a")
    for k, bad in [(k, b) for k in (key, f"{key}:absent")
                   for b in ["abc", "(abc", "nan", "1 ", "((1", "[1"]]:
        fails(z, "ZCOUNT", k, bad, 1, match="min or max is not a float")
        fails(z, "ZCOUNT", k, 1, bad, match="min or max is not a float")
        fails(z, "ZRANGEBYSCORE", k, bad, 1, match="min or max is not a float")
        fails(z, "ZREVRANGEBYSCORE", k, 1, bad, match="min or max is not a float")
        fails(z, "ZRANGE", k, bad, 1, "BYSCORE", match="min or max is not a float")


# ------------------------------------------------------------------ ZREM


def test_zrem(exact, key):
    z = exact
    z("ZADD", key, 1, "a", 2, "b", 3, "c")
    assert z("ZREM", key, "a", "a", "missing") == 1
    assert z("ZREM", key, "missing") == 0
    assert z("ZREM", f"{key}:absent", "a") == 0
    assert z("ZRANGE", key, 0, -1) == ["b", "c"]
    assert z("ZREM", key, "b", "c") == 2
    assert z("EXISTS", key) == 0
    assert z("TYPE", key) == "none"
    fails(z, "ZREM", key, match="wrong number of arguments")
    # A removed member comes back with only its new score.
    z("ZADD", key, 5, "a")
    z("ZREM", key, "a")
    assert z("ZINCRBY", key, 2, "a") in ("2", 2.0)


# ------------------------------------------------------------------ ranges by rank


RANKS = [
    (0, -1),
    (1, 2),
    (-2, -1),
    (-100, 100),
    (3, 1),
    (5, 9),
    (-1, -2),
    (0, 0),
    (-5, -5),
    (-6, 0),
    (4, 4),
    (2, -3),
    (0, 9223372036854775807),
    (-9223372036854775808, 1),
]


def test_ranges_by_rank(exact, key):
    z = exact
    z("ZADD", key, 1, "a", 2, "b", 3, "c", 4, "d", 5, "e")
    for start, stop in RANKS:
        z("ZRANGE", key, start, stop)
        z("ZRANGE", key, start, stop, "WITHSCORES")
        z("ZRANGE", key, start, stop, "REV")
        z("ZRANGE", key, start, stop, "rev", "withscores")
        z("ZREVRANGE", key, start, stop)
        z("ZREVRANGE", key, start, stop, "WITHSCORES")
        z("ZRANGE", f"{key}:absent", start, stop)


@resp2_only
def test_rank_range_errors(exact, key):
    z = exact
    z("ZADD", key, 1, "a")
    for k in (key, f"{key}:absent"):
        fails(z, "ZRANGE", k, "a", 1, match="not an integer")
        fails(z, "ZRANGE", k, 0, "1.5", match="not an integer")
        fails(z, "ZREVRANGE", k, 0, "x", match="not an integer")
        fails(z, "ZRANGE", k, 0, 1, "LIMIT", 0, 1, match="LIMIT is only supported")
        fails(z, "ZREVRANGE", k, 0, 1, "LIMIT", 0, 1, match="LIMIT is only supported")
    # LIMIT with a count of -1 is no limit at all, which a rank range allows.
    z("ZRANGE", key, 0, -1, "LIMIT", 0, -1)
    fails(z, "ZRANGE", key, 0, match="wrong number of arguments")
    fails(z, "ZREVRANGE", key, 0, -1, "REV")
    fails(z, "ZREVRANGE", key, 0, -1, "BYSCORE")


# ------------------------------------------------------------------ ranges by score


SCORED = [1, "a", 2, "b", 2, "c", 3, "d", 4, "e", 5, "f", "5.5", "g"]

LIMITS = [[], ["LIMIT", 0, 2], ["LIMIT", 1, 10], ["LIMIT", 2, -1], ["LIMIT", -1, 2],
          ["LIMIT", 0, 0], ["LIMIT", 10, 1], ["LIMIT", 1, -5], ["limit", 0, 1, "LIMIT", 1, 2]]


SCORE_RANGES = [("-inf", "+inf"), ("2", "4"), ("(2", "4"), ("2", "(4"), ("(1", "(5.5"),
                ("4", "2"), ("6", "9")]


def test_ranges_by_score(exact, key):
    z = exact
    z("ZADD", key, *SCORED)
    for low, high in SCORE_RANGES:
        for limit in LIMITS:
            z("ZRANGEBYSCORE", key, low, high, *limit)
            z("ZRANGEBYSCORE", key, low, high, "WITHSCORES", *limit)
            z("ZREVRANGEBYSCORE", key, high, low, *limit)
            z("ZREVRANGEBYSCORE", key, high, low, *limit, "WITHSCORES")
            z("ZRANGE", key, low, high, "BYSCORE", *limit)
            z("ZRANGE", key, low, high, "BYSCORE", "WITHSCORES", *limit)
            # REV takes the ends as max, min.
            z("ZRANGE", key, high, low, "BYSCORE", "REV", *limit)
            z("ZRANGE", key, high, low, "REV", "BYSCORE", "WITHSCORES", *limit)
            z("ZRANGE", key, low, high, "BYSCORE", "REV", *limit)
            z("ZRANGEBYSCORE", f"{key}:absent", low, high, *limit)


def test_rev_swaps_the_ends(exact, key):
    z = exact
    z("ZADD", key, *SCORED)
    assert z("ZRANGE", key, 4, 2, "BYSCORE", "REV") == ["e", "d", "c", "b"]
    assert z("ZRANGE", key, 2, 4, "BYSCORE", "REV") == []
    assert z("ZREVRANGEBYSCORE", key, 4, 2) == ["e", "d", "c", "b"]
    assert z("ZREVRANGEBYSCORE", key, "(4", "(2") == ["d"]
    assert z("ZRANGE", key, 0, 2, "REV") == ["g", "f", "e"]
    # (A range by name is over members of one score: NAMED.)
    names = f"{key}:names"
    z("ZADD", names, *NAMED)
    assert z("ZRANGE", names, "[e", "[b", "BYLEX", "REV") == ["e", "d", "c", "b"]
    assert z("ZRANGE", names, "[b", "[e", "BYLEX", "REV") == []
    assert z("ZREVRANGEBYLEX", names, "(e", "[b") == ["d", "c", "b"]


@resp2_only
def test_score_range_option_errors(exact, key):
    z = exact
    z("ZADD", key, *SCORED)
    for args in [
        ["ZRANGEBYSCORE", key, 0, 1, "LIMIT", 0],
        ["ZRANGEBYSCORE", key, 0, 1, "LIMIT"],
        ["ZRANGEBYSCORE", key, 0, 1, "BOGUS"],
        ["ZRANGEBYSCORE", key, 0, 1, "BYSCORE"],
        ["ZRANGEBYSCORE", key, 0, 1, "REV"],
        ["ZREVRANGEBYSCORE", key, 1, 0, "REV"],
        ["ZRANGE", key, 0, 1, "BYSCORE", "BYLEX"],
        ["ZRANGE", key, 0, 1, "BYSCORE", "BYSCORE"],
        ["ZRANGE", key, 0, 1, "REV", "REV"],
        ["ZRANGE", key, 0, 1, "BYSCORE", "LIMIT", 0],
    ]:
        fails(z, *args, match="syntax error")
    fails(z, "ZRANGEBYSCORE", key, 0, 1, "LIMIT", "x", 1, match="not an integer")
    fails(z, "ZRANGEBYSCORE", key, 0, 1, "LIMIT", 0, "1.5", match="not an integer")
    fails(z, "ZRANGE", key, 0, 1, "BYSCORE", "LIMIT", 0, "y", match="not an integer")
    fails(z, "ZRANGEBYSCORE", key, 0, match="wrong number of arguments")
    # An option error is found before a bad range end.
    fails(z, "ZRANGEBYSCORE", key, "x", 1, "BOGUS", match="syntax error")


# ------------------------------------------------------------------ ranges by name


NAMED = [0, "a", 0, "b", 0, "c", 0, "d", 0, "e", 0, "f", 0, "ff", 0, "g"]


NAME_RANGES = [("-", "+"), ("[b", "[e"), ("(b", "[e"), ("[b", "(e"), ("(b", "(e"),
               ("[f", "(g"), ("(a", "[a"), ("+", "-"), ("[e", "[b"), ("-", "(c"),
               ("[ff", "+"), ("[", "(z"), ("(", "[")]


def test_ranges_by_name(exact, key):
    z = exact
    z("ZADD", key, *NAMED)
    for low, high in NAME_RANGES:
        z("ZLEXCOUNT", key, low, high)
        z("ZLEXCOUNT", f"{key}:absent", low, high)
        for limit in LIMITS:
            z("ZRANGEBYLEX", key, low, high, *limit)
            z("ZREVRANGEBYLEX", key, high, low, *limit)
            z("ZRANGE", key, low, high, "BYLEX", *limit)
            z("ZRANGE", key, high, low, "BYLEX", "REV", *limit)
            z("ZRANGEBYLEX", f"{key}:absent", low, high, *limit)


@resp2_only
def test_name_range_errors(exact, key):
    z = exact
    z("ZADD", key, *NAMED)
    for k in (key, f"{key}:absent"):
        for low, high in [("a", "+"), ("-", "z"), ("", "+"), ("-a", "+"), ("[a", "+b")]:
            fails(z, "ZRANGEBYLEX", k, low, high, match="not valid string range item")
            fails(z, "ZREVRANGEBYLEX", k, high, low, match="not valid string range item")
            fails(z, "ZRANGE", k, low, high, "BYLEX", match="not valid string range item")
            fails(z, "ZLEXCOUNT", k, low, high, match="not valid string range item")
    fails(z, "ZRANGE", key, "-", "+", "BYLEX", "WITHSCORES", match="WITHSCORES not supported")
    fails(z, "ZRANGEBYLEX", key, "-", "+", "WITHSCORES", match="WITHSCORES not supported")
    fails(z, "ZRANGEBYLEX", key, "-", "+", "LIMIT", 0, match="syntax error")
    fails(z, "ZRANGEBYLEX", key, "-", "+", "BYLEX", match="syntax error")
    fails(z, "ZRANGEBYLEX", key, "-", "+", "BYSCORE", match="syntax error")
    fails(z, "ZLEXCOUNT", key, "-", match="wrong number of arguments")


# ------------------------------------------------------------------ pops


def test_zpopmin_and_zpopmax(exact, key):
    z = exact
    z("ZADD", key, 1, "a", 2, "b", 3, "c", 4, "d", 5, "e", 6, "f", "1.1", "g")
    assert z("ZPOPMIN", key)
    assert z("ZPOPMAX", key)
    z("ZPOPMIN", key, 0)
    z("ZPOPMAX", key, 0)
    z("ZPOPMIN", key, 1)
    z("ZPOPMAX", key, 2)
    assert z("ZRANGE", key, 0, -1, "WITHSCORES")
    z("ZPOPMIN", key, 100)
    assert z("EXISTS", key) == 0
    for command in ("ZPOPMIN", "ZPOPMAX"):
        assert z(command, key) == []
        assert z(command, key, 1) == []
        assert z(command, key, 0) == []
        fails(z, command, key, -1, match="value is out of range, must be positive")
        fails(z, command, key, "x", match="value is out of range, must be positive")
        fails(z, command, key, 1, 2, match="syntax error")
        fails(z, command, match="wrong number of arguments")


def test_pops_of_equal_scores_take_members_in_name_order(exact, key):
    z = exact
    z("ZADD", key, 1, "b", 1, "a", 1, "d", 1, "c")
    assert z("ZPOPMIN", key, 2)
    assert z("ZPOPMAX", key)
    assert z("ZRANGE", key, 0, -1) == ["c"]


# ------------------------------------------------------------------ ZRANDMEMBER


def test_zrandmember_on_a_missing_key_and_errors(exact, key):
    z = exact
    absent = f"{key}:absent"
    assert z("ZRANDMEMBER", absent) is None
    assert z("ZRANDMEMBER", absent, 5) == []
    assert z("ZRANDMEMBER", absent, -5) == []
    assert z("ZRANDMEMBER", absent, 5, "WITHSCORES") == []
    z("ZADD", key, 1, "a", 2, "b")
    assert z("ZRANDMEMBER", key, 0) == []
    assert z("ZRANDMEMBER", key, 0, "WITHSCORES") == []
    fails(z, "ZRANDMEMBER", key, "x", match="not an integer")
    fails(z, "ZRANDMEMBER", key, 1, "BOGUS", match="syntax error")
    fails(z, "ZRANDMEMBER", key, 1, "WITHSCORES", "x", match="syntax error")
    fails(z, "ZRANDMEMBER", key, -9223372036854775808, match="value is out of range")
    fails(z, "ZRANDMEMBER", absent, 9223372036854775807, "WITHSCORES", match="out of range")


def test_zrandmember_shapes(r, key):
    members = {f"m{i}": str(i) for i in range(5)}
    r.zadd(key, {m: int(s) for m, s in members.items()})
    one = r.execute_command("ZRANDMEMBER", key)
    assert one in members
    got = r.execute_command("ZRANDMEMBER", key, 3)
    assert len(got) == 3 and len(set(got)) == 3 and set(got) <= members.keys()
    got = r.execute_command("ZRANDMEMBER", key, 9)
    assert sorted(got) == sorted(members)
    got = r.execute_command("ZRANDMEMBER", key, -20)
    assert len(got) == 20 and set(got) <= members.keys()
    r.response_callbacks.clear()
    for count in (3, -8, 9):
        got = r.execute_command("ZRANDMEMBER", key, count, "WITHSCORES")
        if r.get_connection_kwargs().get("protocol") == 3:
            pairs = [tuple(p) for p in got]
            assert all(isinstance(p, list) and len(p) == 2 for p in got)
        else:
            pairs = list(zip(got[::2], got[1::2]))
            assert len(got) == 2 * len(pairs)
        assert len(pairs) == (min(count, 5) if count > 0 else -count)
        for member, score in pairs:
            assert float(score) == float(members[member])
        if count > 0:
            assert len({m for m, _ in pairs}) == len(pairs)


# ------------------------------------------------------------------ ZSCAN


def scan_all(client, key, **options):
    """Every member ZSCAN returns, with its score as text, iterating to cursor 0."""
    found, cursor, calls = {}, 0, 0
    while True:
        cursor, items = client.zscan(key, cursor, **options, score_cast_func=str)
        found.update(items)
        calls += 1
        assert calls < 1000
        if cursor == 0:
            return found


def test_zscan(pair, key):
    members = [x for i in range(300) for x in (f"{i / 7}", f"member:{i}")]
    pair("ZADD", key, *members, "1.1", "odd", "inf", "top")
    want = scan_all(pair.oracle, key)
    assert len(want) == 302
    assert want["odd"] == "1.1000000000000001" and want["top"] == "inf"
    assert scan_all(pair.meridian, key) == want
    assert scan_all(pair.meridian, key, count=7) == want
    assert scan_all(pair.meridian, key, match="member:1*", count=7) == scan_all(
        pair.oracle, key, match="member:1*", count=7
    )
    assert scan_all(pair.meridian, key, match="member:29?") == scan_all(
        pair.oracle, key, match="member:29?"
    )
    assert scan_all(pair.meridian, f"{key}:absent") == {}
    small = f"{key}:small"
    pair("ZADD", small, "0.1", "a", "-inf", "b", "3", "c")
    want = scan_all(pair.oracle, small)
    assert want == {"a": "0.10000000000000001", "b": "-inf", "c": "3"}
    assert scan_all(pair.meridian, small) == want


@resp2_only
def test_zscan_errors(exact, key):
    z = exact
    z("ZADD", key, 1, "a")
    fails(z, "ZSCAN", key, "x", match="invalid cursor")
    fails(z, "ZSCAN", key, 0, "COUNT", 0, match="syntax error")
    fails(z, "ZSCAN", key, 0, "COUNT", "x", match="not an integer")
    fails(z, "ZSCAN", key, 0, "MATCH", match="syntax error")
    fails(z, "ZSCAN", key, 0, "BOGUS", "x", match="syntax error")
    fails(z, "ZSCAN", key, match="wrong number of arguments")


# ------------------------------------------------------------------ ZUNIONSTORE, ZINTERSTORE


STORE_OPTIONS = [
    [],
    ["WEIGHTS", 2, 3],
    ["WEIGHTS", "0.5", "-1"],
    ["WEIGHTS", 0, 1],
    ["AGGREGATE", "MIN"],
    ["AGGREGATE", "max"],
    ["aggregate", "sum"],
    ["WEIGHTS", 2, -1, "AGGREGATE", "MAX"],
    ["AGGREGATE", "MIN", "WEIGHTS", 1, 10],
    ["WEIGHTS", 1, 1, "WEIGHTS", 3, 3],
    ["WEIGHTS", "inf", 1],
]


def test_union_and_intersection(exact, key):
    z = exact
    a, b = f"{key}:a", f"{key}:b"
    z("ZADD", a, 1, "x", 2, "y", 3, "z", "-inf", "lo")
    z("ZADD", b, 10, "y", 20, "z", 30, "w", 1, "lo")
    for i, options in enumerate(STORE_OPTIONS):
        for command in ("ZUNIONSTORE", "ZINTERSTORE"):
            dest = f"{key}:dest:{command}:{i}"
            z(command, dest, 2, a, b, *options)
            z("ZRANGE", dest, 0, -1, "WITHSCORES")
            z("TYPE", dest)


def test_store_sources_and_destinations(exact, key):
    z = exact
    a, s, dest, absent = f"{key}:a", f"{key}:s", f"{key}:dest", f"{key}:absent"
    z("ZADD", a, 1, "x", 2, "y")
    z("SADD", s, "y", "q")
    # A set counts as its members scored 1.
    assert z("ZUNIONSTORE", dest, 2, a, s) == 3
    z("ZRANGE", dest, 0, -1, "WITHSCORES")
    assert z("ZINTERSTORE", dest, 2, a, s, "WEIGHTS", 1, 5) == 1
    z("ZRANGE", dest, 0, -1, "WITHSCORES")
    assert z("ZUNIONSTORE", dest, 1, s) == 2
    z("ZRANGE", dest, 0, -1, "WITHSCORES")
    # A missing source is empty; an empty result deletes the destination.
    assert z("ZUNIONSTORE", dest, 2, a, absent) == 2
    assert z("ZINTERSTORE", dest, 2, a, absent) == 0
    assert z("EXISTS", dest) == 0
    # The destination is replaced whatever it held.
    z("SET", dest, "a string")
    assert z("ZUNIONSTORE", dest, 1, a) == 2
    assert z("TYPE", dest) == "zset"
    z("ZRANGE", dest, 0, -1, "WITHSCORES")
    # A source may be the destination.
    assert z("ZUNIONSTORE", a, 2, a, a) == 2
    z("ZRANGE", a, 0, -1, "WITHSCORES")
    # inf + -inf sums to 0, inf * 0 weighs 0.
    z("ZADD", f"{key}:p", "inf", "m")
    z("ZADD", f"{key}:n", "-inf", "m")
    z("ZUNIONSTORE", dest, 2, f"{key}:p", f"{key}:n")
    z("ZSCORE", dest, "m")
    z("ZINTERSTORE", dest, 1, f"{key}:p", "WEIGHTS", 0)
    z("ZSCORE", dest, "m")


@resp2_only
def test_store_errors(exact, key):
    z = exact
    a, dest = f"{key}:a", f"{key}:dest"
    z("ZADD", a, 1, "x")
    string = f"{key}:string"
    z("SET", string, "v")
    for command in ("ZUNIONSTORE", "ZINTERSTORE"):
        fails(z, command, dest, 0, a, match="at least 1 input key is needed")
        fails(z, command, dest, -1, a, match="at least 1 input key is needed")
        fails(z, command, dest, "x", a, match="not an integer")
        fails(z, command, dest, 3, a, a, match="syntax error")
        fails(z, command, dest, 1, a, "WEIGHTS", match="syntax error")
        fails(z, command, dest, 2, a, a, "WEIGHTS", 1, match="syntax error")
        fails(z, command, dest, 1, a, "WEIGHTS", "x", match="weight value is not a float")
        fails(z, command, dest, 1, a, "WEIGHTS", "nan", match="weight value is not a float")
        fails(z, command, dest, 1, a, "AGGREGATE", "AVG", match="syntax error")
        fails(z, command, dest, 1, a, "AGGREGATE", match="syntax error")
        fails(z, command, dest, 1, a, "WITHSCORES", match="syntax error")
        fails(z, command, dest, 1, a, "BOGUS", match="syntax error")
        fails(z, command, dest, 2, a, string, match="WRONGTYPE")
        fails(z, command, dest, match="wrong number of arguments")
        fails(z, command, dest, 1, match="wrong number of arguments")
        assert z("EXISTS", dest) == 0


@resp2_only
def test_a_wrong_type_source_is_found_before_the_options_are_read(exact, key):
    string = f"{key}:string"
    exact("SET", string, "v")
    for command in ("ZUNIONSTORE", "ZINTERSTORE"):
        fails(exact, command, f"{key}:d", 1, string, "WEIGHTS", "x", match="WRONGTYPE")
        fails(exact, command, f"{key}:d", 1, string, "BOGUS", match="WRONGTYPE")


# ------------------------------------------------------------------ types, time to live


def test_writes_keep_the_time_to_live_and_a_store_clears_it(exact, key):
    z = exact
    z("ZADD", key, 1, "a")
    z("EXPIRE", key, 100)
    z("ZADD", key, 2, "b")
    z("ZINCRBY", key, 1, "a")
    z("ZREM", key, "b")
    assert exact.meridian.ttl(key) in (99, 100)
    assert exact.oracle.ttl(key) in (99, 100)
    dest = f"{key}:dest"
    z("SET", dest, "v", "EX", 100)
    z("ZUNIONSTORE", dest, 1, key)
    assert z("TTL", dest) == -1
    # Popping the last member removes the key, and its time to live with it.
    z("ZPOPMAX", key)
    assert z("TTL", key) == -2


@resp2_only
def test_sorted_set_commands_on_other_types_and_back(exact, key):
    z = exact
    string, zset = f"{key}:s", f"{key}:z"
    z("SET", string, "v")
    z("ZADD", zset, 1, "a")
    for args in [
        ["ZADD", string, 1, "a"],
        ["ZADD", string, "INCR", 1, "a"],
        ["ZADD", string, "XX", 1, "a"],
        ["ZINCRBY", string, 1, "a"],
        ["ZREM", string, "a"],
        ["ZPOPMIN", string],
        ["ZPOPMAX", string, 2],
        ["ZSCORE", string, "a"],
        ["ZMSCORE", string, "a"],
        ["ZCARD", string],
        ["ZCOUNT", string, 0, 1],
        ["ZLEXCOUNT", string, "-", "+"],
        ["ZRANK", string, "a"],
        ["ZREVRANK", string, "a"],
        ["ZRANGE", string, 0, -1],
        ["ZRANGE", string, 0, 1, "BYSCORE"],
        ["ZRANGEBYSCORE", string, 0, 1],
        ["ZREVRANGEBYSCORE", string, 1, 0],
        ["ZREVRANGE", string, 0, -1],
        ["ZRANGEBYLEX", string, "-", "+"],
        ["ZREVRANGEBYLEX", string, "+", "-"],
        ["ZRANDMEMBER", string],
        ["ZRANDMEMBER", string, 2],
        ["ZSCAN", string, 0],
        ["ZUNIONSTORE", f"{key}:d", 1, string],
        ["ZINTERSTORE", f"{key}:d", 2, zset, string],
        ["GET", zset],
        ["SADD", zset, "m"],
        ["LPUSH", zset, "m"],
        ["HSET", zset, "f", "v"],
        ["INCR", zset],
        ["APPEND", zset, "x"],
    ]:
        fails(z, *args, match="WRONGTYPE")
    # SET replaces a sorted set; DEL removes it.
    assert z("TYPE", zset) == "zset"
    z("SET", zset, "now a string")
    assert z("GET", zset) == "now a string"
    z("ZADD", f"{key}:z2", 1, "a")
    assert z("DEL", f"{key}:z2") == 1
    assert z("ZRANGE", f"{key}:z2", 0, -1) == []


@resp2_only
def test_arity(exact, key):
    for args in [
        ["ZSCORE", key],
        ["ZMSCORE", key],
        ["ZCARD"],
        ["ZCARD", key, key],
        ["ZCOUNT", key, 0],
        ["ZRANK", key],
        ["ZRANK", key, "a", "WITHSCORE"],
        ["ZREVRANK", key],
        ["ZREVRANGE", key, 0],
        ["ZREVRANGEBYSCORE", key, 0],
        ["ZRANGEBYLEX", key, "-"],
        ["ZREVRANGEBYLEX", key, "+"],
        ["ZRANDMEMBER"],
        ["ZSCAN"],
    ]:
        fails(exact, *args, match="wrong number of arguments")


# ------------------------------------------------------------------ a large sorted set


def test_a_large_sorted_set(exact, key):
    """Past 128 members the node's order changes representation: every read matches."""
    z = exact
    n = 400
    items = []
    for i in range(n):
        # Scores with ties (i % 50), names out of order.
        items += [i % 50 if i % 3 else f"{i / 3}", f"m{(i * 7919) % n:04d}"]
    assert z("ZADD", key, *items) == n
    assert z("ZCARD", key) == n
    for start, stop in [(0, -1), (0, 9), (100, 130), (-10, -1), (127, 129), (390, 500),
                        (-400, -390), (200, 199)]:
        z("ZRANGE", key, start, stop, "WITHSCORES")
        z("ZREVRANGE", key, start, stop)
    for low, high in [("-inf", "+inf"), ("10", "20"), ("(10", "(20"), ("49", "inf"),
                      ("(0", "1"), ("33.5", "99")]:
        z("ZCOUNT", key, low, high)
        z("ZRANGEBYSCORE", key, low, high, "WITHSCORES", "LIMIT", 5, 20)
        z("ZREVRANGEBYSCORE", key, high, low, "LIMIT", 3, 7)
        z("ZRANGE", key, low, high, "BYSCORE")
    for member in ["m0000", "m0133", "m0399", "m0200", "missing"]:
        z("ZRANK", key, member)
        z("ZREVRANK", key, member)
        z("ZSCORE", key, member)
    # Names: every member at one score.
    names = f"{key}:names"
    z("ZADD", names, *[x for i in range(300) for x in (0, f"n{(i * 37) % 300:03d}")])
    for low, high in [("-", "+"), ("[n050", "(n100"), ("(n299", "+"), ("[n1", "[n2"),
                      ("-", "[n000")]:
        z("ZLEXCOUNT", names, low, high)
        z("ZRANGEBYLEX", names, low, high, "LIMIT", 2, 30)
        z("ZREVRANGEBYLEX", names, high, low, "LIMIT", 0, 10)
    z("ZRANGE", names, 140, 150)
    # Writes to the large set: updates that move members, removals, pops, increments.
    z("ZADD", key, "XX", "CH", *[x for i in range(0, n, 5) for x in (-i, f"m{i:04d}")])
    z("ZREM", key, *[f"m{i:04d}" for i in range(1, n, 4)])
    z("ZINCRBY", key, 1000, "m0002")
    z("ZPOPMIN", key, 10)
    z("ZPOPMAX", key, 3)
    z("ZCARD", key)
    assert z("ZRANGE", key, 0, -1, "WITHSCORES")
    z("ZRANGE", key, 50, 60, "REV")
    z("ZRANK", key, "m0002")
    z("ZUNIONSTORE", f"{key}:copy", 2, key, names, "WEIGHTS", 2, 1, "AGGREGATE", "MAX")
    z("ZRANGE", f"{key}:copy", 0, -1, "WITHSCORES")
    # Removed down to nothing.
    z("ZPOPMIN", key, 1000)
    assert z("EXISTS", key) == 0


# ------------------------------------------------------------------ Meridian only: regions


# What replication does is the same in either protocol: these run with a RESP2 client.
region_test = pytest.mark.parametrize("r", [2], ids=["resp2"], indirect=True)


@region_test
def test_a_zadd_is_read_at_another_region(r, other, key):
    assert r.zadd(key, {"a": 1, "b": 2.5, "c": 1.1}) == 3
    wait_for("the other region reads the sorted set", lambda: other.zcard(key) == 3)
    assert other.zrange(key, 0, -1, withscores=True) == [("a", 1.0), ("c", 1.1), ("b", 2.5)]
    assert other.execute_command("TYPE", key) == "zset"
    other.response_callbacks.clear()
    assert other.execute_command("ZSCORE", key, "c") == "1.1000000000000001"


@region_test
def test_increments_at_two_regions_all_count(r, other, key):
    r.zadd(key, {"m": 10})
    wait_for("the other region reads the base", lambda: other.zscore(key, "m") == 10)
    # Made without waiting for each other: every increment counts once replicated.
    r.zincrby(key, 1, "m")
    other.zincrby(key, 10, "m")
    r.zadd(key, {"m": 100}, incr=True)
    other.zadd(key, {"m": 1000}, incr=True)
    r.zincrby(key, 0.5, "m")
    other.zincrby(key, 0.25, "m")
    want = 10 + 1 + 10 + 100 + 1000 + 0.5 + 0.25
    wait_for(
        "both regions read every increment",
        lambda: r.zscore(key, "m") == want and other.zscore(key, "m") == want,
    )
    # A new base (ZADD) replaces the sum; later increments count on it.
    other.zadd(key, {"m": 1})
    wait_for("the new base reaches region 1", lambda: r.zscore(key, "m") == 1)
    r.zincrby(key, 2, "m")
    other.zincrby(key, 3, "m")
    wait_for(
        "both regions read 1 + 2 + 3",
        lambda: r.zscore(key, "m") == 6 and other.zscore(key, "m") == 6,
    )


@region_test
def test_a_removed_member_is_absent_everywhere_and_comes_back_with_a_new_increment(
    r, other, key
):
    r.zadd(key, {"m": 5, "keep": 1})
    wait_for("the other region reads m", lambda: other.zscore(key, "m") == 5)
    assert other.zincrby(key, 2, "m") == 7
    wait_for("region 1 reads the increment", lambda: r.zscore(key, "m") == 7)
    assert r.zrem(key, "m") == 1
    wait_for(
        "no region reads m",
        lambda: r.zscore(key, "m") is None and other.zscore(key, "m") is None,
    )
    assert other.zcard(key) == 1 and other.zrank(key, "m") is None
    # Recreated by an increment alone: the removed base and increments are gone.
    assert other.zincrby(key, 3, "m") == 3
    wait_for(
        "both regions read only the new increment",
        lambda: r.zscore(key, "m") == 3 and other.zscore(key, "m") == 3,
    )
    assert r.zrange(key, 0, -1, withscores=True) == [("keep", 1.0), ("m", 3.0)]


@region_test
def test_pops_and_stores_reach_the_other_region(r, other, key):
    r.zadd(key, {"a": 1, "b": 2, "c": 3})
    wait_for("the other region reads the set", lambda: other.zcard(key) == 3)
    assert other.zpopmin(key) == [("a", 1.0)]
    wait_for("region 1 sees the pop", lambda: r.zrange(key, 0, -1) == ["b", "c"])
    r.zunionstore(f"{key}:dest", {key: 2})
    wait_for(
        "the other region reads the stored union",
        lambda: other.zrange(f"{key}:dest", 0, -1, withscores=True) == [("b", 4.0), ("c", 6.0)],
    )
