"""Settings samvid cannot use stop it at start, naming the variable and what to give:
never accepted and failing later, far from the cause (a request, a background job)."""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path

import pytest

import samvid
from samvid.errors import ConfigError
from samvid.redact import redis_url_for_messages
from samvid.settings import Settings, named_as_typed


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
    ({"SAMVID_PROPAGATE_FRAMES": "200000"}, "SAMVID_PROPAGATE_FRAMES must be 0 (up to the next human frame) "
                                            "or a number of frames from 1 to 100000, not 200000"),
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


@pytest.mark.parametrize("frames", [0, 1, 100000, 100001])
def test_samvid_propagate_frames_is_accepted_at_start_exactly_when_a_propagation_request_takes_it(frames):
    """A value accepted at start but refused by every request failed each submit's job with
    a 400 naming 'frames', not the variable."""
    from samvid.errors import BadRequest
    from samvid.propagation.request import PropagationRequest

    try:
        Settings.from_env({"SAMVID_PROPAGATE_FRAMES": str(frames)})
        at_start = True
    except ConfigError:
        at_start = False
    try:
        PropagationRequest.from_payload({"project": 1, "clip": "c", "frame": 0, "frames": frames})
        by_request = True
    except BadRequest:
        by_request = False
    assert at_start == by_request == (frames <= 100000)


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


@pytest.mark.parametrize("url", ["redis://localhost:6379/l", "redis://localhost:6379/1a", "redis://:s3cret@redis:6379/abc",
                                 "redis://localhost:6379/1/2", "rediss://redis:6380/x",
                                 "redis://localhost:6379/0?db=one", "unix:///run/redis.sock?db=a",
                                 "redis://localhost:6379/1?db=2"])
def test_a_redis_url_whose_database_is_no_number_is_refused_at_start(url):
    """redis-py read /l or /1a as database 0 and /1/2 as 12: a mistyped number shared
    another deployment's database without a word."""
    with pytest.raises(ConfigError, match=r"REDIS_URL=.* \(or samvid worker --redis-url\) is not usable: ") as raised:
        Settings.from_env({"REDIS_URL": url})
    assert "database number" in raised.value.message or "give one" in raised.value.message
    assert "s3cret" not in raised.value.message


@pytest.mark.parametrize("url", ["redis://localhost:6379", "redis://localhost:6379/15", "rediss://:pw@redis:6380/2",
                                 "redis://localhost:6379/3?db=3", "unix:///run/redis.sock?db=2",
                                 "unix:///tmp/my%20redis/r.sock", "redis://localhost:6379?db=4",
                                 "redis://localhost:6379/", "redis://localhost:6379/?db=2",
                                 "redis://localhost:6379/0/", "redis://localhost:6379/%31", "redis://localhost:6379/1?db=",
                                 "redis://localhost:6379/0?socket_timeout=2.5", "rediss://redis:6380/0?ssl_cert_reqs=none",
                                 "redis://[::1]:6379/0"])
def test_a_redis_url_with_a_database_number_or_none_is_taken(url):
    assert Settings.from_env({"REDIS_URL": url}).redis_url == url


@pytest.mark.parametrize("url, shown, wrong", [
    ("redis://127.0.0.1:99999", None, "Port out of range 0-65535"),
    ("redis://127.0.0.1:abc", None, "'abc'"),
    ("redis://127.0.0.1:-1", None, "'-1'"),
    ("redis://[::1", None, "Invalid IPv6 URL"),
    # A known option's value is shown; an unknown key's is not (a misspelt ?passwd= holds a password).
    ("redis://127.0.0.1:6379?socket_timeout=x", None, "'socket_timeout'"),
    ("redis://127.0.0.1:6379/0?max_connections=-1", None,
     "max_connections"),
    ("redis://127.0.0.1:6379/0?sockettimeout=5", "redis://127.0.0.1:6379/0?sockettimeout=***",
     "?sockettimeout= is no option redis-py takes"),
    ("redis://127.0.0.1:6379/0?passwd=hunter2", "redis://127.0.0.1:6379/0?passwd=***",
     "?passwd= is no option redis-py takes"),
    # redis-py 5.2 fails on it with an UnboundLocalError: a line, not a traceback.
    ("redis://127.0.0.1:6379/0?protocol=RESP3", None, "check the value of each ?option"),
    ("redis://:se[cr@127.0.0.1:6379/0", "(a malformed REDIS_URL)", "write them %5B and %5D"),
])
def test_a_redis_url_redis_py_cannot_read_is_refused_at_start_saying_what_is_wrong(url, shown, wrong):
    """redis-py reads a URL only as it first connects: its bare ValueError was a traceback
    part-way through the start of samvid worker and samvid serve."""
    with pytest.raises(ConfigError) as raised:
        Settings.from_env({"REDIS_URL": url})
    message = raised.value.message
    assert message.startswith(f"REDIS_URL={shown or url!r} (or samvid worker --redis-url) is not usable: "), message
    assert wrong in message and "hunter2" not in message and "se[cr" not in message


@pytest.mark.parametrize("url", ["redis://:s3cret@127.0.0.1:99999/0", "redis://:s3cret@[::1/0",
                                 "redis://127.0.0.1:6379/0?password=s3cret&socket_timeout=x"])
def test_a_redis_url_redis_py_cannot_read_is_refused_without_showing_its_password(url):
    with pytest.raises(ConfigError, match="is not usable: redis-py cannot read it") as raised:
        Settings.from_env({"REDIS_URL": url})
    assert "s3cret" not in raised.value.message


@pytest.mark.parametrize("command", [["worker", "--burst"], ["serve", "--model", "classic", "--dev"]])
def test_each_command_reading_redis_url_refuses_one_redis_py_cannot_read_in_a_line(command, monkeypatch, capsys):
    from samvid.cli import main

    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:99999")
    assert main(command) == 2
    err = capsys.readouterr().err
    assert "REDIS_URL='redis://127.0.0.1:99999' (or samvid worker --redis-url) is not usable" in err
    assert "Port out of range 0-65535" in err and "Traceback" not in err


@pytest.mark.parametrize("url", ["rediss://default:Xk9/aB3+qZ=@cache.example.net:6380/0",
                                 "redis://:qq?zz@redis:6379/0", "redis://:ww#yy@redis:6379/0",
                                 # The "@" in a query value, as read: the host part is no host.
                                 "redis://user:aB3?zz=1@host", "redis://:qq?x=y@host:6379/0",
                                 "redis://:ww/e?t=u@host", "redis://:yy@zz/aB3@host:6379/0",
                                 "unix://:qq/zz@/run/redis.sock", "unix://:yy@zz/aB3@/run/redis.sock",
                                 "redis://user:77?db=aB3@host"])
def test_a_redis_password_with_an_unencoded_slash_is_refused_without_showing_it(url):
    # Base64 access keys hold "/": the URL's host part ended there, and the message read
    # the rest of the password as a path to fix (and showed it).
    with pytest.raises(ConfigError, match="percent-encode them in the password") as raised:
        Settings.from_env({"REDIS_URL": url})
    assert not any(secret in raised.value.message for secret in ("aB3", "Xk9", "qq", "zz", "ww", "yy"))


@pytest.mark.parametrize("url", ["redis://host:6379/0?username=a@b&password=S3cret",
                                 "redis://host:6379/0?password=S3cr@et", "redis://host:6379/0?client_name=me@box",
                                 "unix:///tmp/redis.sock?password=S3cr@et", "redis://host:6379/0?pass%77ord=S3cret",
                                 "unix:///run/redis@main/redis.sock", "redis:///0?client_name=me@box",
                                 "rediss://[::1]:6380?client_name=me@box", "unix://localhost/tmp/a@b.sock",
                                 "redis://:6379/0?client_name=me@box"])
def test_an_at_sign_in_a_redis_query_value_is_taken_and_a_query_password_never_shown(url):
    # An "@" anywhere was taken for the end of an unencoded password: refused, and shown.
    assert Settings.from_env({"REDIS_URL": url}).redis_url == url
    assert "S3cr" not in redis_url_for_messages(url)


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


@pytest.mark.parametrize("var, value", [
    ("SAMVID_MAX_IMAGE_BYTES", "0"), ("SAMVID_MAX_IMAGE_PIXELS", "-1"), ("SAMVID_MAX_VIDEO_BYTES", "0"),
    ("SAMVID_MAX_VIDEO_PIXELS", "-5"), ("SAMVID_MAX_VIDEO_SECONDS", "-1"), ("SAMVID_MAX_VIDEO_SECONDS", "nan"),
    ("SAMVID_REDIS_CACHE_TTL", "0"),
])
def test_limits_at_or_below_zero_are_config_errors_naming_the_variable(var, value):
    """A limit of 0 refuses every image or video (or every cache write), a NaN one refuses none."""
    with pytest.raises(ConfigError) as raised:
        Settings.from_env({var: value})
    assert raised.value.message.startswith(f"{var} must be a number of "), raised.value.message
    assert "above 0" in raised.value.message


def test_a_negative_cache_size_is_a_config_error_and_zero_turns_the_cache_off():
    with pytest.raises(ConfigError, match="SAMVID_CACHE_BYTES=-1 is not usable: give 0"):
        Settings.from_env({"SAMVID_CACHE_BYTES": "-1"})
    assert Settings.from_env({"SAMVID_CACHE_BYTES": "0"}).cache_bytes == 0


@pytest.mark.parametrize("device", ["gpu", "cuda:x", "cuda0", "tpu", "cuda:01", "mps:1", "cpu:01"])
def test_an_unknown_device_is_a_config_error_naming_the_choices(device):
    with pytest.raises(ConfigError) as raised:
        Settings.from_env({"SAMVID_DEVICE": device})
    assert raised.value.message == (f"SAMVID_DEVICE={device!r} is not a device; "
                                    "give one of auto, cpu, cuda, cuda:N or mps")


@pytest.mark.parametrize("device", ["cpu:0", "mps:0", "cuda:0", "cuda:12"])
def test_a_device_spelled_as_torch_takes_it_is_a_setting(device):
    # cpu:0 passed the model loader and was refused here, by every command.
    assert Settings.from_env({"SAMVID_DEVICE": device}).device == device


def test_word_settings_are_read_in_any_case():
    settings = Settings.from_env({"SAMVID_DEVICE": "CUDA:1", "SAMVID_PROPAGATE_DIRECTION": "Both",
                                  "SAMVID_PRECISION": "FP32", "SAMVID_FALLBACK": " Classic"})
    assert (settings.device, settings.propagate_direction, settings.precision, settings.fallback) == (
        "cuda:1", "both", "fp32", "classic")


def test_a_fallback_that_needs_weights_is_refused_at_start():
    """The fallback is only loaded when the model has no weights: a typo there would surface
    on the day the weights go missing, as a second failed download."""
    with pytest.raises(ConfigError, match="SAMVID_FALLBACK='clasic' is not a weight-free model; give one of classic, standin"):
        Settings.from_env({"SAMVID_FALLBACK": "clasic"})


@pytest.mark.parametrize("var", ["SAMVID_MODEL", "SAMVID_TRACKER", "LABEL_STUDIO_URL", "SAMVID_AUTH_USER"])
def test_a_blank_value_is_a_config_error_naming_the_variable(var):
    with pytest.raises(ConfigError, match=f"{var}='  ' is blank; unset it for the default or give a value"):
        Settings.from_env({var: "  "})


@pytest.mark.parametrize("var", ["SAMVID_LOCAL_ROOTS", "LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT"])
def test_a_local_root_not_mounted_here_is_a_warning_not_a_refusal(var, tmp_path, caplog):
    """Label Studio's local-files URLs are fetched over HTTP when the folder is not mounted
    on this machine (a worker elsewhere sharing the backend's environment): it only warns."""
    missing = tmp_path / "not-mounted"
    with caplog.at_level("WARNING", logger="samvid.settings"):
        settings = Settings.from_env({var: f"{tmp_path}{os.pathsep}{missing}"})
    assert settings.local_roots == (tmp_path, missing)
    assert f"{var}: '{missing}' is not a folder on this machine" in caplog.text


def test_a_stand_in_of_any_radius_is_a_fallback():
    assert Settings.from_env({"SAMVID_FALLBACK": "standin:0.5"}).fallback == "standin:0.5"


def test_the_retry_budget_takes_the_maximum_its_message_names():
    assert Settings.from_env({"SAMVID_STUDIO_RETRY_SECONDS": "86400"}).studio_retry_seconds == 86400


def test_only_settings_reads_samvid_and_label_studio_variables_from_the_environment():
    # Code-health guard: one place names each variable and its default (flag defaults and
    # SAMVID_CONFIG_DIR go through settings.env_value / studio_access). Other programs'
    # variables (HF_*, PROMETHEUS_MULTIPROC_DIR, XDG_DATA_HOME) may be read where used.
    backend = Path(samvid.__file__).parent
    read = re.compile(r"(environ\.get\(|environ\[|getenv\()\s*[\"'](SAMVID|LABEL_STUDIO|REDIS)_")
    readers = [str(p.relative_to(backend)) for p in backend.rglob("*.py") if read.search(p.read_text())]
    assert set(readers) <= {"settings.py"}, readers


@pytest.mark.parametrize("fallback", ["standin:abc", "standin:0", "standin:-3", "standin:nan", "standin:"])
def test_a_stand_in_fallback_with_an_unusable_radius_is_refused_at_start(fallback):
    """Else it is refused on the day the model's weights go missing, when it is needed."""
    with pytest.raises(ConfigError) as raised:
        Settings.from_env({"SAMVID_FALLBACK": fallback})
    assert raised.value.message.startswith(f"SAMVID_FALLBACK={fallback!r} is not usable: the stand-in's click radius")


@pytest.mark.parametrize("var, value", [("SAMVID_REQUEST_TIMEOUT", "1e10"), ("SAMVID_FETCH_TIMEOUT", "99999999999"),
                                        ("SAMVID_REDIS_CACHE_TTL", "100000000000000000")])
def test_a_time_too_long_for_the_clock_or_for_redis_is_refused_at_start(var, value):
    """Such a timeout overflows every wait (OverflowError on each click); Redis refuses such a
    TTL on every cache write."""
    with pytest.raises(ConfigError) as raised:
        Settings.from_env({var: value})
    assert raised.value.message.startswith(f"{var} must be a number of seconds above 0 and at most "), raised.value.message


def test_a_day_of_timeout_and_years_of_cache_are_still_accepted():
    settings = Settings.from_env({"SAMVID_REQUEST_TIMEOUT": "86400", "SAMVID_FETCH_TIMEOUT": "3600",
                                  "SAMVID_REDIS_CACHE_TTL": str(5 * 365 * 86400)})
    assert (settings.request_timeout, settings.redis_cache_ttl) == (86400, 5 * 365 * 86400)


@pytest.mark.parametrize("url", ["http://label-studio:8080\n", " http://label-studio:8080", "http://label studio:8080"])
def test_a_label_studio_url_with_a_space_or_line_break_is_refused_at_start(url):
    """A secret file's last line break passes urlparse and fails every call to Label Studio."""
    with pytest.raises(ConfigError, match="holds a space, tab or line break; remove it"):
        Settings.from_env({"LABEL_STUDIO_URL": url})


@pytest.mark.parametrize("token", ["0123abcd\n", "0123 abcd"])
def test_a_token_with_a_space_or_line_break_is_refused_at_start_without_showing_it(token, monkeypatch):
    """Else every call fails with 'cannot reach Label Studio ... is it running?'."""
    with pytest.raises(ConfigError) as raised:
        Settings.from_env({"LABEL_STUDIO_API_KEY": token})
    assert raised.value.message.startswith("LABEL_STUDIO_API_KEY holds a space, tab or line break")
    assert "0123" not in raised.value.message
    from samvid.settings import studio_access

    monkeypatch.setenv("LABEL_STUDIO_API_KEY", token)
    with pytest.raises(ConfigError, match="holds a space, tab or line break"):
        studio_access("http://label-studio:8080")


@pytest.mark.parametrize("token", ["\u201c0123abcd\u201d", "0123ab\u00e9cd"])
def test_a_token_pasted_with_typographic_quotes_is_refused_at_start_without_showing_it(token, monkeypatch):
    """A header is ASCII: the backend answered every request of Label Studio with a 500."""
    with pytest.raises(ConfigError) as raised:
        Settings.from_env({"LABEL_STUDIO_API_KEY": token})
    assert "copy the token again" in raised.value.message
    assert "0123" not in raised.value.message
    from samvid.settings import studio_access

    monkeypatch.setenv("LABEL_STUDIO_API_KEY", token)
    with pytest.raises(ConfigError, match="copy the token again"):
        studio_access("http://label-studio:8080")


def test_a_redis_password_never_appears_in_a_message():
    with pytest.raises(ConfigError) as raised:
        Settings.from_env({"REDIS_URL": "http://:s3cret@redis:6379"})
    assert "s3cret" not in raised.value.message
    assert redis_url_for_messages("rediss://user:s3cret@redis.example:6380/0") == "rediss://user:***@redis.example:6380/0"
    assert "s3cret" not in redis_url_for_messages("unix:///run/redis.sock?password=s3cret&db=1")
    assert redis_url_for_messages("redis://localhost:6379/0") == "redis://localhost:6379/0"


def test_a_refused_redis_url_does_not_show_a_password_written_without_its_colon():
    with pytest.raises(ConfigError) as raised:
        Settings.from_env({"REDIS_URL": "redis://s3cret@host:6379/1a"})
    assert "REDIS_URL='redis://***@host:6379/1a'" in raised.value.message and "s3cret" not in raised.value.message


@pytest.mark.parametrize("written", ["images.intranet:8080", "http://images.intranet/", "Images.Intranet"])
def test_an_allowed_host_is_read_as_a_host_however_it_is_written(written):
    """Written with a port or as a URL it never matched an image's host, and the refusal
    still asked to list the host in SAMVID_ALLOWED_HOSTS."""
    assert Settings.from_env({"SAMVID_ALLOWED_HOSTS": f"{written}, 10.0.0.5"}).allowed_hosts == (
        "images.intranet", "10.0.0.5")


@pytest.mark.parametrize("written, host", [("[fd00::5]", "fd00::5"), ("fd00::5", "fd00::5"), ("[fd00::5]:81", "fd00::5")])
def test_an_allowed_ipv6_host_is_read_with_or_without_brackets(written, host):
    assert Settings.from_env({"SAMVID_ALLOWED_HOSTS": written}).allowed_hosts == (host,)


@pytest.mark.parametrize("env", [
    {"SAMVID_AUTH_USER": "ls", "SAMVID_AUTH_PASSWORD": "s3cret\n"},
    {"SAMVID_AUTH_USER": "ls\r\n", "SAMVID_AUTH_PASSWORD": "s3cret"},
])
def test_a_basic_auth_credential_with_a_line_break_is_refused_at_start_naming_the_variable(env):
    """A secret file's last line break cannot be typed into Label Studio's connection form:
    accepted, every request was a bare 401."""
    var = next(v for v, value in env.items() if value != value.strip())
    with pytest.raises(ConfigError, match=f"{var} holds a line break") as raised:
        Settings.from_env(env)
    assert "s3cret" not in raised.value.message


def test_a_limit_beyond_any_number_is_a_config_error_naming_the_variable():
    """Past a float's range the check itself crashed with a bare OverflowError."""
    for huge in ("1" + "0" * 400, "-1" + "0" * 400):
        with pytest.raises(ConfigError, match="SAMVID_MAX_IMAGE_PIXELS must be a number of pixels above 0"):
            Settings.from_env({"SAMVID_MAX_IMAGE_PIXELS": huge})


def test_a_password_with_a_no_break_space_is_no_control_character():
    assert Settings.from_env({"SAMVID_AUTH_USER": "ls", "SAMVID_AUTH_PASSWORD": "wort\xa0wort "}).auth_password == "wort\xa0wort "


@pytest.mark.parametrize("url", ["redis://127.0.0.1:6379 ", "redis://:s3cret@127.0.0.1:6379 "])
def test_a_redis_url_with_a_space_is_refused_at_start_without_its_password(url):
    """redis-py failed on it mid-start with a bare "Port could not be cast to integer"."""
    with pytest.raises(ConfigError, match="REDIS_URL=.* ends with a space; remove it") as raised:
        Settings.from_env({"REDIS_URL": url})
    assert "s3cret" not in raised.value.message


def test_a_redis_url_with_a_space_in_its_password_or_socket_path_is_taken():
    # redis-py connects with both: refused, they stopped a backend that worked.
    for url in ("redis://:pass word@127.0.0.1:6379/0", "unix://:pw@/tmp/my redis/r.sock?db=0"):
        assert Settings.from_env({"REDIS_URL": url}).redis_url == url


def test_a_setting_refused_inside_is_named_as_the_flag_the_user_typed() -> None:
    from samvid.models.sam import UnsupportedDevice

    with pytest.raises(UnsupportedDevice, match=r"^--device cuda:7 names a GPU"):
        with named_as_typed(device="cuda:7", precision=None):
            raise UnsupportedDevice("SAMVID_DEVICE=cuda:7 names a GPU this machine does not have")


def test_a_setting_not_given_as_a_flag_keeps_its_variables_name() -> None:
    with pytest.raises(ConfigError, match=r"^SAMVID_PRECISION=fp16 "):
        with named_as_typed(device="cpu", precision=None):
            raise ConfigError("SAMVID_PRECISION=fp16 needs a GPU")


@pytest.mark.parametrize("var", ["SAMVID_LOCAL_ROOTS", "LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT"])
def test_a_local_root_under_a_home_that_does_not_exist_is_a_config_error_not_a_traceback(var):
    with pytest.raises(ConfigError, match=f"{var}: ~no-such-user-here/frames is under no user's home folder"):
        Settings.from_env({var: "/tmp:~no-such-user-here/frames"})


@pytest.mark.parametrize("url", ["redis://127.0.0.1:6379/x?passwd=hunter2", "redis://127.0.0.1:6379/0?passwd=hunter2&db=2x",
                                 "http://127.0.0.1:6379/0?passwd=hunter2"])
def test_no_message_about_a_redis_url_shows_a_query_value(url):
    # A misspelt ?passwd= holds a password: every REDIS_URL message, not one, showed it.
    with pytest.raises(ConfigError) as raised:
        Settings.from_env({"REDIS_URL": url})
    assert "hunter2" not in raised.value.message and "passwd=***" in raised.value.message


def test_a_redis_password_holding_a_bracket_in_a_url_that_splits_is_taken():
    # redis-py reads ":p]w@[::1]" as the password p]w on the host ::1.
    assert Settings.from_env({"REDIS_URL": "redis://:p]w@[::1]:6379/0"}).redis_url == "redis://:p]w@[::1]:6379/0"


@pytest.mark.parametrize(("url", "shown"), [
    ("http://admin:PW_S3CRET@ls.example:8080x", "'http://***@ls.example:8080x'"),  # a port that is no number
    ("http://admin:PW_S3CRET/x@ls.example:8080", "'http://***@ls.example:8080'"),  # urlparse quoted "PW_S3CRET"
    ("ftp://admin:PW_S3CRET@ls.example:8080", "'ftp://***@ls.example:8080'"),
])
def test_a_label_studio_url_refused_from_the_environment_is_said_without_its_password(url, shown):
    with pytest.raises(ConfigError) as raised:
        Settings.from_env({"LABEL_STUDIO_URL": url})
    assert raised.value.message.startswith(f"LABEL_STUDIO_URL={shown} is not usable: ")
    assert "PW_" not in raised.value.message and "S3CRET" not in raised.value.message
