"""The owner of the model, the embedding cache and the image source.

The HTTP layer hands it an image reference and a prompt; it fetches the image,
finds or computes the embedding and runs the decoder. Nothing here knows
Label Studio's JSON.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass

import cv2
import numpy as np

from samvid.core.prompts import Prompt
from samvid.core.segmenter import Embedding, MaskPrediction, Segmenter
from samvid.embeddings import EmbeddingCache, MemoryCache, RedisCache, content_key
from samvid.errors import ModelUnavailable, PromptError, TimedOut
from samvid.images import ImageSource
from samvid.settings import Settings

log = logging.getLogger(__name__)

# A reference longer than this (a data: URI: the image itself) is not remembered: hashing
# it again costs less than holding megabytes per frame clicked.
MAX_REMEMBERED_REF = 4096
# Opened tasks whose embedding may wait to be warmed. Tasks opened faster than they embed
# (an annotator pressing "next") must not queue an encoder run each: those frames, left
# behind, would hold the encoder (and SAM's decoder, which shares its lock) for minutes
# while the frame now open is clicked. Older warm-ups not yet begun are dropped; the
# first click on such a frame embeds it, as it would without warming.
PRECOMPUTE_BACKLOG = 1
# How long an image fetched over HTTP (no file stamp tells whether it changed) is taken to
# be what it was: a frame extracted again under the same name and size (cloud storage,
# a Label Studio on another machine) was segmented as the old picture until a restart.
# Reading it again costs a download and a hash, once a minute per frame being clicked;
# the embedding is found by content, so an unchanged frame is not encoded again.
HTTP_REF_SECONDS = 60.0


@dataclass(frozen=True)
class Timed:
    prediction: MaskPrediction
    embed_cached: bool
    seconds: float


class Predictor:
    def __init__(
        self, segmenter: Segmenter, cache: EmbeddingCache, source: ImageSource, request_timeout: float = 60.0
    ) -> None:
        self.segmenter = segmenter
        self.cache = cache
        self._source = source
        self.request_timeout = request_timeout
        # Which content key an image reference had, with its local file's stamp (None when
        # fetched over HTTP) and when it was read: a second click on a frame neither
        # downloads nor hashes it again, unless its file changed since (or, over HTTP, a
        # while passed: see HTTP_REF_SECONDS).
        self._ref_keys: dict[str, tuple[str, tuple[int, int] | None, float]] = {}
        self._ref_lock = threading.Lock()
        # Bumped when the source is replaced: a fetch begun before must not record its key.
        self._source_generation = 0
        # The sizes Label Studio reported for a reference that were not its image's after a
        # read again: a size that stays so is no replaced file, read again on every click.
        self._odd_sizes: dict[str, tuple[int, int]] = {}
        self._background = ThreadPoolExecutor(max_workers=1, thread_name_prefix="samvid-embed")
        self._warming: deque[Future] = deque()  # the newest warm-ups, at most PRECOMPUTE_BACKLOG
        # Clicks fetch and embed here, so a request can give up waiting while the work
        # goes on and fills the cache; it also bounds how many encoders run at once.
        self._clicks = ThreadPoolExecutor(max_workers=4, thread_name_prefix="samvid-click")

    @classmethod
    def from_settings(cls, settings: Settings, segmenter: Segmenter | None = None) -> Predictor:
        segmenter = segmenter or load_configured_segmenter(settings)
        shared = RedisCache(settings.redis_url, settings.redis_cache_ttl) if settings.redis_url else None
        cache = EmbeddingCache(MemoryCache(settings.cache_bytes), shared)
        return cls(segmenter, cache, ImageSource.from_settings(settings), settings.request_timeout)

    @property
    def source(self) -> ImageSource:
        return self._source

    @source.setter
    def source(self, source: ImageSource) -> None:
        """A new source (Label Studio's address or token from /setup): a reference such as
        /data/upload/1/a.jpg may now name another server's image, so what was remembered
        of references is forgotten (the embeddings stay, keyed by content)."""
        with self._ref_lock:
            moved = source.label_studio_url != self._source.label_studio_url
            self._source = source
            if moved:  # a new token for the same server (each /setup sends one) names the same images
                self._source_generation += 1
                self._ref_keys.clear()
                self._odd_sizes.clear()

    @property
    def version(self) -> str:
        return self.segmenter.version

    def embedding(
        self, ref: str, task_id: int | None = None, timeout: float | None = None
    ) -> tuple[Embedding, bool]:
        """The embedding of the image at ``ref`` and whether it was already cached.

        With ``timeout``, waits at most that many seconds, then raises ``TimedOut``; the
        fetch and the encoder go on in the background, so asking again later is fast."""
        with self._ref_lock:
            known = self._ref_keys.get(ref)
        if known is not None and self._still_names(ref, *known[1:]):
            found = self.cache.peek(known[0])
            if found is not None:
                return found, True
        if timeout is None:
            return self._fetch_and_embed(ref, task_id)
        future = self._clicks.submit(self._fetch_and_embed, ref, task_id)
        try:
            return future.result(timeout=timeout)
        except FutureTimeout:
            if future.cancel():  # never started: drop it rather than pile up a backlog
                raise TimedOut(
                    f"the backend is busy: this frame waited {timeout:g} s (SAMVID_REQUEST_TIMEOUT) "
                    "for the encoder; click again, or run more workers"
                ) from None
            raise TimedOut(
                f"this frame took longer than {timeout:g} s to fetch and embed "
                "(SAMVID_REQUEST_TIMEOUT); it is still being computed, so click again in a "
                "moment, or raise the limit, or use a GPU or a smaller model"
            ) from None

    def _still_names(self, ref: str, stamp: tuple[int, int] | None, read_at: float) -> bool:
        """Whether what ``ref`` named when read (its file's ``stamp``, at ``read_at``) is
        what it names now."""
        if stamp is None and time.monotonic() - read_at >= HTTP_REF_SECONDS:
            return False
        return stamp == self.source.stamp(ref)

    def _fetch_and_embed(self, ref: str, task_id: int | None) -> tuple[Embedding, bool]:
        with self._ref_lock:
            source, generation = self._source, self._source_generation
        stamp = source.stamp(ref)  # before reading: a change during the read shows next time
        data = source.fetch(ref, task_id)
        key = content_key(self.segmenter.cache_key(), data)
        if len(ref) <= MAX_REMEMBERED_REF:
            with self._ref_lock:
                if generation == self._source_generation:  # else fetched from the former source
                    if len(self._ref_keys) > 100_000:  # bound it; a miss only costs a re-fetch
                        self._ref_keys.clear()
                    self._ref_keys[ref] = (key, stamp, time.monotonic())
        return self.cache.lookup(key, lambda: self.segmenter.embed(source.decode(data)))

    def predict(
        self, ref: str, prompt: Prompt, size: tuple[int, int] | None = None, task_id: int | None = None
    ) -> Timed:
        """Mask for ``prompt``; ``size`` (width, height) is the size the prompt was made on,
        and the mask's (that of the image Label Studio shows)."""
        start = time.perf_counter()
        emb, cached = self.embedding(ref, task_id, timeout=self.request_timeout)
        h, w = emb.image_size
        if size is not None and size != (w, h) and cached:
            # The annotator sees an image of another size than the one this reference held
            # when it was embedded: its file was replaced (a frame extracted again). Read it
            # again rather than segment the old picture (or refuse the click for its size);
            # once per size, as a size that stays odd is no replacement.
            with self._ref_lock:
                again = self._odd_sizes.get(ref) != size
                if again:
                    self._ref_keys.pop(ref, None)
                    if len(self._odd_sizes) > 100_000:
                        self._odd_sizes.clear()
                    self._odd_sizes[ref] = size
            if again:
                emb, cached = self.embedding(ref, task_id, timeout=self.request_timeout)
                h, w = emb.image_size
        if size is not None and size != (w, h):
            prompt = _rescale(prompt, size, (w, h))
        prompt.validate_inside(w, h)
        prediction = self.segmenter.segment(emb, prompt.clipped(w, h))
        if size is not None and size != (w, h):
            # Label Studio decodes a brush into the image it shows, of the size it sent: a
            # mask of the size read here would wrap its rows there, away from the click.
            prediction = MaskPrediction(_resized(prediction.mask, size), prediction.score)
        return Timed(prediction, cached, time.perf_counter() - start)

    def precompute(self, ref: str, task_id: int | None = None) -> Future:
        """Embed in the background so the annotator's first click is fast."""

        def run() -> None:
            try:
                self.embedding(ref, task_id)
            except Exception as exc:  # noqa: BLE001 - background work must not die loudly
                log.info("precompute of %s failed: %s", ref[:120], exc)

        future = self._background.submit(run)
        with self._ref_lock:
            self._warming.append(future)
            while len(self._warming) > PRECOMPUTE_BACKLOG:
                self._warming.popleft().cancel()  # a no-op on one begun or done
        return future


def _rescale(prompt: Prompt, src: tuple[int, int], dst: tuple[int, int]) -> Prompt:
    """Map a prompt made on a ``src``-sized image onto the decoded ``dst`` size."""
    sx, sy = dst[0] / src[0], dst[1] / src[1]
    if abs(sx - sy) > 0.02 * max(sx, sy):
        raise PromptError(
            f"the task's image is {dst[0]}x{dst[1]} but the prompt was made on {src[0]}x{src[1]}"
        )
    # x * dst / src, not x * (dst / src): a click on the edge (x == src) lands exactly on
    # the edge, not a rounding error past it (which the size check would then refuse).
    def to_x(x: float) -> float:
        return x * dst[0] / src[0]

    def to_y(y: float) -> float:
        return y * dst[1] / src[1]

    points = tuple((to_x(x), to_y(y)) for x, y in prompt.points)
    box = None if prompt.box is None else (
        to_x(prompt.box[0]), to_y(prompt.box[1]), to_x(prompt.box[2]), to_y(prompt.box[3])
    )
    return Prompt(points, prompt.labels, box, prompt.meta)


def _resized(mask: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``mask`` brought to ``size`` (width, height), each pixel taking the nearest one's value."""
    return cv2.resize(mask.astype(np.uint8), size, interpolation=cv2.INTER_NEAREST).astype(bool)


def load_configured_segmenter(settings: Settings) -> Segmenter:
    """The configured model, or the fallback with a warning when it has no weights."""
    from samvid.models import load_segmenter

    try:
        return load_segmenter(
            settings.model, device=settings.device, random_weights=settings.random_weights,
            precision=settings.precision,
        )
    except ModelUnavailable as exc:
        if not settings.fallback:
            raise
        log.warning("%s -- falling back to %r", exc.message, settings.fallback)
        return load_segmenter(settings.fallback, device=settings.device)
