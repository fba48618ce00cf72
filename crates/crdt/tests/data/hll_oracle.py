#!/usr/bin/env python3
"""Writes hll_oracle.txt: PFADD and PFCOUNT replies of a real redis-server, which
tests/hll.rs holds Meridian's sketches to.

    redis-server --port 7788 --save "" --appendonly no --daemonize yes
    python3 hll_oracle.py 127.0.0.1:7788 > hll_oracle.txt
    redis-cli -p 7788 shutdown nosave

Elements are made, not stored: text elements `<case>:<i>`, and byte elements of every
length from 0 to 19 (so every tail length of the hash is met).
"""
import sys

import redis


def text(case, n):
    return [f"{case}:{i}".encode() for i in range(n)]


def raw(n):
    return [bytes((i * 7 + j) % 256 for j in range(i % 20)) + i.to_bytes(4, "little") * (i % 3)
            for i in range(n)]


def elements(case, n):
    return raw(n) if case == "raw" else text(case, n)


def pfadd_all(r, key, els):
    r.delete(key)
    pipe = r.pipeline(transaction=False)
    for i in range(0, len(els), 1000):
        pipe.pfadd(key, *els[i:i + 1000])
    pipe.execute()


def main():
    host, port = sys.argv[1].rsplit(":", 1)
    r = redis.Redis(host=host, port=int(port))
    print(f"# made by hll_oracle.py against redis-server {r.info()['redis_version']}")
    # One element at a time: PFADD's answer says whether a register rose.
    for case, n in [("a", 400), ("raw", 400)]:
        r.delete("k")
        bits = "".join(str(r.pfadd("k", e)) for e in elements(case, n))
        print(f"adds {case} {n} {bits}")
    for case in ["c", "raw"]:
        for n in [0, 1, 2, 3, 5, 10, 50, 100, 500, 1000, 2000, 3000, 4000, 5000, 10000,
                  20000, 50000, 100000, 300000]:
            if case == "raw" and n > 20000:
                continue
            pfadd_all(r, "k", elements(case, n))
            print(f"count {case} {n} {r.pfcount('k')}")
    for (a, na), (b, nb) in [(("c", 1000), ("d", 1000)), (("c", 5000), ("c", 2000)),
                             (("c", 100000), ("d", 3000))]:
        pfadd_all(r, "x", elements(a, na))
        pfadd_all(r, "y", elements(b, nb))
        print(f"union {a} {na} {b} {nb} {r.pfcount('x', 'y')}")


main()
