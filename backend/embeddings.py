"""Image embeddings, computed once per (model, image content) and cached.

In-process LRU with a byte cap by default; with ``REDIS_URL`` a Redis cache is
shared by every worker process and machine, with the local LRU in front of it.
Concurrent requests for the same image wait for one encoder run.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import zipfile
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

from samvid.core.segmenter import Embedding
from samvid.redis_connect import PasswordRefused

log = logging.getLogger(__name__)


@dataclass
class CacheStats:
    hits: int = 0
    misses: int = 0
    evictions: int = 0


class MemoryCache:
    """Least-recently-used cache of embeddings, bounded by total bytes."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._items: OrderedDict[str, Embedding] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self.stats = CacheStats()

    def get(self, key: str) -> Embedding | None:
        with self._lock:
            item = self._items.get(key)
            if item is None:
                self.stats.misses += 1
                return None
            self._items.move_to_end(key)
            self.stats.hits += 1
            return item

    def put(self, key: str, value: Embedding) -> None:
        # A cap of 0 is no in-process cache (SAMVID_CACHE_BYTES=0): not even the stand-in's
        # embeddings of 0 bytes are kept, which no byte count would ever evict.
        if value.nbytes > self.max_bytes or self.max_bytes <= 0:
            return
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self._bytes -= old.nbytes
            self._items[key] = value
            self._bytes += value.nbytes
            while self._bytes > self.max_bytes:
                _, evicted = self._items.popitem(last=False)
                self._bytes -= evicted.nbytes
                self.stats.evictions += 1

    def holds(self, key: str) -> Embedding | None:
        """The entry of ``key`` if there is one, not counted as a lookup."""
        with self._lock:
            return self._items.get(key)

    def __len__(self) -> int:
        return len(self._items)

    @property
    def nbytes(self) -> int:
        return self._bytes


class RedisCache:
    """Embeddings shared through Redis (serialised without pickle), with a TTL."""

    PREFIX = "samvid:emb:"

    def __init__(self, url: str, ttl: int = 3600) -> None:
        from samvid.redis_connect import connect

        self._redis = connect(url, socket_seconds=5)
        self.ttl = ttl
        self.stats = CacheStats()

    def get(self, key: str) -> Embedding | None:
        import redis

        try:
            data = self._redis.get(self.PREFIX + key)
        except (redis.RedisError, PasswordRefused) as exc:  # the cache is an optimisation: degrade, don't fail
            log.warning("redis cache unavailable (%s); computing locally", _why(exc))
            data = None
        if data is None:
            self.stats.misses += 1
            return None
        try:
            found = Embedding.from_bytes(data)  # type: ignore[arg-type]  # a sync client's get gives bytes; redis types it for async too
        except (ValueError, KeyError, TypeError, OSError, EOFError, zipfile.BadZipFile) as exc:
            # Cut short (EOFError: nothing after the header) or written by something else:
            # computed again (and stored over it), not an error on every click of that image
            # until it expires.
            log.warning("unreadable embedding in the redis cache (%s); computing it again", type(exc).__name__)
            self.stats.misses += 1
            return None
        self.stats.hits += 1
        return found

    def put(self, key: str, value: Embedding) -> None:
        import redis

        try:
            self._redis.set(self.PREFIX + key, value.to_bytes(), ex=self.ttl)
        except (redis.RedisError, PasswordRefused) as exc:
            log.warning("redis cache unavailable (%s); not shared", _why(exc))


def _why(exc: Exception) -> str:
    """A Redis outage in a word (its error's name); a refused password with what to give."""
    return exc.message if isinstance(exc, PasswordRefused) else type(exc).__name__


def content_key(model_key: str, data: bytes) -> str:
    """Cache key of an image: the model's identity and a hash of the image bytes."""
    return f"{model_key}:{hashlib.sha256(data).hexdigest()[:40]}"


class EmbeddingCache:
    """Two-level cache (local LRU, optional Redis) with one computation per key at a time."""

    def __init__(self, local: MemoryCache, shared: RedisCache | None = None) -> None:
        self.local = local
        self.shared = shared
        self._inflight: dict[str, _Flight] = {}
        self._lock = threading.Lock()
        self.encoder_runs = 0

    def peek(self, key: str) -> Embedding | None:
        found = self.local.get(key)
        if found is None and self.shared is not None:
            found = self.shared.get(key)
            if found is not None:
                self.local.put(key, found)
        return found

    def lookup(self, key: str, compute: Callable[[], Embedding]) -> tuple[Embedding, bool]:
        """The embedding of ``key``, and whether it was cached: False when this call ran
        ``compute`` or waited for another call's run of it. Said per call, not read off
        ``encoder_runs``, which another key's run changes meanwhile."""
        while True:
            found = self.peek(key)
            if found is not None:
                return found, True
            with self._lock:
                flight = self._inflight.get(key)
                owner = flight is None
                if flight is None:
                    flight = self._inflight[key] = _Flight()
            if not owner:
                flight.done.wait()
                if flight.value is not None:
                    # Handed over, not re-read: an embedding over the cache's cap is not kept.
                    return flight.value, False
                continue  # the owner failed: we try ourselves
            try:
                # A flight that ended between our peek and taking the lock stored its value
                # first: found now, not computed a second time.
                stored = self.local.holds(key)
                if stored is not None:
                    flight.value = stored
                    return stored, True
                flight.value = compute()
                with self._lock:
                    self.encoder_runs += 1
                self.local.put(key, flight.value)
                if self.shared is not None:
                    self.shared.put(key, flight.value)
                return flight.value, False
            finally:
                with self._lock:
                    self._inflight.pop(key, None)
                flight.done.set()


@dataclass
class _Flight:
    """One computation of a key, and its value for those who waited on it (None if it failed)."""

    done: threading.Event = field(default_factory=threading.Event)
    value: Embedding | None = None
