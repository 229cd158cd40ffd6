"""One samvid prediction per frame: whoever writes a frame holds its lock, and every
writer of one Label Studio (the backend's jobs, a batch, the CLI) takes the same lock."""

from __future__ import annotations

import threading
import time

import pytest

from samvid.propagation import propagator_for
from samvid.settings import Settings
from samvid.studio.client import Studio
from samvid.studio.frame_locks import FrameLocks

STUDIO = "http://127.0.0.1:9"  # never called: only the lock's namespace comes from it


def waits_for(held: FrameLocks, other: FrameLocks, task_id: int) -> float:
    """Seconds ``other`` waited for ``task_id`` while ``held`` kept it for 0.5 s."""
    taken = threading.Event()
    waited: list[float] = []

    def second() -> None:
        taken.wait()
        start = time.monotonic()
        with other.hold(task_id):
            waited.append(time.monotonic() - start)

    thread = threading.Thread(target=second)
    thread.start()
    with held.hold(task_id):
        taken.set()
        time.sleep(0.5)
    thread.join(10)
    return waited[0]


@pytest.mark.redis
def test_a_batch_or_cli_propagation_takes_the_backends_frame_lock_when_redis_is_configured(redis_server):
    settings = Settings.from_env({}, label_studio_url=STUDIO, redis_url=redis_server.url)
    batch = propagator_for(Studio(STUDIO, "token"), settings).locks
    backend = FrameLocks(STUDIO, redis_server.url)  # as `samvid serve` and `samvid worker` take it
    assert waits_for(batch, backend, 42) > 0.3
    assert waits_for(backend, batch, 42) > 0.3


def test_without_redis_writers_on_one_machine_share_a_frame_lock():
    settings = Settings.from_env({}, label_studio_url=STUDIO)
    assert waits_for(propagator_for(Studio(STUDIO, "token"), settings).locks, FrameLocks(STUDIO), 7) > 0.3
