"""The test services themselves start, answer and authenticate."""

from pathlib import Path

import redis
from services import Redis


def test_label_studio_accepts_the_api_token(label_studio):
    client = label_studio.client()
    project = client.projects.create(title="smoke", label_config="<View><Image name='image' value='$image'/></View>")
    assert project.id > 0


def test_redis_server_answers(redis_server):
    assert redis.Redis.from_url(redis_server.url).ping()


def test_a_redis_whose_port_another_redis_holds_starts_on_another_port_and_answers_itself(
        tmp_path: Path) -> None:
    """Two suites on one machine: the port picked was taken before redis-server bound it.
    The other server answered the ping, and the test froze or stopped a server it never used."""
    other = Redis(root=tmp_path / "other").start()
    mine = Redis(root=tmp_path / "mine", port=other.port)
    try:
        mine.start()
        assert mine.port != other.port
        assert redis.Redis.from_url(mine.url).info("server")["process_id"] == mine.proc.pid
    finally:
        mine.stop()
        other.stop()
