"""Settings samvid cannot use stop it at start, naming the variable and what to give:
never accepted and failing later, far from the cause (a request, a background job)."""

from __future__ import annotations

import logging

import pytest

from samvid.errors import ConfigError
from samvid.settings import Settings


@pytest.mark.parametrize("var", ["SAMVID_REQUEST_TIMEOUT", "SAMVID_FETCH_TIMEOUT"])
@pytest.mark.parametrize("value", ["inf", "-inf", "nan", "0"])
def test_infinite_timeouts_are_a_config_error(var, value):
    with pytest.raises(ConfigError, match=var):
        Settings.from_env({var: value})


@pytest.mark.parametrize("env, expected", [
    ({"SAMVID_PRECOMPUTE": "flase"}, "SAMVID_PRECOMPUTE='flase' is not a valid bool; give one of 1, true"),
    ({"SAMVID_AUTO": "enable"}, "SAMVID_AUTO='enable' is not a valid bool"),
    ({"SAMVID_PROPAGATE_BRIDGE": "2"}, "SAMVID_PROPAGATE_BRIDGE='2' is not a valid bool"),
    ({"SAMVID_PROPAGATE_DIRECTION": "sideways"}, "SAMVID_PROPAGATE_DIRECTION='sideways' is not a direction; "
                                                 "give one of forward, backward, both"),
    ({"SAMVID_PROPAGATE_FRAMES": "-5"}, "SAMVID_PROPAGATE_FRAMES must be 0"),
    ({"SAMVID_AUTO_GRID": "0"}, "SAMVID_AUTO_GRID must be a number of clicks per side from 1 to 64"),
    ({"SAMVID_AUTO_GRID": "1000"}, "SAMVID_AUTO_GRID must be a number of clicks per side from 1 to 64"),
    ({"SAMVID_MAX_REQUEST_BYTES": "-1"}, "SAMVID_MAX_REQUEST_BYTES must be a number of bytes above 0"),
    ({"SAMVID_MAX_REQUEST_BYTES": "0"}, "SAMVID_MAX_REQUEST_BYTES must be a number of bytes above 0"),
    ({"SAMVID_AUTH_USER": "team:ml", "SAMVID_AUTH_PASSWORD": "pw"}, "SAMVID_AUTH_USER must not contain ':'"),
    ({"LABEL_STUDIO_URL": "label-studio:8080"}, "LABEL_STUDIO_URL='label-studio:8080' is not usable: "
                                                "give an http:// or https:// URL"),
    ({"LABEL_STUDIO_URL": "localhost"}, "LABEL_STUDIO_URL='localhost' is not usable"),
    ({"LABEL_STUDIO_URL": "http://ls:99999"}, "LABEL_STUDIO_URL='http://ls:99999' is not usable"),
    ({"SAMVID_LOG_LEVEL": "LOUD"}, "SAMVID_LOG_LEVEL='LOUD' is not a log level; give one of DEBUG, INFO"),
    ({"REDIS_URL": "localhost:6379"}, "REDIS_URL='localhost:6379' (or samvid worker --redis-url) must start with "
                                      "redis://, rediss:// or unix:// (e.g. redis://localhost:6379/0)"),
], ids=lambda v: "-".join(f"{k}={x}" for k, x in v.items()) if isinstance(v, dict) else "")
def test_invalid_settings_are_config_errors_naming_the_variable(env, expected):
    with pytest.raises(ConfigError) as raised:
        Settings.from_env(env)
    assert raised.value.message.startswith(expected), raised.value.message


@pytest.mark.parametrize("word, on", [("1", True), ("true", True), ("Yes", True), (" on ", True),
                                      ("0", False), ("false", False), ("NO", False), ("off", False)])
def test_on_off_variables_take_the_usual_words_both_ways(word, on):
    assert Settings.from_env({"SAMVID_AUTO": word}).auto is on


def test_the_valid_settings_still_start():
    settings = Settings.from_env({"LABEL_STUDIO_URL": "https://ls.example/studio", "SAMVID_AUTO_GRID": "32",
                                  "SAMVID_PROPAGATE_DIRECTION": "both", "SAMVID_LOG_LEVEL": "debug"})
    assert (settings.auto_grid, settings.propagate_direction) == (32, "both")


@pytest.mark.parametrize("url", ["redis://localhost:6379/0", "rediss://:pw@redis.example:6380", "unix:///run/redis.sock"])
def test_each_redis_url_scheme_redis_takes_is_accepted(url):
    assert Settings.from_env({"REDIS_URL": url}).redis_url == url


def test_the_log_level_is_applied_by_the_cli(monkeypatch):
    from samvid import cli
    from samvid.commands import models

    configured: dict[str, object] = {}
    monkeypatch.setattr(logging, "basicConfig", lambda **kw: configured.update(kw))
    monkeypatch.setattr(models, "run", lambda args: 0)
    monkeypatch.setenv("SAMVID_LOG_LEVEL", "warning")
    assert cli.main(["models", "list"]) == 0
    assert configured["level"] == logging.WARNING
    assert cli.main(["-v", "models", "list"]) == 0  # -v wins
    assert configured["level"] == logging.DEBUG


def test_an_unusable_log_level_stops_the_cli_naming_it(monkeypatch, capsys):
    from samvid import cli
    from samvid.commands import models

    monkeypatch.setattr(logging, "basicConfig", lambda **kw: None)
    monkeypatch.setattr(models, "run", lambda args: 0)
    monkeypatch.setenv("SAMVID_LOG_LEVEL", "LOUD")
    assert cli.main(["models", "list"]) == 2
    assert "SAMVID_LOG_LEVEL" in capsys.readouterr().err
