"""Fixtures for the redis-py suite, run by tests/redis_clients.rs against a local cluster.

The harness starts three nodes and passes their Redis protocol addresses:
  MERIDIAN_N1  a node with default client settings
  MERIDIAN_N2  a node whose clients must AUTH with MERIDIAN_PASSWORD
  MERIDIAN_N3  a node with tight client limits (few clients, small output buffer, short idle timeout)
"""

import os
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
