"""What ``samvid up`` leaves in its data dir and prints is for its user's eyes: the logs (image
URLs, a -v run's requests) are private, and a password given in a URL is shown nowhere."""

from __future__ import annotations

import json
import os
import stat
import sys
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest
from services import http_server

from samvid.commands import up
from samvid.errors import SamvidError
from samvid.launcher import Child, Layout, Stack, UpOptions


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def umask_022() -> object:
    old = os.umask(0o022)  # the usual one, under which they were readable by all
    yield
    os.umask(old)


def test_a_childs_log_and_pid_file_are_readable_by_their_owner_only(tmp_path: Path, umask_022) -> None:
    log_path = tmp_path / "data" / "logs" / "samvid-serve.log"
    child = Child.start("samvid serve", [sys.executable, "-c", "pass"], dict(os.environ), log_path)
    try:
        assert (_mode(log_path.parent), _mode(log_path), _mode(log_path.with_suffix(".pid"))) == (0o700, 0o600, 0o600)
    finally:
        child.stop()


def test_the_logs_of_an_earlier_run_readable_by_all_are_made_private_on_start(tmp_path: Path, umask_022) -> None:
    layout = Layout(tmp_path / "data")
    layout.logs.mkdir(parents=True)
    (layout.logs / "samvid-serve.log").write_text("INFO samvid.predictor: precompute of http://img/f0.png failed\n")
    assert _mode(layout.logs) == 0o755
    # A run that gets no further than its checks (no Label Studio at 127.0.0.1:9) has begun.
    options = UpOptions(data_dir=layout.data_dir, model="standin", no_studio=True, no_backend=True,
                        studio_url="http://127.0.0.1:9", api_key="k", backend_url="http://127.0.0.1:9")
    with pytest.raises(SamvidError), Stack(options) as stack:
        stack.start()
    assert _mode(layout.logs) == 0o700


class _Health(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = json.dumps({"model_version": "classic"}).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def test_a_backend_url_with_a_password_is_shown_and_written_without_it(tmp_path: Path, monkeypatch, capsys) -> None:
    from samvid.studio import client
    from samvid.studio.importer import ClipSummary, ImportSummary

    class Studio:
        def __init__(self, url: str, key: str) -> None:
            pass

        def check(self) -> None:
            pass

        def the_project_titled(self, title: str) -> None:
            return None

        def list_tasks(self, project_id: int, clip: str | None = None) -> list[object]:
            return []

    class ImportsNothing(Stack):
        def _import(self, *args: object) -> ImportSummary:
            return ImportSummary(3, "samvid demo", True, None, None, [ClipSummary("a", "a.mp4", 2, 2, task_ids=[1, 2])])

    monkeypatch.setattr(client, "Studio", Studio)
    with http_server(_Health) as url:
        backend = url.replace("http://", "http://ml-user:PW_S3CRET@")
        options = UpOptions(data_dir=tmp_path / "data", model="classic", no_studio=True, no_backend=True,
                            studio_url="http://127.0.0.1:9", api_key="k", backend_url=backend)
        with ImportsNothing(options) as stack:
            up._banner(stack.start(), owns_processes=False)
    banner = capsys.readouterr().out
    ready = json.loads(Layout(tmp_path / "data").ready_file.read_text())
    shown = url.replace("http://", "http://***@")
    assert f"Backend      {shown}" in banner and ready["backend_url"] == shown
    assert "PW_S3CRET" not in banner and "ml-user" not in json.dumps(ready)


def test_a_credentials_file_or_logs_folder_others_can_read_and_samvid_cannot_chmod(
        tmp_path: Path, umask_022, monkeypatch, caplog) -> None:
    # Another user's: the file holding the admin's token is said, the logs folder left as it is.
    from samvid import launcher

    creds, logs = tmp_path / "credentials.json", tmp_path / "logs"
    creds.write_text("{}")
    logs.mkdir()

    def refused(self: Path, mode: int) -> None:
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(Path, "chmod", refused)
    with caplog.at_level("WARNING", logger="samvid"):
        launcher._make_private(creds)
        launcher._make_logs_private(logs)
    assert [r.getMessage() for r in caplog.records] == [
        f"{creds} is readable by other users and cannot be made private (Operation not permitted): its "
        "token is the admin's; chmod 600 it"]
    assert (_mode(creds), _mode(logs)) == (0o644, 0o755)


def test_a_credentials_file_made_private_is_said_and_a_logs_folder_silently(
        tmp_path: Path, umask_022, caplog) -> None:
    from samvid import launcher

    creds, logs = tmp_path / "credentials.json", tmp_path / "logs"
    creds.write_text("{}")
    logs.mkdir()
    with caplog.at_level("WARNING", logger="samvid"):
        launcher._make_private(creds)
        launcher._make_logs_private(logs)
        launcher._make_logs_private(tmp_path / "gone")  # no logs folder yet: nothing to do
    assert [r.getMessage() for r in caplog.records] == [
        f"{creds} was readable by other users; made it private (mode 600)"]
    assert (_mode(creds), _mode(logs)) == (0o600, 0o700)


def test_a_childs_log_past_its_size_at_a_start_is_kept_as_one_older_log(tmp_path, monkeypatch) -> None:
    # Each start appended to one file for good, a line per request: months of them.
    import sys

    from samvid import launcher

    monkeypatch.setattr(launcher, "LOG_KEPT_BYTES", 100)
    log_path = tmp_path / "logs" / "samvid-serve.log"
    for run in range(3):
        child = launcher.Child.start("echo", [sys.executable, "-c", f"print('run {run}' + 'x' * 200)"],
                                     {}, log_path)
        child.proc.wait()
    assert "run 2" in log_path.read_text() and "run 1" not in log_path.read_text()
    older = log_path.with_name("samvid-serve.log.1").read_text()
    assert "run 1" in older and "run 0" not in older  # one older log kept, not a pile
    assert log_path.with_name("samvid-serve.log.1").stat().st_mode & 0o777 == 0o600
