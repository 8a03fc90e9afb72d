"""The Redis the tests run: real, on 127.0.0.1, its own, and restartable (an outage)."""

from __future__ import annotations

import pytest
import redis


def test_a_redis_of_its_own_that_can_go_down_and_come_back(redis_server):
    client = redis_server.client()
    assert client.ping()
    client.set("isnad", "1")
    assert client.config_get("bind")["bind"] == "127.0.0.1"
    redis_server.stop()
    with pytest.raises(redis.ConnectionError):
        redis_server.client().ping()
    redis_server.start()
    # No persistence unless asked: it comes back empty, like a Redis that lost its memory.
    assert redis_server.client().get("isnad") is None


def test_a_persistent_redis_keeps_what_it_acknowledged(tmp_path):
    from tests.redisserver import RedisServer, redis_server_binary

    if redis_server_binary() is None:
        pytest.skip("redis-server is not installed")
    server = RedisServer(tmp_path / "redis", persist=True).start()
    try:
        server.client().set("isnad", "kept")
        server.stop()
        server.start()
        assert server.client().get("isnad") == b"kept"
    finally:
        server.stop()
