"""A Label Studio URL refused before any call is said without its password: ``user:password@``
reads ``***@``, and a URL urlparse cannot read is "not a valid URL" without its words, which
quote the part it failed on (a password's start, where the password holds an unencoded "/")."""

from __future__ import annotations

from pathlib import Path

import pytest

from samvid.cli import main
from samvid.errors import ConfigError
from samvid.settings import studio_access, studio_url_problem

REFUSED = [  # (url, as said, why)
    ("ftp://admin:PW_S3CRET@ls.example:8080", "'ftp://***@ls.example:8080'", "give an http:// or https:// URL"),
    ("http://admin:PW_S3CRET/x@ls.example:8080", "'http://***@ls.example:8080'", "it is not a valid URL"),
]


@pytest.mark.parametrize(("url", "shown", "why"), REFUSED)
def test_up_refuses_a_label_studio_url_without_saying_its_password(url, shown, why, tmp_path: Path, capsys) -> None:
    assert main(["up", "--no-studio", "--no-backend", "--label-studio-url", url, "--api-key", "k",
                 "--backend-url", "http://127.0.0.1:9", "--data-dir", str(tmp_path / "data")]) == 2
    err = capsys.readouterr().err
    assert f"--label-studio-url (or LABEL_STUDIO_URL) {shown}: {why}" in err
    assert "S3CRET" not in err


@pytest.mark.parametrize(("url", "shown", "why"), REFUSED)
def test_a_commands_label_studio_url_is_refused_without_its_password(url, shown, why) -> None:
    with pytest.raises(ConfigError) as refused:
        studio_access(url, "k")
    assert f"Label Studio URL {shown} (--url or LABEL_STUDIO_URL): {why}" in refused.value.message
    assert "S3CRET" not in refused.value.message


@pytest.mark.parametrize("url", ["http://admin:PW_S3CRET/x@ls.example:8080", "http://admin:PW/S3CRET@ls.example:8080",
                                 "http://admin:PW_S3CRET@[ls.example:8080"])
def test_a_url_urlparse_cannot_read_is_refused_in_words_that_quote_none_of_it(url) -> None:
    # urlparse's "Port could not be cast to integer value as 'PW_S3CRET'" quoted the password.
    problem = studio_url_problem(url)
    assert problem is not None and problem.startswith("it is not a valid URL")
    assert "PW" not in problem and "S3CRET" not in problem and "ls.example" not in problem


@pytest.mark.parametrize("command", ["propagate", "import"])
def test_a_backend_url_urlparse_cannot_read_is_refused_without_its_password(command, tmp_path: Path, capsys) -> None:
    video = tmp_path / "v.mp4"
    video.write_bytes(b"")
    args = {"propagate": ["propagate", "--project", "1", "--clip", "c", "--from-frame", "0"],
            "import": ["import", str(video), "--project", "clips"]}[command]
    assert main([*args, "--backend-url", "http://admin:PW_S3CRET/x@samvid.example:9090"]) == 2
    err = capsys.readouterr().err
    assert "--backend-url 'http://***@samvid.example:9090'" in err and "it is not a valid URL" in err
    assert "PW_" not in err and "S3CRET" not in err
