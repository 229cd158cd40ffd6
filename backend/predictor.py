"""The owner of the model, the embedding cache and the image source.

The HTTP layer hands it an image reference and a prompt; it fetches the image,
finds or computes the embedding and runs the decoder. Nothing here knows
Label Studio's JSON.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass

from samvid.core.prompts import Prompt
from samvid.core.segmenter import Embedding, MaskPrediction, Segmenter
from samvid.embeddings import EmbeddingCache, MemoryCache, RedisCache, content_key
from samvid.errors import ModelUnavailable, PromptError, TimedOut
from samvid.images import FileStamp, ImageSource
from samvid.redact import ref_for_log
from samvid.settings import Settings

log = logging.getLogger(__name__)

# A reference longer than this (a data: URI: the image itself) is not remembered: hashing
# it again costs less than holding megabytes per frame clicked.
MAX_REMEMBERED_REF = 4096
# A remembered reference longer than this is held as its digest: 100,000 signed cloud links
# of 4 KB each held 418 MiB outside SAMVID_CACHE_BYTES; digests keep the map near 40 MiB.
LONG_REF = 200


def _remembered(ref: str) -> str:
    """What ``ref`` is remembered under in the reference maps."""
    return ref if len(ref) <= LONG_REF else hashlib.blake2b(ref.encode(), digest_size=16).hexdigest()
# How long a warm-up of an opened task may wait for the encoder before it is dropped.
# Warm-ups run newest first (the frame an annotator has just opened is the one about to
# be clicked, whoever opened it), so tasks opened faster than they embed (an annotator
# pressing "next", several annotators) queue behind the newest; one not begun within
# 10 s is for a task left behind, or one whose first click (which embeds on its own)
# has come already: running it would only hold the encoder (and SAM's decoder, which
# shares its lock) while frames now open are clicked. 10 s is 10-20 encoder runs of a
# GPU: what annotators opening tasks at once still get warmed. The newest is run however
# long it waited: one CPU encoder run of SAM ViT-L or H alone outlasts the limit.
PRECOMPUTE_MAX_WAIT = 10.0
# How long an image fetched over HTTP (no file stamp tells whether it changed) is taken to
# be what it was: a frame extracted again under the same name and size (cloud storage,
# a Label Studio on another machine) was segmented as the old picture until a restart.
# After that, a click is still answered from the cached embedding at once, and the image
# is read again in the background (a download and a hash, once a minute per frame being
# clicked; the embedding is found by content, so an unchanged frame is not encoded
# again): a replaced picture is segmented from the click after that read.
HTTP_REF_SECONDS = 60.0
MAX_RECHECKS = 2  # HTTP images read again at once


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
        # downloads nor hashes it again, unless its file changed since (over HTTP, it is
        # read again in the background after a while: see HTTP_REF_SECONDS).
        self._ref_keys: dict[str, tuple[str, FileStamp | None, float]] = {}
        self._ref_keys_cleared = float("-inf")  # when the map above was last emptied to bound it
        self._ref_lock = threading.Lock()
        # Bumped when the source is replaced: a fetch begun before must not record its key.
        self._source_generation = 0
        # The sizes Label Studio reported for a reference that were not its image's after a
        # read again: a size that stays so is no replaced file, read again on every click.
        self._odd_sizes: dict[str, tuple[int, int]] = {}
        # One encoder thread warms opened tasks, newest first (see PRECOMPUTE_MAX_WAIT):
        # each precompute adds a warm-up here and one turn of the thread, which runs the
        # newest warm-up still waiting.
        self._background = ThreadPoolExecutor(max_workers=1, thread_name_prefix="samvid-embed")
        self._warmups: list[_Warmup] = []  # oldest first
        self._latest_warmup: _Warmup | None = None  # the task opened last: warmed however long it waits
        # HTTP images being read again (HTTP_REF_SECONDS), off the click and the encoder
        # thread: a slow Label Studio delays neither a click nor a warm-up.
        self._rechecking: set[str] = set()
        # Clicks fetch and embed here, so a request can give up waiting while the work
        # goes on and fills the cache; it also bounds how many encoders run at once.
        self._clicks = ThreadPoolExecutor(max_workers=4, thread_name_prefix="samvid-click")

    @classmethod
    def from_settings(cls, settings: Settings, segmenter: Segmenter | None = None) -> Predictor:
        segmenter = segmenter or load_configured_segmenter(settings)[0]
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
            known = self._ref_keys.get(_remembered(ref))
        if known is not None and known[1] == self.source.stamp(ref):
            found = self.cache.peek(known[0])
            if found is not None:
                if known[1] is None and time.monotonic() - known[2] >= HTTP_REF_SECONDS:
                    self._recheck_later(ref, task_id)
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

    def _recheck_later(self, ref: str, task_id: int | None) -> None:
        """Read the HTTP image ``ref`` again in the background, so a picture replaced under
        its name is segmented from the next click on; once at a time per reference. A
        ``data:`` URI holds its image: it cannot name another."""
        if _is_data_uri(ref):
            return
        with self._ref_lock:
            if ref in self._rechecking or len(self._rechecking) >= MAX_RECHECKS:
                return  # the next click on it after HTTP_REF_SECONDS asks again
            self._rechecking.add(ref)

        def run() -> None:
            try:
                self._read(ref, task_id)
            except Exception as exc:  # noqa: BLE001 - the cached embedding stays in use
                log.info("reading %s again failed, its cached embedding stays in use: %s", ref_for_log(ref), exc)
            finally:
                with self._ref_lock:
                    self._rechecking.discard(ref)

        # A daemon thread, not a pool's: reads queued in a pool ran at exit, each up to a
        # fetch's timeout with Label Studio away, and held a stopping server for as long.
        threading.Thread(target=run, name="samvid-recheck", daemon=True).start()

    def _read(self, ref: str, task_id: int | None) -> tuple[ImageSource, bytes, str]:
        """Fetch ``ref``: the source it came from, its bytes and their content key, which is
        remembered as what ``ref`` names."""
        with self._ref_lock:
            source, generation = self._source, self._source_generation
        started = time.monotonic()
        stamp = source.stamp(ref)  # before reading: a change during the read shows next time
        data = source.fetch(ref, task_id)
        key = content_key(self.segmenter.cache_key(), data)
        if len(ref) <= MAX_REMEMBERED_REF:
            with self._ref_lock:
                known = self._ref_keys.get(_remembered(ref))
                # Not over a read begun later (a slow background read, finished after a click's
                # read of the picture that replaced it; or forgotten since, when the map was
                # cleared), nor one of the former source.
                later = known[2] > started if known is not None else self._ref_keys_cleared > started
                if generation == self._source_generation and not later:
                    if len(self._ref_keys) > 100_000:  # bound it; a miss only costs a re-fetch
                        self._ref_keys.clear()
                        self._ref_keys_cleared = time.monotonic()
                    self._ref_keys[_remembered(ref)] = (key, stamp, started)
        return source, data, key

    def _fetch_and_embed(self, ref: str, task_id: int | None) -> tuple[Embedding, bool]:
        source, data, key = self._read(ref, task_id)
        return self.cache.lookup(key, lambda: self.segmenter.embed(source.decode(data)))

    def predict(
        self, ref: str, prompt: Prompt, size: tuple[int, int] | None = None, task_id: int | None = None
    ) -> Timed:
        """Mask for ``prompt``, at the size of the image read; ``size`` (width, height) is
        the size the prompt was made on."""
        start = time.perf_counter()
        emb, cached = self.embedding(ref, task_id, timeout=self.request_timeout)
        h, w = emb.image_size
        if size is not None and size != (w, h) and cached:
            # The annotator sees an image of another size than the one this reference held
            # when it was embedded: its file was replaced (a frame extracted again). Read it
            # again rather than segment the old picture (or refuse the click for its size);
            # once per size, as a size that stays odd is no replacement.
            with self._ref_lock:
                again = self._odd_sizes.get(_remembered(ref)) != size
                if again:
                    self._ref_keys.pop(_remembered(ref), None)
                    if len(self._odd_sizes) > 100_000:
                        self._odd_sizes.clear()
                    self._odd_sizes[_remembered(ref)] = size
            if again:
                emb, cached = self.embedding(ref, task_id, timeout=self.request_timeout)
                h, w = emb.image_size
        if size is not None and size != (w, h):
            prompt = _rescale(prompt, size, (w, h))
        prompt.validate_inside(w, h)
        prediction = self.segmenter.segment(emb, prompt.clipped(w, h))
        return Timed(prediction, cached, time.perf_counter() - start)

    def precompute(self, ref: str, task_id: int | None = None) -> Future:
        """Embed in the background so the annotator's first click is fast. The future is
        done (None) once the frame is warmed or its warm-up failed, and cancelled when the
        warm-up is dropped (it waited over PRECOMPUTE_MAX_WAIT)."""
        warmup = _Warmup(ref, task_id, Future(), time.monotonic())
        with self._ref_lock:
            self._warmups.append(warmup)
            self._latest_warmup = warmup
        self._background.submit(self._warm_newest)
        return warmup.future

    def _warm_newest(self) -> None:
        """One turn of the encoder thread: drop the warm-ups that waited too long, except
        that of the task opened last, and run the newest of the others."""
        with self._ref_lock:
            now = time.monotonic()
            stale = [w for w in self._warmups
                     if w is not self._latest_warmup and now - w.queued_at > PRECOMPUTE_MAX_WAIT]
            self._warmups = [w for w in self._warmups if w not in stale]
            newest = self._warmups.pop() if self._warmups else None
        for dropped in stale:
            log.debug("warm-up of %s dropped: it waited over %g s", ref_for_log(dropped.ref), PRECOMPUTE_MAX_WAIT)
            dropped.future.cancel()
            dropped.future.set_running_or_notify_cancel()  # as an executor does: wait() sees it done
        if newest is None or not newest.future.set_running_or_notify_cancel():
            return
        try:
            self.embedding(newest.ref, newest.task_id)
        except Exception as exc:  # noqa: BLE001 - background work must not die loudly
            log.info("precompute of %s failed: %s", ref_for_log(newest.ref), exc)
        newest.future.set_result(None)


@dataclass(frozen=True)
class _Warmup:
    """An opened task's frame waiting to be embedded (``Predictor.precompute``)."""

    ref: str
    task_id: int | None
    future: Future
    queued_at: float


def _is_data_uri(ref: str) -> bool:
    return ref[:5].lower() == "data:"


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


@dataclass(frozen=True)
class ModelNamed:
    """Where the user set the model and the fallback, for what a failed load says. The loader
    names the model alone: a typo in a SAMVID_MODEL exported long ago read as if samvid had
    made it up. A setting the caller does not take is never named: a worker told to run with
    the ``--fallback`` it ran with was sent to a flag it has no use for. Empty: not known."""

    model: str = ""  # where the model was given ("--model", "SAMVID_MODEL"): what is said starts with it
    folder: str = ""  # where a folder of pulled weights is given (serve: --model, however the model was set)
    fallback: str = ""  # where the fallback was given ("--fallback", "SAMVID_FALLBACK")


def load_configured_segmenter(settings: Settings, named: ModelNamed = ModelNamed()) -> tuple[Segmenter, Settings]:
    """The configured model, or the fallback with a warning when it is unavailable, and the
    settings it was loaded by: a fallback's are the fallback's (several workers, each loading
    its own from the settings, would otherwise ask the hub again). With no fallback, the
    model's error: its own, or said anew with the settings ``named`` knows."""
    from samvid.models import load_segmenter
    from samvid.models.sam import WeightsUnavailable

    try:
        segmenter = load_segmenter(settings.model, device=settings.device, random_weights=settings.random_weights,
                                   precision=settings.precision)
        return segmenter, settings
    except ModelUnavailable as exc:
        if not settings.fallback and not named.folder:
            raise  # its own advice (point SAMVID_MODEL at a folder, or --fallback classic)
        model, folder = settings.model, named.folder or "the model"
        weightless = isinstance(exc, WeightsUnavailable)
        # A model without weights ends its message in advice this replaces: its reason alone.
        reason = exc.reason if isinstance(exc, WeightsUnavailable) else exc.message
        if not settings.fallback:
            message = (f"{reason}. Fetch them on a connected machine with `samvid models pull {model}` and give "
                       f"their folder as {folder}, or run with --fallback classic (SAMVID_FALLBACK=classic) to "
                       "use the weight-free segmenter") if weightless else reason
            raise ModelUnavailable(f"{named.model}: {message}" if named.model else message) from None
        asks = f" as {named.fallback} asks" if named.fallback else ", the fallback model"
        message = f"{reason}; falling back to {settings.fallback!r}{asks}"
        if weightless:
            message += f" (for {model}, fetch its weights with `samvid models pull {model}` and give their " \
                       f"folder as {folder})"
        log.warning("%s", f"{named.model}: {message}" if named.model else message)
    # What fails now is the fallback, said as such.
    fallen = dataclasses.replace(settings, model=settings.fallback, fallback="")
    return load_segmenter(fallen.model, device=fallen.device), fallen
