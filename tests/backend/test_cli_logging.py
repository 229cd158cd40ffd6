"""What the command line logs: samvid's own lines, not one per HTTP call it makes."""

from __future__ import annotations

import logging

import pytest
import requests
from flask import Flask, Response
from services import ServedApp

from samvid.cli import main


def test_a_command_calling_label_studio_logs_no_line_per_request(monkeypatch, caplog) -> None:
    # prelabel, import and up quieted httpx each; propagate, export and serve logged every call.
    app = Flask("refusing-studio")

    @app.route("/<path:anything>", methods=["GET", "POST"])
    def refuse(anything: str) -> Response:
        return Response('{"detail": "Invalid token."}', status=401, mimetype="application/json")

    with ServedApp(app) as served:
        monkeypatch.setenv("LABEL_STUDIO_URL", served.url)
        monkeypatch.setenv("LABEL_STUDIO_API_KEY", "not-a-token")
        caplog.set_level(logging.INFO)
        caplog.set_level(logging.INFO, logger="httpx")
        assert main(["propagate", "--project", "Street", "--clip", "walk", "--from-frame", "4"]) == 2
    assert not [r for r in caplog.records if r.name.startswith("httpx")]


@pytest.mark.parametrize("flag", ["--verbose", "-v", "SAMVID_LOG_LEVEL=DEBUG"])
def test_debug_logging_keeps_the_http_lines(flag, monkeypatch, caplog) -> None:
    # SAMVID_LOG_LEVEL=DEBUG is -v for a deployment (the README says so).
    if "=" in flag:
        monkeypatch.setenv(*flag.split("="))
    app = Flask("refusing-studio")
    app.add_url_rule("/<path:anything>", "refuse", lambda anything: Response("{}", status=401,
                     mimetype="application/json"), methods=["GET", "POST"])
    with ServedApp(app) as served:
        monkeypatch.setenv("LABEL_STUDIO_URL", served.url)
        monkeypatch.setenv("LABEL_STUDIO_API_KEY", "not-a-token")
        caplog.set_level(logging.DEBUG)
        caplog.set_level(logging.DEBUG, logger="httpx")
        assert main([*([] if "=" in flag else [flag]), "propagate", "--project", "Street", "--clip", "walk", "--from-frame", "4"]) == 2
    assert [r for r in caplog.records if r.name.startswith("httpx")]


@pytest.mark.parametrize("flag", ["-v", "SAMVID_LOG_LEVEL=DEBUG"])
def test_debug_logging_names_each_image_fetched_without_its_query(flag, monkeypatch, caplog) -> None:
    # urllib3 logs every request's path and query at DEBUG: a presigned image's signature.
    if "=" in flag:
        monkeypatch.setenv(*flag.split("="))
    app = Flask("refusing-studio")
    app.add_url_rule("/<path:anything>", "refuse", lambda anything: Response("{}", status=401,
                     mimetype="application/json"), methods=["GET", "POST"])
    with ServedApp(app) as served:
        monkeypatch.setenv("LABEL_STUDIO_URL", served.url)
        monkeypatch.setenv("LABEL_STUDIO_API_KEY", "not-a-token")
        caplog.set_level(logging.DEBUG)
        main([*([] if "=" in flag else [flag]), "propagate", "--project", "Street", "--clip", "walk", "--from-frame", "4"])
        requests.get(f"{served.url}/img/f0.png?X-Amz-Credential=AKIA&X-Amz-Signature=S3CRETSIG", timeout=10)
    urllib3_lines = [r.getMessage() for r in caplog.records if r.name.startswith("urllib3")]
    assert any('"GET /img/f0.png HTTP/1.1" 401' in line for line in urllib3_lines), urllib3_lines
    assert not [line for line in urllib3_lines if "X-Amz" in line]
