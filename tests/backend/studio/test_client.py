"""The Label Studio client against the real server, reached through what stands between
them in practice: a proxy that loses answers, an address that redirects, a backend whose
basic auth is turned on after it was connected; and the connections the clients of one
process share."""

from __future__ import annotations

import http.server
import json
import logging
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import httpx
import pytest
from label_studio_sdk.core.api_error import ApiError
from services import ServedApp, http_server

from samvid.errors import BadRequest, ConfigError, NotFound, StudioError
from samvid.studio import client
from samvid.studio.client import Project, Studio, clip_query, machine_lock
from samvid.studio.import_plan import ImportOptions

pytestmark = pytest.mark.studio

# What the front answers itself instead of passing the answer on: (status, headers) or None.
Answer = Callable[[str, str], "tuple[int, dict[str, str]] | None"]


@contextmanager
def front(target: str, answer: Answer, *, forward: bool = True) -> Iterator[tuple[str, list[str]]]:
    """A server on 127.0.0.1 before ``target``: every request (``"POST /api/..."``) is
    recorded and, if ``forward``, passed on; ``answer(method, path)`` may replace the reply."""
    seen: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def _serve(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            seen.append(f"{self.command} {self.path.split('?')[0]}")
            reply = None
            if forward:
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length")}
                reply = httpx.request(self.command, target + self.path, headers=headers, content=body, timeout=60)
            own = answer(self.command, self.path)
            status, headers, content = (*own, b"") if own else (reply.status_code, dict(reply.headers), reply.content)
            self.send_response(status)
            for k, v in headers.items():
                if k.lower() not in ("content-length", "transfer-encoding", "connection", "content-encoding"):
                    self.send_header(k, v)
            self.send_header("Content-Length", str(len(content)))
            self.end_headers()
            self.wfile.write(content)

        do_GET = do_POST = do_DELETE = do_PATCH = _serve

        def log_message(self, *args: object) -> None:
            pass

    with http_server(Handler) as url:
        yield url, seen


@pytest.fixture
def project(studio: Studio, options: ImportOptions) -> Project:
    """A fresh project named after the test (Label Studio takes titles of 50 characters)."""
    project, _ = studio.get_or_create_project(options.project[:50], options.label_config)
    return project


def test_sdk_write_whose_answer_is_lost_is_sent_once(studio: Studio, project: Project) -> None:
    import_path = f"/api/projects/{project.id}/import"

    def bad_gateway(method: str, path: str) -> tuple[int, dict[str, str]] | None:
        # Label Studio saved the tasks; the proxy in between failed to pass the answer on.
        return (502, {}) if method == "POST" and path.startswith(import_path) else None

    with front(studio.url, bad_gateway) as (url, seen):
        with pytest.raises(StudioError, match="502"):
            Studio(url, studio.api_key).create_tasks(project.id, [{"image": f"/data/{i}.png"} for i in range(3)])
    assert seen.count(f"POST {import_path}") == 1
    assert len(studio.list_tasks(project.id)) == 3


def test_raw_call_answered_with_a_redirect_is_an_error_not_an_empty_list(
        studio: Studio, project: Project) -> None:
    [task] = studio.create_tasks(project.id, [{"image": "/data/0.png"}])

    def moved(method: str, path: str) -> tuple[int, dict[str, str]]:
        return 301, {"Location": studio.url + path}  # as http:// -> https:// would

    with front(studio.url, moved, forward=False) as (url, _):
        redirected = Studio(url, studio.api_key)
        expected = f"redirects to {studio.url}/api/.*set LABEL_STUDIO_URL"
        with pytest.raises(StudioError, match=expected):
            redirected.task_rows(project.id)
        with pytest.raises(StudioError, match=expected):
            redirected.replace_predictions(task, "samvid-track", [], "samvid-track:flow", 0.5, write_empty=True)
        with pytest.raises(StudioError, match=expected):
            redirected.check()
        with pytest.raises(StudioError, match=expected):  # an SDK write, which followed it before
            redirected.create_tasks(project.id, [{"image": "/data/1.png"}])
        with pytest.raises(StudioError, match=expected):  # an SDK read
            redirected.list_predictions(task)
    assert studio.list_predictions(task) == []
    assert len(studio.list_tasks(project.id)) == 1


def test_project_titled_with_digits_is_found_by_title_when_no_project_has_that_id(
        studio: Studio, options: ImportOptions) -> None:
    # Label Studio's UI takes any title; `--project 2024` meant this project, not id 2024.
    titled, _ = studio.get_or_create_project("987654321", options.label_config)
    assert studio.project("987654321").id == titled.id
    assert studio.project_id("987654321") == titled.id
    assert studio.project(titled.id).title == "987654321"  # an id that exists is still an id
    with pytest.raises(NotFound, match="no project with id or title '987654320'"):
        studio.project("987654320")


def test_a_title_two_projects_share_is_refused_with_their_ids(studio: Studio, options: ImportOptions) -> None:
    # Label Studio takes a title twice; picking one would export or import the wrong one.
    ids = [studio.sdk.projects.create(title="street twins", label_config=options.label_config).id
           for _ in range(2)]
    for find in (studio.project, studio.project_id,
                 lambda title: studio.get_or_create_project(title, options.label_config)):
        with pytest.raises(BadRequest, match=f"2 projects are titled 'street twins' \\(ids {ids[0]}, {ids[1]}\\)"):
            find("street twins")
    assert studio.project(str(ids[0])).id == ids[0]  # the id still finds each


def test_reconnecting_backend_with_credentials_sets_basic_auth_and_webhook_header(
        studio: Studio, project: Project) -> None:
    calls: list[tuple[str, str | None]] = []

    def backend(environ, start_response):  # answers every route LS calls
        calls.append((environ["PATH_INFO"], environ.get("HTTP_AUTHORIZATION")))
        start_response("200 OK", [("Content-Type", "application/json")])
        return [b'{"status": "UP", "model_version": "stub"}']

    with ServedApp(backend) as served:
        first = studio.connect_backend(project.id, served.url)  # before auth was turned on
        second = studio.connect_backend(project.id, served.url, user="u", password="p")
        calls.clear()
        studio.request("GET", f"/api/ml/{second}/versions", "list the backend's versions")
    assert second == first
    [connected] = studio.sdk.ml.list(project=project.id)
    assert connected.auth_method == "BASIC_AUTH" and connected.basic_auth_user == "u"
    assert calls and all(auth == "Basic dTpw" for _, auth in calls), calls  # base64("u:p")
    hooks = studio.request("GET", "/api/webhooks/", "list", params={"project": project.id})
    [hook] = [h for h in hooks if h["url"] == f"{served.url}/webhook"]
    assert hook["headers"]["Authorization"] == "Basic dTpw"


@pytest.mark.parametrize("url", ["label-studio:8080", "ftp://ls:8080", "http://ls:port"])
def test_a_label_studio_url_that_is_not_http_is_refused_naming_the_setting(url):
    # Every command's Studio: `samvid export` said "cannot reach Label Studio ...
    # (UnsupportedProtocol)" on the first call instead.
    with pytest.raises(ConfigError, match=r"\(--url or LABEL_STUDIO_URL\): (give an http|it is not a valid URL)"):
        Studio(url, "token")


def stub_backend(environ, start_response):  # answers /health, /setup and the rest alike
    start_response("200 OK", [("Content-Type", "application/json")])
    return [b'{"status": "UP", "model_version": "stub"}']


def test_connecting_the_backend_at_a_new_address_moves_it_instead_of_adding_a_second(
        studio: Studio, project: Project) -> None:
    # `samvid import --backend-url NEW` after the backend moved: Label Studio asks a
    # project's first backend for predictions, so a second one at NEW would never be used.
    with ServedApp(stub_backend) as old, ServedApp(stub_backend) as new:
        first = studio.connect_backend(project.id, old.url)
        moved = studio.connect_backend(project.id, new.url, user="u", password="p")
    assert moved == first
    [connected] = studio.sdk.ml.list(project=project.id)
    assert connected.url == new.url and connected.is_interactive
    assert connected.auth_method == "BASIC_AUTH" and connected.basic_auth_user == "u"
    hooks = studio.request("GET", "/api/webhooks/", "list", params={"project": project.id})
    [hook] = [h for h in hooks if h["project"] == project.id]
    assert hook["url"] == f"{new.url}/webhook"  # annotation events follow it
    assert hook["headers"]["Authorization"] == "Basic dTpw"


def test_a_url_answered_by_a_server_that_is_not_label_studio_is_a_studio_error_naming_the_setting() -> None:
    # A web page at LABEL_STUDIO_URL (a proxy's default page, the wrong port): `samvid
    # import` crashed with a JSONDecodeError traceback, `export` said Label Studio "refused".
    def page(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/html")])
        return [b"<html><body>Welcome to nginx</body></html>"]

    with ServedApp(page) as served:
        studio = Studio(served.url, "token")
        for call in (studio.check, lambda: studio.task_rows(1), lambda: studio.project("street")):
            with pytest.raises(StudioError, match="not Label Studio's API .*Welcome to nginx.*set LABEL_STUDIO_URL"):
                call()


def test_a_label_studio_failing_with_an_html_error_page_is_said_to_fail_not_to_refuse() -> None:
    # A 500 (Label Studio's own error page) or a proxy's 502 read "Label Studio refused to
    # identify the API key's user (500: <!DOCTYPE html><html><head>...", blaming the request.
    def failing(environ, start_response):
        start_response("500 Internal Server Error", [("Content-Type", "text/html")])
        return [b"<!DOCTYPE html>\n<html lang='en'><head><title>Server Error (500)</title></head>"
                b"<body><h1>Server Error (500)</h1></body></html>"]

    with ServedApp(failing) as served:
        with pytest.raises(StudioError) as caught:
            Studio(served.url, "token").check()
    message = caught.value.message
    assert "failed to identify the API key's user (500: an HTML page: Server Error (500))" in message
    assert "see Label Studio's log" in message
    assert "refused" not in message and "<" not in message


def test_an_empty_answer_to_the_api_key_check_is_a_studio_error_not_a_crash() -> None:
    def nothing(environ, start_response):  # a proxy answering 204 to every path
        start_response("204 No Content", [])
        return [b""]

    with ServedApp(nothing) as served:
        with pytest.raises(StudioError, match="not Label Studio's API \\(an empty answer\\): set LABEL_STUDIO_URL"):
            Studio(served.url, "token").check()


def test_a_project_given_with_surrounding_spaces_is_found_as_import_made_it(
        studio: Studio, options: ImportOptions) -> None:
    # `samvid import --project "$P"` strips the title, as Label Studio does; `samvid export
    # --project "$P"` with the same "street "  said there was no such project.
    made, _ = studio.get_or_create_project("spaced street", options.label_config)
    assert studio.project("spaced street ").id == made.id
    assert studio.project_id("  spaced street") == made.id
    assert studio.project(f" {made.id} ").id == made.id


def test_a_backend_connected_in_label_studio_without_interactive_is_made_interactive(
        studio: Studio, project: Project) -> None:
    # Connected by hand (Settings > Model) with the toggle off: `samvid import` reused it
    # as it was, and Label Studio never asked it for a mask on a click.
    with ServedApp(stub_backend) as served:
        studio.sdk.ml.create(project=project.id, url=served.url, is_interactive=False, title="by hand")
        studio.connect_backend(project.id, served.url)
    [connected] = studio.sdk.ml.list(project=project.id)
    assert connected.is_interactive and connected.url == served.url


def test_the_samvid_backend_given_as_label_studio_is_named_as_the_wrong_address(app) -> None:
    # `--url http://localhost:9090` (the backend's port): "Label Studio refused to identify
    # the API key's user (404 ...)" blamed the key and Label Studio.
    with ServedApp(app) as backend:
        with pytest.raises(StudioError, match="has no Label Studio API \\(404.*set LABEL_STUDIO_URL to Label Studio's address"):
            Studio(backend.url, "token").check()


def test_two_imports_creating_one_new_project_at_once_end_in_one_project(
        studio: Studio, options: ImportOptions, monkeypatch: pytest.MonkeyPatch) -> None:
    # `samvid import a.mp4 --project P & samvid import b.mp4 --project P`: both found no
    # project P and made one, and every later command refused the shared title.
    # (On one machine they now take turns; on two, or when Label Studio itself makes two
    # projects of one create, each still keeps the first.)
    rival = studio.sdk.projects.create(title="made twice at once", label_config=options.label_config)
    titled, listings = studio.projects_titled, [[]]  # its first listing came before the rival was made
    monkeypatch.setattr(studio, "projects_titled", lambda title: listings.pop() if listings else titled(title))
    project, created = studio.get_or_create_project("made twice at once", options.label_config)
    monkeypatch.undo()
    assert (project.id, created) == (rival.id, False)
    assert studio.project("made twice at once").id == rival.id  # one project of that title


def test_imports_into_one_new_title_at_once_on_one_machine_all_get_the_one_project(
        label_studio, options: ImportOptions, monkeypatch: pytest.MonkeyPatch) -> None:
    # `for v in *.mp4; do samvid import "$v" --project P & done`: two runs each found no P
    # and made one; the second deletes its own, but a third run that listed the title in
    # between saw two projects, refused the title ("2 projects are titled"), its clip lost.
    title = "made by three imports at once"
    a, b, c = (Studio(label_studio.url, label_studio.token) for _ in range(3))
    create, delete = a.sdk.projects.create, a.delete_project

    def slow_create(**kwargs):  # a's create is slow: b could find no project meanwhile
        time.sleep(1.5)
        return create(**kwargs)

    def slow_delete(project_id: int) -> None:  # and c could list the title while a's is there
        time.sleep(1.5)
        delete(project_id)

    monkeypatch.setattr(a.sdk.projects, "create", slow_create)
    monkeypatch.setattr(a, "delete_project", slow_delete)
    got: dict[str, object] = {}

    def run(name: str, studio: Studio) -> None:
        try:
            got[name] = studio.get_or_create_project(title, options.label_config)
        except Exception as exc:  # noqa: BLE001 - the assertion below names it
            got[name] = exc

    runs = [threading.Thread(target=run, args=(name, studio)) for name, studio in (("a", a), ("b", b))]
    runs[0].start()
    time.sleep(0.3)
    runs[1].start()
    time.sleep(1.7)
    run("c", c)
    for thread in runs:
        thread.join()
    projects = [got[name] for name in "abc"]
    assert all(isinstance(p, tuple) for p in projects), projects
    assert len({p[0].id for p in projects}) == 1  # type: ignore[index]
    assert sorted(p[1] for p in projects) == [False, False, True]  # type: ignore[index]
    assert [p.id for p in c.projects_titled(title)] == [projects[0][0].id]  # type: ignore[index]


def test_a_title_two_projects_share_is_refused_by_import_with_advice_it_can_follow(
        studio: Studio, options: ImportOptions) -> None:
    # Import said "give the project's id", and its --project refuses an id (digits only).
    for _ in range(2):
        studio.sdk.projects.create(title="shared by two for import", label_config=options.label_config)
    with pytest.raises(BadRequest, match="2 projects are titled 'shared by two for import' "
                       "\\(ids .*\\): .*rename or delete all but one of them in Label Studio") as caught:
        studio.get_or_create_project("shared by two for import", options.label_config)
    assert "give the project's id" not in caught.value.message


def test_moving_the_backend_to_an_address_that_already_has_a_webhook_drops_the_old_addresss_webhook(
        studio: Studio, project: Project) -> None:
    # A webhook to the new address was there already (left by a backend deleted in Label
    # Studio's UI): the old address's webhook was kept, and every annotation event still
    # went to the old address too (a backend still running there propagated it again).
    with ServedApp(stub_backend) as old, ServedApp(stub_backend) as new:
        studio.connect_backend(project.id, old.url)
        studio.request("POST", "/api/webhooks/", "add a webhook",
                       json={"project": project.id, "url": f"{new.url}/webhook", "send_payload": True})
        studio.connect_backend(project.id, new.url)
    hooks = studio.request("GET", "/api/webhooks/", "list", params={"project": project.id})
    assert sorted(h["url"] for h in hooks if h["project"] == project.id) == [f"{new.url}/webhook"]


def test_a_proxy_that_gets_no_answer_from_label_studio_is_said_so() -> None:
    # A 502 from nginx before a stopped Label Studio read "failed to create project 't'
    # (labeling config rejected?) ... see Label Studio's log": neither was the case.
    def gateway(environ, start_response):
        start_response("502 Bad Gateway", [("Content-Type", "text/html")])
        return [b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>" + b"<b" * 50_000 + b"</body></html>"]

    with ServedApp(gateway) as served:
        with pytest.raises(StudioError) as caught:
            Studio(served.url, "token").check()
    message = caught.value.message
    assert "(502: an HTML page: 502 Bad Gateway): a proxy before it got no answer" in message
    assert "is Label Studio running?" in message and "log" not in message


def test_a_clip_named_with_a_percent_sign_lists_its_own_tasks(studio: Studio, project: Project) -> None:
    # Label Studio unquotes a filter's value once more: "a%41b" matched only clip "aAb".
    studio.create_tasks(project.id, [{"image": f"/data/{clip}.png", "clip": clip, "frame": 0}
                                     for clip in ("a%41b", "aAb", "100%")])
    assert [t.data["clip"] for t in studio.list_tasks(project.id, "a%41b")] == ["a%41b"]
    assert [t.data["clip"] for t in studio.list_tasks(project.id, "100%")] == ["100%"]


def test_a_clips_tasks_are_listed_when_the_projects_first_task_has_a_list_as_its_clip(
        studio: Studio, project: Project, caplog: pytest.LogCaptureFixture) -> None:
    # Label Studio types a data column by the project's first task: a list there made it
    # refuse every filter on data.clip (400 "Not supported filter type"), so no clip of the
    # project could be imported into, propagated or listed.
    studio.create_tasks(project.id, [{"image": "/data/a.png", "clip": ["a", "b"], "frame": 0},
                                     {"image": "/data/b.png", "clip": "c1", "frame": 0},
                                     {"image": "/data/c.png", "clip": "c2", "frame": 0}])
    assert [t.data["clip"] for t in studio.list_tasks(project.id, "c1")] == ["c1"]
    assert "listing all of them instead" in caplog.text
    # A caller Label Studio waits for (a task being opened) fails at once instead: reading a
    # project of 20,000 tasks whole took 27 s of the annotator's open.
    with pytest.raises(StudioError):
        studio.task_rows(project.id, clip_query("c1"), whole_if_refused=False)


class Stopped(BaseException):
    """What a cancelled job's retry callback raises (``propagation.run_job``)."""


def cancelled(text: str) -> None:
    raise Stopped


class OneTasksPredictions:
    """Label Studio's predictions of one task as ``Studio._request_once`` reaches them, with
    the methods asked for in order, their paths and the wait each was given (``None``: the
    client's timeout); a test wraps ``answer`` to fail some of them. ``earlier``: the task
    has one of samvid's predictions (id 1, ``["old"]``), which a write goes over in place;
    without it a write is a new prediction (a POST)."""

    def __init__(self, *, earlier: bool = True) -> None:
        self.rows: list[dict] = [{"id": 1, "model_version": "samvid-track:flow", "result": ["old"]}] if earlier else []
        self.calls: list[str] = []
        self.paths: list[str] = []
        self.timeouts: list[float | None] = []
        self.last_id = 5  # ids only grow, as Label Studio's do

    def results(self) -> list:
        return [p["result"] for p in self.rows]

    def ids(self) -> list[int]:
        return [p["id"] for p in self.rows]

    def answer(self, method: str, path: str, **kwargs):
        if method == "GET":
            return [dict(p) for p in self.rows]
        if method == "POST":
            self.last_id += 1
            self.rows.append({"id": self.last_id, "model_version": kwargs["json"]["model_version"],
                              "result": kwargs["json"]["result"]})
            return {}
        if method == "PATCH":
            row = next(p for p in self.rows if p["id"] == int(path.rsplit("/", 1)[1]))
            row.update(model_version=kwargs["json"]["model_version"], result=kwargs["json"]["result"],
                       score=kwargs["json"]["score"])
            return dict(row)
        self.rows[:] = [p for p in self.rows if p["id"] != int(path.rsplit("/", 1)[1])]
        return None

    def serve(self, monkeypatch, fail=lambda method, path: None) -> None:
        """Answer every request from now on; ``fail`` raises for those that fail."""
        def request_once(studio, method, path, what, **kwargs):
            self.calls.append(method)
            self.paths.append(path)
            self.timeouts.append(kwargs.pop("timeout", None))
            fail(method, path)
            return self.answer(method, path, **kwargs)

        monkeypatch.setattr(Studio, "_request_once", request_once)


OLDER = {"id": 2, "model_version": "samvid-track:classic", "result": ["older"]}  # samvid's, the newest
THEIRS = {"id": 3, "model_version": "other-model", "result": ["theirs"]}  # another model's: never touched


@pytest.fixture
def quick_stop(monkeypatch) -> float:
    """The cleanup after a stopped write may wait this long in all (not STOPPED_WAIT's
    seconds), looking at the task every tenth of it; returned."""
    monkeypatch.setattr(client, "STOPPED_WAIT", 0.4)
    monkeypatch.setattr(client, "STOPPED_POLL", 0.04)
    return 0.4


def busy_now() -> StudioError:
    error = StudioError("Label Studio failed (503)")
    error.__cause__ = ApiError(status_code=503, headers={}, body="busy")
    return error


def write_new(studio: Studio) -> None:
    with pytest.raises(Stopped):
        studio.replace_predictions(7, "samvid-track", ["new"], "samvid-track:flow", 0.9, write_empty=False)


def test_a_prediction_write_goes_over_the_newest_of_samvids_in_place_and_deletes_the_others(monkeypatch) -> None:
    # Label Studio's editor submits an annotation naming the prediction it was opened from:
    # samvid writing a new one and deleting that one made the submit fail ("Invalid pk") and
    # the annotator's work was not saved.
    task = OneTasksPredictions()
    task.rows += [dict(OLDER), dict(THEIRS)]
    task.serve(monkeypatch)
    Studio("http://127.0.0.1:9", "key").replace_predictions(
        7, "samvid-track", ["new"], "samvid-track:flow", 0.9, write_empty=False)
    assert task.rows == [{"id": 2, "model_version": "samvid-track:flow", "result": ["new"], "score": 0.9},
                         THEIRS]
    assert list(zip(task.calls, task.paths)) == [
        ("GET", "/api/predictions"), ("PATCH", "/api/predictions/2"), ("DELETE", "/api/predictions/1")]


def test_an_empty_result_not_to_be_written_deletes_every_one_of_samvids_predictions(monkeypatch) -> None:
    task = OneTasksPredictions()
    task.rows += [dict(OLDER), dict(THEIRS)]
    task.serve(monkeypatch)
    Studio("http://127.0.0.1:9", "key").replace_predictions(
        7, "samvid-track", [], "samvid-track:flow", 0.9, write_empty=False)
    assert task.rows == [THEIRS]
    assert task.calls == ["GET", "DELETE", "DELETE"]


def test_an_in_place_write_whose_answer_is_lost_is_written_again_over_the_same_prediction(monkeypatch) -> None:
    # Stored, its answer lost: the next try writes the same one again, not a second one.
    task = OneTasksPredictions()
    stored = task.answer

    def first_answer_lost(method: str, path: str, **kwargs):
        answer = stored(method, path, **kwargs)
        if method == "PATCH" and task.calls.count("PATCH") == 1:
            raise StudioError("Label Studio did not answer") from httpx.ReadTimeout("timed out")
        return answer

    task.answer = first_answer_lost  # type: ignore[method-assign]
    task.serve(monkeypatch)
    Studio("http://127.0.0.1:9", "key", retry_delays=(0.01,)).replace_predictions(
        7, "samvid-track", ["new"], "samvid-track:flow", 0.9, write_empty=False)
    assert task.ids() == [1] and task.results() == [["new"]]
    assert list(zip(task.calls, task.paths)) == [
        ("GET", "/api/predictions"), ("PATCH", "/api/predictions/1")] * 2


def test_a_prediction_write_cancelled_while_retried_stops_leaving_what_the_frame_had(monkeypatch) -> None:
    # Written in place, nothing is half done: the cancel stops it at once (a job cancelled
    # while Label Studio is down must not hold its clip for the whole retry, then read
    # failed), and the frame keeps the predictions it had, none of them a second one.
    task = OneTasksPredictions()
    task.rows += [dict(OLDER), dict(THEIRS)]

    def deletes_busy(method: str, path: str) -> None:
        if method == "DELETE":
            raise busy_now()

    task.serve(monkeypatch, deletes_busy)
    studio = Studio("http://127.0.0.1:9", "key", retry_delays=(0.01,) * 5, on_retry=cancelled)
    write_new(studio)
    assert task.calls == ["GET", "PATCH", "DELETE"]
    assert task.ids() == [1, 2, 3] and task.results() == [["old"], ["new"], ["theirs"]]
    # Nothing written yet: the cancel stops it at once.
    down = OneTasksPredictions()
    down.serve(monkeypatch, lambda method, path: (_ for _ in ()).throw(busy_now()))
    write_new(studio)
    assert down.calls == ["GET"]
    # A read is no half-done write: it stops at once.
    down.serve(monkeypatch, lambda method, path: (_ for _ in ()).throw(busy_now()))
    with pytest.raises(Stopped):
        studio.own_predictions(7, "samvid-track")


def test_a_prediction_write_whose_answer_is_lost_then_cancelled_leaves_one_prediction(
        monkeypatch, quick_stop: float) -> None:
    # Label Studio stored the write, its answer timed out, the job was cancelled meanwhile:
    # the cancel stopped it before the next try, and the frame kept two of samvid's. The
    # next try finds the write stored and writes over it.
    task = OneTasksPredictions(earlier=False)
    task.rows.append(dict(THEIRS))
    stored = task.answer

    def first_answer_lost(method: str, path: str, **kwargs):
        answer = stored(method, path, **kwargs)
        if method == "POST":  # the write: stored, its answer lost
            raise StudioError("Label Studio did not answer") from httpx.ReadTimeout("timed out")
        return answer

    task.answer = first_answer_lost  # type: ignore[method-assign]
    task.serve(monkeypatch)
    studio = Studio("http://127.0.0.1:9", "key", retry_delays=(0.01, 0.01), on_retry=cancelled)
    write_new(studio)
    assert task.results() == [["theirs"], ["new"]]
    assert task.calls == ["GET", "POST", "GET", "PATCH", "GET"]  # written over, then a look at the task
    # A write that never left (connection refused) stored nothing: the cancel stops it at once.
    refused = OneTasksPredictions(earlier=False)

    def post_refused(method: str, path: str) -> None:
        if method == "POST":
            raise StudioError("cannot reach Label Studio") from httpx.ConnectError("refused")

    refused.serve(monkeypatch, post_refused)
    write_new(studio)
    assert refused.calls == ["GET", "POST"]
    # Writes that keep failing (its SQLite locked): the cancel takes effect after one more
    # try, not after the whole retry budget (minutes, the clip held by a cancelled job).
    locked = OneTasksPredictions(earlier=False)

    def post_fails(method: str, path: str) -> None:
        if method == "POST":
            error = StudioError("Label Studio failed (500)")
            error.__cause__ = ApiError(status_code=500, headers={}, body="database is locked")
            raise error

    locked.serve(monkeypatch, post_fails)
    studio.retry_delays = (0.01,) * 10
    write_new(studio)
    assert locked.calls.count("POST") == 2


@pytest.mark.parametrize("stop", [KeyboardInterrupt, SystemExit])
def test_a_prediction_write_interrupted_before_its_deletes_makes_no_new_prediction_and_looks_for_none(
        monkeypatch, quick_stop: float, stop: type[BaseException]) -> None:
    # Ctrl-C (or rq's cold stop, a SystemExit in the job) between the write and the deletes:
    # written in place, the frame has no second prediction of samvid's to settle.
    task = OneTasksPredictions()
    task.rows += [dict(OLDER), dict(THEIRS)]
    interrupt = stop()

    def interrupt_once_written(method: str, path: str) -> None:
        # The signal lands as the first delete begins: the write has returned.
        if method == "DELETE":
            raise interrupt

    task.serve(monkeypatch, interrupt_once_written)
    studio = Studio("http://127.0.0.1:9", "key", retry_delays=(0.01,))
    with pytest.raises(stop) as caught:
        studio.replace_predictions(7, "samvid-track", ["new"], "samvid-track:flow", 0.9, write_empty=False)
    assert caught.value is interrupt and caught.value.__context__ is None
    assert task.ids() == [1, 2, 3] and task.results() == [["old"], ["new"], ["theirs"]]
    assert task.calls == ["GET", "PATCH", "DELETE"]
    # Stopped while a new write's answer was awaited, before Label Studio stored it: the
    # looks at the task until STOPPED_WAIT find nothing new, and nothing is deleted.
    unwritten = OneTasksPredictions(earlier=False)
    unwritten.rows.append(dict(THEIRS))

    def interrupt_the_write(method: str, path: str) -> None:
        if method == "POST":
            raise stop

    unwritten.serve(monkeypatch, interrupt_the_write)
    with pytest.raises(stop):
        studio.replace_predictions(7, "samvid-track", ["new"], "samvid-track:flow", 0.9, write_empty=False)
    assert unwritten.results() == [["theirs"]]
    assert unwritten.calls[:2] == ["GET", "POST"] and set(unwritten.calls[2:]) == {"GET"}
    assert 0 < unwritten.timeouts[-1] <= quick_stop  # type: ignore[operator]


def test_a_second_ctrl_c_while_an_interrupted_writes_deletes_are_tried_again_ends_as_the_first(
        monkeypatch, quick_stop: float) -> None:
    # The user pressing Ctrl-C again while the stopped write's cleanup deleted: the stop
    # ended as a traceback of that cleanup, "during handling of the above exception". The
    # cleanup deletes only where a new write's lost answer hid it: the first try's write,
    # stored after the second try's listing, leaves two.
    task = OneTasksPredictions(earlier=False)
    first = KeyboardInterrupt()
    first_write_lands_late(task, first)

    def every_delete_stopped(method: str, path: str) -> None:
        if method == "DELETE":
            raise KeyboardInterrupt

    task.serve(monkeypatch, every_delete_stopped)
    with pytest.raises(KeyboardInterrupt) as caught:
        Studio("http://127.0.0.1:9", "key", retry_delays=(0.01,)).replace_predictions(
            7, "samvid-track", ["new"], "samvid-track:flow", 0.9, write_empty=False)
    assert caught.value is first and caught.value.__context__ is None
    assert task.calls == ["GET", "POST", "GET", "POST", "GET", "DELETE"]  # the second stop ends the deletes
    assert task.results() == [["new"], ["new"]]


def first_write_lands_late(task: OneTasksPredictions, stop: BaseException) -> None:
    """The task's first write times out, Label Studio storing it only after the next try
    listed the task; the second is stored, then ``stop`` is raised before its answer."""
    stored = task.answer
    held: list[dict] = []

    def answer(method: str, path: str, **kwargs):
        if method == "POST" and not held and task.calls.count("POST") == 1:
            held.append(kwargs)
            raise StudioError("Label Studio did not answer") from httpx.ReadTimeout("timed out")
        if method == "POST" and held:
            stored(method, path, **held.pop())
            stored(method, path, **kwargs)
            raise stop
        return stored(method, path, **kwargs)

    task.answer = answer  # type: ignore[method-assign]


def stored_then_stopped(task: OneTasksPredictions, stop: BaseException) -> None:
    """From now on the task's write (a POST or a PATCH) is stored, then ``stop`` is raised
    before its answer."""
    stored = task.answer

    def answer(method: str, path: str, **kwargs):
        reply = stored(method, path, **kwargs)
        if method in ("POST", "PATCH"):
            raise stop
        return reply

    task.answer = answer  # type: ignore[method-assign]


@pytest.mark.parametrize("stop", [KeyboardInterrupt, SystemExit])
def test_a_prediction_write_stopped_while_its_answer_is_awaited_keeps_what_landed_and_no_second_one(
        monkeypatch, stop: type[BaseException]) -> None:
    # Ctrl-C (or rq's cold stop) while Label Studio answered the write: it was stored. A new
    # one is looked for once and kept; another model's is never touched.
    task = OneTasksPredictions(earlier=False)
    task.rows.append(dict(THEIRS))
    interrupt = stop()
    stored_then_stopped(task, interrupt)
    task.serve(monkeypatch)
    studio = Studio("http://127.0.0.1:9", "key", retry_delays=(0.01,))
    with pytest.raises(stop) as caught:
        studio.replace_predictions(7, "samvid-track", ["new"], "samvid-track:flow", 0.9, write_empty=False)
    assert caught.value is interrupt
    assert task.results() == [["theirs"], ["new"]]
    assert task.calls == ["GET", "POST", "GET"]  # one look, no rewrite
    # One written in place: the frame has what it had, that one rewritten, and nothing is
    # looked for.
    patched = OneTasksPredictions()
    patched.rows += [dict(OLDER), dict(THEIRS)]
    stored_then_stopped(patched, interrupt)
    patched.serve(monkeypatch)
    with pytest.raises(stop) as caught:
        studio.replace_predictions(7, "samvid-track", ["new"], "samvid-track:flow", 0.9, write_empty=False)
    assert caught.value is interrupt and caught.value.__context__ is None
    assert patched.ids() == [1, 2, 3] and patched.results() == [["old"], ["new"], ["theirs"]]
    assert patched.calls == ["GET", "PATCH"]


@pytest.mark.parametrize(("method", "failure"), [
    ("GET", busy_now), ("GET", KeyboardInterrupt), ("GET", ValueError), ("DELETE", KeyboardInterrupt)],
    ids=["look-failed", "ctrl-c-again-while-looking", "look-broke", "ctrl-c-again-while-deleting"])
def test_a_prediction_write_stopped_while_its_answer_is_awaited_ends_with_that_stop_whatever_its_cleanup_meets(
        monkeypatch, quick_stop: float, method: str, failure: Callable[[], BaseException]) -> None:
    # Label Studio down, or the user pressing Ctrl-C again, while the stopped write is cleaned
    # up: the stop goes on as the one first raised, not as a traceback of the cleanup; what
    # is left undone is left to the next propagation of the clip. The first try's write,
    # stored late, gives the cleanup one to delete.
    task = OneTasksPredictions(earlier=False)
    interrupt = KeyboardInterrupt()
    first_write_lands_late(task, interrupt)

    def cleanup_fails(asked: str, path: str) -> None:
        if asked == method and task.calls.count("POST") == 2:
            raise failure()

    task.serve(monkeypatch, cleanup_fails)
    studio = Studio("http://127.0.0.1:9", "key", retry_delays=(0.01,))
    with pytest.raises(KeyboardInterrupt) as caught:
        studio.replace_predictions(7, "samvid-track", ["new"], "samvid-track:flow", 0.9, write_empty=False)
    assert caught.value is interrupt and caught.value.__context__ is None
    if method == "GET":
        assert task.calls == ["GET", "POST", "GET", "POST", "GET"]
    else:  # no delete after a second Ctrl-C
        assert task.calls == ["GET", "POST", "GET", "POST", "GET", "DELETE"]
    assert task.results() == [["new"], ["new"]]


def write_stopped(studio: Studio, stop: type[BaseException] = KeyboardInterrupt) -> None:
    with pytest.raises(stop):
        studio.replace_predictions(7, "samvid-track", ["new"], "samvid-track:flow", 0.9, write_empty=False)


def first_write_lost(task: OneTasksPredictions, *, stored: bool) -> None:
    """The task's first write times out (its answer lost), ``stored`` or not; later ones are
    answered by ``answer`` as it was."""
    answer = task.answer

    def first_lost(method: str, path: str, **kwargs):
        if method == "POST" and "POST" not in task.calls[:-1]:
            if stored:
                answer(method, path, **kwargs)
            raise StudioError("Label Studio did not answer") from httpx.ReadTimeout("timed out")
        return answer(method, path, **kwargs)

    task.answer = first_lost  # type: ignore[method-assign]


def test_a_write_label_studio_stores_after_its_client_was_stopped_is_found_and_the_frame_keeps_one(
        monkeypatch, quick_stop: float) -> None:
    # A busy Label Studio goes on with a write after its client hung up: the one look right
    # after the Ctrl-C found nothing new, then the write landed, and the frame kept two of
    # samvid's predictions. Looked at again, it is found and kept.
    task = OneTasksPredictions(earlier=False)
    task.rows.append(dict(THEIRS))
    answer = task.answer
    held: list[dict] = []

    def stored_late(method: str, path: str, **kwargs):
        if method == "POST":
            held.append(kwargs)
            raise KeyboardInterrupt  # while Label Studio works on it
        if method == "GET" and held and task.calls.count("GET") == 3:  # after the first look
            answer("POST", path, **held.pop())
        return answer(method, path, **kwargs)

    task.answer = stored_late  # type: ignore[method-assign]
    task.serve(monkeypatch)
    write_stopped(Studio("http://127.0.0.1:9", "key"))
    assert task.results() == [["theirs"], ["new"]]
    assert task.calls == ["GET", "POST", "GET", "GET"]
    # One that never lands is looked for until STOPPED_WAIT from the stop, not longer, and
    # nothing is deleted.
    never = OneTasksPredictions(earlier=False)
    never.rows.append(dict(THEIRS))
    never.serve(monkeypatch, lambda method, path: (_ for _ in ()).throw(KeyboardInterrupt()) if method == "POST"
                else None)
    began = time.monotonic()
    write_stopped(Studio("http://127.0.0.1:9", "key"))
    assert time.monotonic() - began < 2 * quick_stop
    assert never.results() == [["theirs"]]
    assert never.calls[:2] == ["GET", "POST"] and never.calls[2:] == ["GET"] * len(never.calls[2:])
    assert len(never.calls[2:]) > 2  # looked at again, not once


def locked_writes(method: str, path: str) -> None:
    """Label Studio's SQLite locked: every write answered 500, nothing stored."""
    if method == "POST":
        error = StudioError("Label Studio failed (500)")
        error.__cause__ = ApiError(status_code=500, headers={}, body="database is locked")
        raise error


@pytest.mark.parametrize("stop", ["cancel", "ctrl-c-in-back-off"])
def test_a_stop_after_a_write_label_studio_answered_with_an_error_looks_once_and_ends_at_once(
        monkeypatch, caplog: pytest.LogCaptureFixture, stop: str) -> None:
    # A job cancelled while Label Studio failed every write waited 2 s after its one more
    # try, looking at the failing Label Studio 5 more times: an answered write is stored or
    # not by then, and one look tells which. STOPPED_WAIT and STOPPED_POLL as they ship.
    task = OneTasksPredictions(earlier=False)
    task.rows.append(dict(THEIRS))
    task.serve(monkeypatch, locked_writes)
    if stop == "cancel":
        studio = Studio("http://127.0.0.1:9", "key", retry_delays=(0.01,) * 5, on_retry=cancelled)
        raised: type[BaseException] = Stopped
        calls = ["GET", "POST", "GET", "POST", "GET"]  # one more try, then one look
    else:
        ctrl_c_in_back_off(monkeypatch, 1.0)
        studio, raised = Studio("http://127.0.0.1:9", "key", retry_delays=(1.0,)), KeyboardInterrupt
        calls = ["GET", "POST", "GET"]
    began = time.monotonic()
    with caplog.at_level(logging.INFO, logger="samvid.studio.client"), pytest.raises(raised):
        studio.replace_predictions(7, "samvid-track", ["new"], "samvid-track:flow", 0.9, write_empty=False)
    assert time.monotonic() - began < client.STOPPED_POLL
    assert task.calls == calls
    assert task.results() == [["theirs"]]
    assert "settling" not in caplog.text


def test_a_stop_while_a_writes_answer_is_awaited_looks_for_it_until_the_cleanups_deadline_and_says_so(
        monkeypatch, caplog: pytest.LogCaptureFixture, quick_stop: float) -> None:
    # The one stop after which Label Studio may still store the write: it is looked for
    # again and again, with a line that says why the stop takes seconds (it was silent), and
    # the last look begins STOPPED_POLL before the deadline (the poll gave up 2 of them early).
    task = OneTasksPredictions(earlier=False)
    task.rows.append(dict(THEIRS))
    task.serve(monkeypatch, lambda method, path: (_ for _ in ()).throw(KeyboardInterrupt()) if method == "POST"
               else None)
    began = time.monotonic()
    with caplog.at_level(logging.INFO, logger="samvid.studio.client"):
        write_stopped(Studio("http://127.0.0.1:9", "key"))
    assert time.monotonic() - began < 2 * quick_stop
    assert task.calls[:2] == ["GET", "POST"] and task.calls[2:] == ["GET"] * len(task.calls[2:])
    assert len(task.calls[2:]) > 2
    last = task.timeouts[-1]
    assert last is not None and 0 < last <= client.STOPPED_POLL
    said = [r.getMessage() for r in caplog.records if r.name == "samvid.studio.client"]
    assert len(said) == 1 and said[0].startswith(
        "stopped mid-write of the prediction of task 7: settling it with Label Studio (looking for it up to 0.")
    assert task.results() == [["theirs"]]


def ctrl_c_in_back_off(monkeypatch, delay: float) -> None:
    """A Ctrl-C in the wait of ``delay`` seconds before a retry (time.sleep raises it)."""
    sleep = time.sleep

    def sleep_or_stop(seconds: float) -> None:
        if seconds == delay:
            raise KeyboardInterrupt
        sleep(seconds)

    monkeypatch.setattr(time, "sleep", sleep_or_stop)


@pytest.mark.parametrize("stored", [True, False], ids=["lost-write-stored", "lost-write-not-stored"])
def test_a_ctrl_c_in_the_wait_before_a_writes_retry_keeps_one_prediction(
        monkeypatch, quick_stop: float, stored: bool) -> None:
    # The likeliest Ctrl-C: on reading "... did not answer within 60 s; retry 1 of N in 1.0 s".
    # Label Studio had stored the write whose answer was lost, the stop came between tries,
    # where nothing cleaned up: the next propagation found a prediction it did not know of.
    task = OneTasksPredictions(earlier=False)
    task.rows.append(dict(THEIRS))
    first_write_lost(task, stored=stored)
    task.serve(monkeypatch)
    ctrl_c_in_back_off(monkeypatch, 1.0)
    write_stopped(Studio("http://127.0.0.1:9", "key", retry_delays=(1.0,)))
    assert task.results() == ([["theirs"], ["new"]] if stored else [["theirs"]])
    assert task.calls == ["GET", "POST", "GET"]  # looked for once, nothing deleted


def test_a_ctrl_c_in_a_writes_second_try_keeps_the_first_tries_lost_write_as_the_frames_one(
        monkeypatch, quick_stop: float) -> None:
    # The first try's write was stored, its answer lost: the second try writes over it in
    # place instead of writing a second one. Ctrl-C in that write, not stored: the first
    # try's write is found and kept.
    task = OneTasksPredictions(earlier=False)
    first_write_lost(task, stored=True)
    task.serve(monkeypatch, lambda method, path: (_ for _ in ()).throw(KeyboardInterrupt())
               if method == "PATCH" else None)
    write_stopped(Studio("http://127.0.0.1:9", "key", retry_delays=(0.01,)))
    assert task.results() == [["new"]]
    assert task.calls == ["GET", "POST", "GET", "PATCH", "GET"]
    assert task.paths[3] == f"/api/predictions/{task.last_id}"
    # The second write stored too: still the one prediction.
    both = OneTasksPredictions(earlier=False)
    first_write_lost(both, stored=True)
    stored_then_stopped(both, KeyboardInterrupt())
    both.serve(monkeypatch)
    write_stopped(Studio("http://127.0.0.1:9", "key", retry_delays=(0.01,)))
    assert both.ids() == [both.last_id] and both.results() == [["new"]]


def test_the_cleanup_after_a_stop_waits_on_a_frozen_label_studio_stopped_wait_in_all(
        monkeypatch, quick_stop: float) -> None:
    # Ctrl-C in a write, Label Studio answering no delete after it: each of the cleanup's
    # calls waited STOPPED_WAIT, a look plus a delete per earlier prediction (9 s for 3),
    # while a worker stopped cold is killed 10 s after the stop. The first try's write,
    # stored late, gives the cleanup one to delete.
    task = OneTasksPredictions(earlier=False)
    first_write_lands_late(task, KeyboardInterrupt())

    def frozen_from_the_stop(method: str, path: str) -> None:
        if task.calls.count("POST") < 2:
            return
        if method == "GET":
            sleep(quick_stop / 4)  # the look: slow
        elif method == "DELETE":
            sleep(task.timeouts[-1])  # type: ignore[arg-type]
            raise StudioError("Label Studio did not answer") from httpx.ReadTimeout("timed out")

    sleep = time.sleep
    task.serve(monkeypatch, frozen_from_the_stop)
    began = time.monotonic()
    write_stopped(Studio("http://127.0.0.1:9", "key", timeout=60, retry_delays=(0.01,)))
    assert time.monotonic() - began < 2 * quick_stop
    assert task.calls == ["GET", "POST", "GET", "POST", "GET", "DELETE"]  # no delete after an unanswered one
    # The client's timeout before the stop; what is left of STOPPED_WAIT since, call by call.
    assert task.timeouts[:4] == [None] * 4
    look, delete = task.timeouts[4:]
    assert look is not None and delete is not None
    assert look <= quick_stop and 0 < delete <= quick_stop * 3 / 4
    assert len(task.rows) == 2  # nothing deleted: left to the clip's next propagation


@contextmanager
def studio_stopping_its_caller_mid_write(*, look_answered: bool) -> Iterator[tuple[str, list[dict]]]:
    """A Label Studio of one task, its one prediction another model's, that stores a written
    prediction, then, before it answers, sends its caller's main thread a SIGINT (Ctrl-C);
    ``look_answered``: whether it answers a listing of the predictions after that, or
    leaves it unanswered. Yields its URL and the task's predictions."""
    rows: list[dict] = [dict(THEIRS)]  # none of samvid's: the write is a new one
    written = threading.Event()
    ended = threading.Event()
    caller = threading.main_thread().ident
    assert caller is not None

    class Handler(http.server.BaseHTTPRequestHandler):
        def _reply(self, status: int, body: object) -> None:
            content = b"" if body is None else json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(content)))
            self.end_headers()
            self.wfile.write(content)

        def do_GET(self) -> None:
            if written.is_set() and not look_answered:
                ended.wait(30)
                return
            self._reply(200, rows)

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            rows.append({"id": 6, "model_version": body["model_version"], "result": body["result"]})
            written.set()
            signal.pthread_kill(caller, signal.SIGINT)
            ended.wait(30)  # never answered: the caller has stopped

        def do_DELETE(self) -> None:
            rows[:] = [p for p in rows if p["id"] != int(self.path.rstrip("/").rsplit("/", 1)[1])]
            self._reply(204, None)

        def log_message(self, *args: object) -> None:
            pass

    try:
        with http_server(Handler) as url:
            yield url, rows
    finally:
        ended.set()


def test_a_ctrl_c_while_label_studio_answers_a_write_leaves_the_frame_one_prediction_and_stops_soon(
        quick_stop: float) -> None:
    # A real Ctrl-C reaches the client inside httpx, waiting for the answer. Python's own
    # handler for the test: a run started in the background has SIGINT ignored (it skipped).
    if threading.current_thread() is not threading.main_thread():
        pytest.skip("a signal handler can only be set in the main thread")
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        _ctrl_c_mid_write_checks()
    finally:
        signal.signal(signal.SIGINT, previous)


def _ctrl_c_mid_write_checks() -> None:
    with studio_stopping_its_caller_mid_write(look_answered=True) as (url, rows):
        with pytest.raises(KeyboardInterrupt):
            Studio(url, "key").replace_predictions(7, "samvid-track", ["new"], "samvid-track:flow", 0.9,
                                                   write_empty=False)
        assert [p["result"] for p in rows] == [["theirs"], ["new"]]
    # Label Studio not answering the look after it: the stop waits seconds for it, not the
    # client's timeout (a minute), and deletes nothing.
    with studio_stopping_its_caller_mid_write(look_answered=False) as (url, rows):
        began = time.monotonic()
        with pytest.raises(KeyboardInterrupt):
            Studio(url, "key", timeout=60).replace_predictions(7, "samvid-track", ["new"], "samvid-track:flow",
                                                               0.9, write_empty=False)
        assert time.monotonic() - began < 10
        assert [p["result"] for p in rows] == [["theirs"], ["new"]]


def test_a_title_with_surrounding_spaces_is_one_project_however_often_it_is_asked_for(studio: Studio) -> None:
    # Label Studio strips a title: none was then titled as asked, and each call made one more
    # (samvid up --project " demo " ran after run), until every command refused the title.
    first, made = studio.get_or_create_project("  spaced title  ", "<View></View>")
    again, made_again = studio.get_or_create_project("  spaced title  ", "<View></View>")
    assert (made, made_again) == (True, False) and again.id == first.id
    assert studio.project("spaced title").id == first.id


def test_a_label_studio_that_is_reached_but_answers_too_slowly_is_said_to_be_slow_not_unreachable() -> None:
    # A busy Label Studio (its SQLite locked, a long listing) was said to be unreachable:
    # "is it running? set LABEL_STUDIO_URL" sent the user to check an address that was right.
    import socket

    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(4)  # connections are accepted by the kernel, never answered
        studio = Studio(f"http://127.0.0.1:{silent.getsockname()[1]}", "token", timeout=0.5)
        with pytest.raises(StudioError) as caught:
            studio.find_project("some project")
    message = caught.value.message
    assert "did not answer the request to list projects within 0.5 s" in message
    assert "is it running" not in message and "set LABEL_STUDIO_URL" not in message


def test_imports_naming_one_label_studio_by_two_addresses_take_turns():
    held, waited = threading.Event(), []

    def first() -> None:
        with machine_lock("importing clip a", "http://localhost:8080", "clip", "1", "a"):
            held.set()
            time.sleep(0.5)

    worker = threading.Thread(target=first)
    worker.start()
    held.wait(5)
    start = time.monotonic()
    with machine_lock("importing clip a", "http://127.0.0.1:8080/", "clip", "1", "a"):
        waited.append(time.monotonic() - start)
    worker.join()
    assert waited[0] >= 0.3


@contextmanager
def recording_server() -> Iterator[tuple[str, list[tuple[int, str, str]]]]:
    """A keep-alive server answering every request with an empty list and a session cookie;
    yields its URL and, per request, (the caller's port, its Authorization, its Cookie)."""
    seen: list[tuple[int, str, str]] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # connections stay open for the next request

        def do_GET(self) -> None:
            seen.append((self.client_address[1], self.headers.get("Authorization", ""),
                         self.headers.get("Cookie", "")))
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Set-Cookie", "sessionid=from-one-call; Path=/")
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"[]")

        def log_message(self, *args: object) -> None:
            pass

    with http_server(Handler) as url:
        yield url, seen


def test_studios_of_one_address_and_key_share_their_connections() -> None:
    # The backend makes a Studio per opened frame: each one's SSL context and connection
    # cost more than the call it made.
    with recording_server() as (url, seen):
        Studio(url, "shared-key").list_predictions(1)
        Studio(url, "shared-key").list_predictions(2)
    [(first_port, _, _), (second_port, _, _)] = seen
    assert second_port == first_port


def test_another_key_gets_its_own_connections_and_sends_its_own_key() -> None:
    # /setup adopts a new token: the calls after it are the new key's alone.
    with recording_server() as (url, seen):
        Studio(url, "old-key").list_predictions(1)
        Studio(url, "new-key").list_predictions(1)
        Studio(url, "old-key", timeout=5).list_predictions(1)
    [(old_port, old_auth, _), (new_port, new_auth, _), (other_timeout_port, _, _)] = seen
    assert new_port != old_port and other_timeout_port not in (old_port, new_port)
    assert (old_auth, new_auth) == ("Token old-key", "Token new-key")


def test_a_forked_child_opens_its_own_connection_and_leaves_its_parents_alone() -> None:
    # gunicorn's workers fork after preload: one socket read by two processes mixes answers.
    with recording_server() as (url, seen):
        Studio(url, "forked-key").list_predictions(1)
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                Studio(url, "forked-key").list_predictions(2)
                code = 0
            finally:
                os._exit(code)  # never back into pytest
        assert os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 0
        Studio(url, "forked-key").list_predictions(3)
    [(parent_port, _, _), (child_port, _, _), (parent_again, _, _)] = seen
    assert child_port != parent_port
    assert parent_again == parent_port


def test_no_cookie_of_one_call_is_sent_with_a_later_one() -> None:
    # The key alone authorizes a call. A client shared by the process would carry one call's
    # cookie (a session) into every later call of every job and thread.
    with recording_server() as (url, seen):
        studio = Studio(url, "cookie-key")
        studio.list_predictions(1)
        studio.list_predictions(2)
        Studio(url, "cookie-key").list_predictions(3)
    assert [cookie for _, _, cookie in seen] == ["", "", ""]


def test_a_call_after_a_pause_is_not_sent_on_a_connection_the_server_is_closing() -> None:
    # A server closes idle connections (gunicorn after 2 s); one whose close crosses the next
    # request drops it unanswered, and a write is never re-sent: "cannot reach Label Studio".
    # This one drops any request that comes on a connection idle for over 1.1 s.
    class ClosesIdleConnections(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        answered_at: float | None = None

        def do_GET(self) -> None:
            if self.answered_at is not None and time.monotonic() - self.answered_at > 1.1:
                self.close_connection = True  # closed as the request came: no answer
                return
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"[]")
            self.answered_at = time.monotonic()

        def log_message(self, *args: object) -> None:
            pass

    with http_server(ClosesIdleConnections) as url:
        studio = Studio(url, "idle-key")
        assert studio.request("GET", "/api/tasks/1/predictions/", "list predictions") == []
        time.sleep(1.3)
        assert studio.request("GET", "/api/tasks/2/predictions/", "list predictions") == []
