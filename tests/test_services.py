"""The test services themselves start, answer and authenticate."""

import redis


def test_label_studio_accepts_the_api_token(label_studio):
    client = label_studio.client()
    project = client.projects.create(title="smoke", label_config="<View><Image name='image' value='$image'/></View>")
    assert project.id > 0


def test_redis_server_answers(redis_server):
    assert redis.Redis.from_url(redis_server.url).ping()
