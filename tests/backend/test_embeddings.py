"""The embedding cache: computed once per (model, image), bounded, shareable through Redis."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from samvid.core.segmenter import Embedding
from samvid.embeddings import EmbeddingCache, MemoryCache, RedisCache, content_key


def _emb(n_floats: int = 256, value: float = 1.0) -> Embedding:
    return Embedding("m", (4, 4), {"level0": np.full(n_floats, value, np.float32)})


def test_lru_evicts_the_least_recently_used_entry_past_the_byte_cap():
    cache = MemoryCache(max_bytes=3 * 1024)  # room for three 1 KiB embeddings
    for key in "abc":
        cache.put(key, _emb())
    cache.get("a")  # "b" is now the oldest
    cache.put("d", _emb())
    assert cache.get("b") is None and cache.get("a") is not None
    assert cache.nbytes <= 3 * 1024 and cache.stats.evictions == 1


def test_an_embedding_larger_than_the_cap_is_not_cached():
    cache = MemoryCache(max_bytes=100)
    cache.put("big", _emb())
    assert len(cache) == 0


def test_a_cache_capped_at_zero_bytes_keeps_nothing_not_even_an_embedding_of_zero_bytes():
    # SAMVID_CACHE_BYTES=0 is documented as no in-process cache; the stand-in's embeddings
    # hold no arrays, and under a cap of 0 bytes they piled up for good.
    cache = MemoryCache(max_bytes=0)
    for key in "abc":
        cache.put(key, Embedding("samvid-standin-r20", (4, 4)))
    assert len(cache) == 0 and cache.get("a") is None


def test_content_key_depends_on_model_and_bytes():
    assert content_key("m1", b"x") != content_key("m2", b"x")
    assert content_key("m1", b"x") != content_key("m1", b"y")
    assert content_key("m1", b"x") == content_key("m1", b"x")


def test_concurrent_requests_for_one_image_run_the_encoder_once():
    cache = EmbeddingCache(MemoryCache(1 << 20))
    calls = []

    def slow():
        calls.append(1)
        time.sleep(0.2)
        return _emb()

    threads = [threading.Thread(target=cache.lookup, args=("k", slow)) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1 and cache.encoder_runs == 1


def test_concurrent_callers_run_the_encoder_once_even_for_an_embedding_over_the_cap():
    cache = EmbeddingCache(MemoryCache(max_bytes=100))  # a 1 KiB embedding is never kept
    calls = []

    def slow():
        calls.append(1)
        time.sleep(0.2)
        return _emb()

    got: list[Embedding] = []
    threads = [threading.Thread(target=lambda: got.append(cache.lookup("k", slow)[0])) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1 and len(got) == 4


def test_a_failed_computation_lets_the_next_caller_retry():
    cache = EmbeddingCache(MemoryCache(1 << 20))

    def boom():
        raise RuntimeError("encoder failed")

    with pytest.raises(RuntimeError):
        cache.lookup("k", boom)
    assert cache.lookup("k", _emb)[0].nbytes == 1024


@pytest.mark.redis
def test_redis_shares_embeddings_between_processes(redis_server):
    """Two caches (two workers) with one Redis: the second never runs the encoder."""
    first = EmbeddingCache(MemoryCache(1 << 20), RedisCache(redis_server.url))
    second = EmbeddingCache(MemoryCache(1 << 20), RedisCache(redis_server.url))
    first.lookup("frame", lambda: _emb(value=3.0))
    got, _ = second.lookup("frame", lambda: pytest.fail("encoder ran twice"))
    np.testing.assert_array_equal(got.tensors["level0"], np.full(256, 3.0, np.float32))
    assert second.shared.stats.hits == 1


@pytest.mark.redis
def test_redis_going_away_degrades_to_local_computation(redis_server):
    cache = EmbeddingCache(MemoryCache(1 << 20), RedisCache(redis_server.url))
    redis_server.stop()
    assert cache.lookup("k", _emb)[0].nbytes == 1024


@pytest.mark.redis
@pytest.mark.parametrize("stored", [b"garbage", "truncated"])
def test_an_unreadable_redis_entry_is_a_miss_and_computed_again(redis_server, stored):
    writer = RedisCache(redis_server.url)
    if stored == "truncated":
        writer.put("frame", _emb())
        stored = writer._redis.get(writer.PREFIX + "frame")[:-40]
    writer._redis.set(writer.PREFIX + "frame", stored)
    cache = EmbeddingCache(MemoryCache(1 << 20), RedisCache(redis_server.url))
    assert cache.lookup("frame", lambda: _emb(value=2.0))[0].tensors["level0"][0] == 2.0
    assert cache.encoder_runs == 1


@pytest.mark.redis
def test_a_redis_entry_cut_after_its_header_is_a_miss_not_an_error(redis_server):
    cache = RedisCache(redis_server.url)
    whole = _emb().to_bytes()
    cache._redis.set(cache.PREFIX + "frame", whole[: whole.index(b"\n") + 1])  # no tensors after it
    assert cache.get("frame") is None and cache.stats.misses == 1


def test_a_lookup_says_whether_its_own_key_was_cached_whatever_another_key_computes():
    """Whether a click found its frame's embedding is said per lookup: another frame's
    encoder run meanwhile does not make a hit look computed (X-Samvid-Embedding)."""
    cache = EmbeddingCache(MemoryCache(1 << 20))
    assert cache.lookup("a", _emb)[1] is False  # computed here
    started, release = threading.Event(), threading.Event()

    def other_frame() -> Embedding:
        started.set()
        release.wait(10)
        return _emb()

    other = threading.Thread(target=cache.lookup, args=("b", other_frame))
    other.start()
    started.wait(10)
    _, a_cached = cache.lookup("a", _emb)
    release.set()
    other.join()
    assert a_cached and cache.lookup("b", _emb)[1] is True
    assert cache.encoder_runs == 2


def test_a_lookup_that_misses_just_as_another_finishes_does_not_run_the_encoder_again():
    # B's miss is slow to come back (a Redis round trip behind the local miss, say): by then
    # A has stored the embedding and ended its run.
    a_computing, b_missed, a_done = threading.Event(), threading.Event(), threading.Event()

    class SlowMiss(MemoryCache):
        def get(self, key):
            found = super().get(key)
            if found is None and threading.current_thread().name == "B":
                b_missed.set()
                a_done.wait(5)
            return found

    cache = EmbeddingCache(SlowMiss(1 << 20))
    calls = []

    def compute():
        calls.append(threading.current_thread().name)
        if threading.current_thread().name == "A":
            a_computing.set()
            b_missed.wait(5)
        return _emb()

    got = {}

    def look(name):
        got[name] = cache.lookup("k", compute)
        if name == "A":
            a_done.set()

    a = threading.Thread(target=look, args=("A",), name="A")
    a.start()
    assert a_computing.wait(5)
    b = threading.Thread(target=look, args=("B",), name="B")
    b.start()
    a.join(10)
    b.join(10)
    assert calls == ["A"] and cache.encoder_runs == 1
    assert got["B"][0] is got["A"][0]


@pytest.mark.redis
@pytest.mark.parametrize("password", ["", "wrong-pw"])
def test_a_redis_that_refuses_the_password_degrades_the_cache_saying_to_give_it(redis_server, caplog, password):
    """redis-py's AuthenticationError is a ConnectionError: the warning said the cache was
    unavailable as if Redis were down, not that REDIS_URL wants its password."""
    import redis

    url = redis_server.url.replace("redis://", f"redis://:{password}@") if password else redis_server.url
    redis.Redis.from_url(redis_server.url).config_set("requirepass", "x")
    cache = EmbeddingCache(MemoryCache(1 << 20), RedisCache(url))
    with caplog.at_level("WARNING", logger="samvid.embeddings"):
        assert cache.lookup("k", _emb)[0].nbytes == 1024  # computed here, as with Redis away
    assert "wants a password (or refused this one): give it in REDIS_URL" in caplog.text
    assert "AuthenticationError" not in caplog.text
    assert not password or password not in caplog.text
