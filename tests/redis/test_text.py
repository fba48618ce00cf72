"""Meridian's collaborative text commands (docs/resp.md, "Text"): positions in characters
(Unicode scalar values), stable cursors, and Redis's conventions for errors and types."""

import pytest
import redis


def test_insert_delete_read_in_characters(r, key):
    assert r.execute_command("TEXT.INSERT", key, 0, "héllo") == 5
    assert r.execute_command("TEXT.INSERT", key, 5, " wörld 🙂") == 13
    assert r.execute_command("TEXT.GET", key) == "héllo wörld 🙂"
    assert r.execute_command("TEXT.LEN", key) == 13
    assert r.execute_command("TEXT.RANGE", key, 6, 10) == "wörld"
    assert r.execute_command("TEXT.RANGE", key, -1, -1) == "🙂"
    assert r.execute_command("TEXT.RANGE", key, 20, 30) == ""
    assert r.execute_command("TEXT.DELETE", key, 1, 1) == 1
    assert r.execute_command("TEXT.INSERT", key, 1, "e") == 13
    assert r.execute_command("TEXT.DELETE", key, 11, 100) == 2
    assert r.execute_command("TEXT.GET", key) == "hello wörld"
    assert r.type(key) == "text"


def test_an_absent_text_reads_empty(r, key):
    assert r.execute_command("TEXT.GET", key) is None
    assert r.execute_command("TEXT.LEN", key) == 0
    assert r.execute_command("TEXT.RANGE", key, 0, -1) == ""
    assert r.execute_command("TEXT.DELETE", key, 0, 5) == 0
    assert r.execute_command("TEXT.INSERT", key, 0, "") == 0
    assert r.exists(key) == 0


def test_errors(r, key):
    r.execute_command("TEXT.INSERT", key, 0, "abc")
    with pytest.raises(redis.ResponseError, match="index out of range"):
        r.execute_command("TEXT.INSERT", key, 4, "x")
    with pytest.raises(redis.ResponseError, match="index out of range"):
        r.execute_command("TEXT.INSERT", key, -1, "x")
    with pytest.raises(redis.ResponseError, match="index out of range"):
        r.execute_command("TEXT.DELETE", key, 4, 1)
    with pytest.raises(redis.ResponseError, match="can't be negative"):
        r.execute_command("TEXT.DELETE", key, 0, -1)
    with pytest.raises(redis.ResponseError, match="not an integer"):
        r.execute_command("TEXT.INSERT", key, "one", "x")
    with pytest.raises(redis.ResponseError, match="wrong number of arguments"):
        r.execute_command("TEXT.INSERT", key, 0)
    r.set(key + ":s", "v")
    with pytest.raises(redis.ResponseError, match="WRONGTYPE"):
        r.execute_command("TEXT.INSERT", key + ":s", 0, "x")
    with pytest.raises(redis.ResponseError, match="WRONGTYPE"):
        r.get(key)
    with pytest.raises(redis.ResponseError, match="WRONGTYPE"):
        r.rpush(key, "x")


def test_invalid_utf8_is_refused(raw, key):
    with pytest.raises(redis.ResponseError, match="not valid UTF-8"):
        raw.execute_command("TEXT.INSERT", key, 0, b"\xff\xfe")


def test_a_cursor_follows_its_text_through_edits(r, key):
    r.execute_command("TEXT.INSERT", key, 0, "hello world")
    cursor = r.execute_command("TEXT.CURSOR", key, 6)  # just before "world"
    start = r.execute_command("TEXT.CURSOR", key, 0)
    assert r.execute_command("TEXT.RESOLVE", key, cursor) == 6
    r.execute_command("TEXT.INSERT", key, 0, ">> ")
    assert r.execute_command("TEXT.RESOLVE", key, cursor) == 9
    assert r.execute_command("TEXT.RESOLVE", key, start) == 0
    # Deleting the character the cursor follows leaves it where that character was.
    r.execute_command("TEXT.DELETE", key, 3, 6)
    assert r.execute_command("TEXT.GET", key) == ">> world"
    assert r.execute_command("TEXT.RESOLVE", key, cursor) == 3
    with pytest.raises(redis.ResponseError, match="invalid cursor"):
        r.execute_command("TEXT.RESOLVE", key, "nonsense")
    with pytest.raises(redis.ResponseError, match="does not hold"):
        r.execute_command("TEXT.RESOLVE", key, "999:1.0")
    with pytest.raises(redis.ResponseError, match="index out of range"):
        r.execute_command("TEXT.CURSOR", key, 99)
