"""The one layer over Label Studio's API: a thin, typed wrapper of ``label-studio-sdk``.

Every call, SDK or raw HTTP, goes through ``Studio._errors``, which turns "Label Studio is
not there" and "Label Studio said no" into one ``StudioError`` with a message that says
what to fix. The commands (import, up, prelabel, propagate, export) and the backend's
jobs share this class, so they fail alike.

Retries: reads (``_read``: listings, gets) and raw ``request``s are tried again after
each of ``retry_delays`` while Label Studio is unreachable or answers 5xx; a refusal
(4xx) never is. Single writes through the SDK (create a project, tasks, a prediction)
are not retried: a write whose answer was lost would be made twice. The SDK itself
re-sends any call after a lost answer, a 5xx, 408, 409 or 429, so every write passes it
``ONCE`` (``max_retries: 0``).
``replace_predictions`` retries its whole read-write-delete instead.

Timeouts: one ``timeout`` per ``Studio`` (60 s unless given) for SDK and raw calls alike,
but for the cleanup after a stopped prediction write (``STOPPED_WAIT``: the user is stopping).

Connections: the calls (SDK and raw) of every ``Studio`` of one process with one URL, key
and timeout go through one ``httpx.Client`` (``_http_client``): the backend makes a ``Studio``
per opened frame, and a new client cost its SSL context (~27 ms) each time, as did each
raw call.
"""

from __future__ import annotations

import base64
import fcntl
import hashlib
import json
import logging
import os
import re
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from http.cookiejar import CookieJar, DefaultCookiePolicy
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import httpx
from label_studio_sdk.core.api_error import ApiError
from label_studio_sdk.core.request_options import RequestOptions

from samvid.errors import BadRequest, ConfigError, NotFound, SamvidError, StudioError
from samvid.redact import server_url_for_messages, text_without_url_password, url_without_userinfo
from samvid.settings import studio_access
from samvid.studio.frame_locks import canonical_studio_url
from samvid.studio.protocol import project_id_in

log = logging.getLogger(__name__)
T = TypeVar("T")

TASK_BATCH = 200  # tasks per import call: ~1 s per batch on SQLite, small enough to resume
# request_options of every SDK write: the SDK's own retries would make a write twice
# when its answer was lost (Label Studio saved it, then a proxy answered 502).
ONCE: RequestOptions = {"max_retries": 0}
# Seconds the whole cleanup after a stopped prediction write may wait on Label Studio, from
# the stop: the user is stopping (and a worker stopped cold may be killed 10 s later).
STOPPED_WAIT = 3.0
# Seconds between its looks at the task while the write is not seen: a busy Label Studio
# stores a write after its client hung up.
STOPPED_POLL = 0.5


@dataclass(frozen=True)
class Project:
    id: int
    title: str
    label_config: str


@dataclass(frozen=True)
class Task:
    id: int
    data: dict[str, Any]


class Studio:
    """One Label Studio server, reached with an API token (``Authorization: Token``)."""

    def __init__(self, url: str | None = None, api_key: str | None = None,
                 *, timeout: float = 60.0, retry_delays: tuple[float, ...] = (),
                 on_retry: Callable[[str], None] | None = None) -> None:
        """``retry_delays``: back-off of ``request`` while Label Studio is unreachable or
        answers 5xx (background jobs ride out a restart); a refusal is never retried.
        ``on_retry`` hears why it waits (a job shows it on its record)."""
        self.retry_delays = retry_delays
        self.on_retry = on_retry
        self.timeout = timeout
        url, key = studio_access(url, api_key)  # the URL is checked there
        self.url = url.rstrip("/")
        # The URL as messages and the log say it: a user:password in it (a proxy's basic
        # auth) is a secret, and errors are printed, logged and kept on job records.
        self.shown_url = server_url_for_messages(self.url)
        if not key:
            raise StudioError("no Label Studio API key: set LABEL_STUDIO_API_KEY or --api-key "
                              "(Label Studio: Account & Settings > Access Token)")
        if not key.isascii():  # a header value: httpx failed every call with UnicodeEncodeError
            odd = next(c for c in key if not c.isascii())
            raise ConfigError(f"the Label Studio API key holds {odd!r}, which no token has (a quote or "
                              "letter pasted with it?): copy the token again from Label Studio "
                              "(Account & Settings > Access Token)")
        self.api_key = key
        # What calls go to. A user:password@ httpx sends as Basic auth, which replaces the
        # "Authorization: Token" header (a request has one): Label Studio, which reads only
        # the token, refused every call with the key that was given.
        self.api_url = url_without_userinfo(self.url)
        # Imported here: the SDK's client loads its whole API (a second of imports) that
        # every process importing samvid's app paid at start, Label Studio configured or not.
        from label_studio_sdk import LabelStudio

        self.sdk = LabelStudio(base_url=self.api_url, api_key=key, timeout=timeout,
                               httpx_client=_http_client(self.api_url, key, timeout))

    # -- errors ---------------------------------------------------------------------------

    @contextmanager
    def _errors(self, what: str, urls: Sequence[str] = ()) -> Iterator[None]:
        """``urls``: addresses besides Label Studio's that the call sends (an ML backend's):
        Label Studio's error body may quote them, with their password, as they were sent."""
        def said(text: str) -> str:
            for url in (self.url, *urls):
                text = text_without_url_password(text, url)
            return text

        try:
            yield
        except (httpx.ReadTimeout, httpx.WriteTimeout) as exc:
            # Reached, but slow to answer (busy, its SQLite locked): not a wrong address.
            raise StudioError(f"Label Studio at {self.shown_url} did not answer the request to {what} "
                              f"within {self.timeout:g} s ({type(exc).__name__}); it may be busy: "
                              "see Label Studio's log" + ("" if self.retry_delays else ", then try again")) from exc
        except httpx.TransportError as exc:
            raise StudioError(f"cannot reach Label Studio at {self.shown_url} ({type(exc).__name__}: "
                              f"{said(str(exc))}); is it running? set LABEL_STUDIO_URL") from exc
        except ApiError as exc:
            if exc.status_code is not None and 300 <= exc.status_code < 400:
                where = server_url_for_messages(said((exc.headers or {}).get("location") or "another address"))
                raise StudioError(f"Label Studio at {self.shown_url} redirects to {where}: set "
                                  "LABEL_STUDIO_URL to the address it redirects to") from exc
            if exc.status_code is not None and 200 <= exc.status_code < 300:
                # Success, but not Label Studio's JSON (the SDK turns that into an ApiError):
                # another server at that address (a web page, a proxy's login form).
                raise self._not_label_studio(what, exc.body, said) from exc
            if exc.status_code == 401:
                # The key may come from --api-key or /setup too: named all, not the variable alone.
                raise StudioError(f"Label Studio at {self.shown_url} refused the API key (401): check the key "
                                  "given (a command's --api-key, LABEL_STUDIO_API_KEY, or the token "
                                  "sent to /setup; a legacy token needs "
                                  "LABEL_STUDIO_ENABLE_LEGACY_API_TOKEN=true)" + self._userinfo_unsent()) from exc
            if exc.status_code in (502, 503, 504):
                # A proxy's answer: Label Studio behind it did not answer, and logged nothing.
                raise StudioError(f"Label Studio at {self.shown_url} did not answer the request to {what} "
                                  f"({exc.status_code}: {_brief(exc.body, hide=said)}): a proxy before it got no "
                                  "answer from it; is Label Studio running?") from exc
            if exc.status_code is not None and exc.status_code >= 500:
                # Not a refusal of what was asked: Label Studio failed.
                raise StudioError(f"Label Studio at {self.shown_url} failed to {what} ({exc.status_code}: "
                                  f"{_brief(exc.body, hide=said)}); see Label Studio's log, then try again") from exc
            raise StudioError(f"Label Studio refused to {what} "
                              f"({exc.status_code}: {_brief(exc.body, hide=said)})") from exc

    def _userinfo_unsent(self) -> str:
        """What a 401 means where the URL held ``user:password@``: a proxy's basic auth
        wanted it, and one Authorization header cannot carry it and the key."""
        if "@" not in urlsplit(self.url).netloc:  # not api_url != url: geturl() lowercases "HTTP://"
            return ""
        return ("; the URL's user:password@ is not sent, as it would replace the key in the one "
                "Authorization header: a proxy asking for basic auth must let samvid's calls through on the key")

    def _not_label_studio(self, what: str, body: object,
                          said: Callable[[str], str] | None = None) -> StudioError:
        hide = said or partial(text_without_url_password, url=self.url)
        return StudioError(f"{self.shown_url} answered the request to {what} with something that "
                           f"is not Label Studio's API ({_brief(body, 80, hide) if body else 'an empty answer'}): set "
                           "LABEL_STUDIO_URL to Label Studio's address")

    def _call(self, what: str, fn: Callable[[], T], urls: Sequence[str] = ()) -> T:
        """One SDK call, not retried here (writes pass ``request_options=ONCE``); ``urls``:
        as ``_errors`` takes them."""
        with self._errors(what, urls):
            return fn()

    def _read(self, what: str, fn: Callable[[], T]) -> T:
        """One SDK read, retried like ``request`` while Label Studio is down or failing."""
        return self.retrying(f"Label Studio failed to {what}", _transient, lambda: self._call(what, fn))

    def request(self, method: str, path: str, what: str, *, urls: Sequence[str] = (), **kwargs: Any) -> Any:
        """A raw API call for what the SDK does not cover; JSON reply or None. ``urls``: as
        ``_errors`` takes them."""
        return self.retrying(f"Label Studio failed to {what}", _transient,
                             lambda: self._request_once(method, path, what, urls=urls, **kwargs))

    def retrying(self, what: str, transient: Callable[[SamvidError], bool], fn: Callable[[], T],
                 *, half_done: Callable[[], bool] | None = None) -> T:
        """``fn()``, called again after each of ``retry_delays`` while it fails with a
        ``transient`` error; each wait is logged and told to ``on_retry``.

        ``half_done()``: whether ``fn`` has begun what must not be left half done (a write,
        then the deletes after it): from then on an ``on_retry`` that stops the caller (a job
        cancelled meanwhile) takes effect after one more try of ``fn``, which finishes the
        write where Label Studio answers again; stopped between tries, the frame kept two
        predictions, and held back for every try, a cancel waited out the whole retry budget
        (minutes, its clip held) while Label Studio kept failing. Before, it stops at once."""
        stopped: BaseException | None = None
        for attempt, delay in enumerate((*self.retry_delays, None), start=1):
            try:
                done = fn()
            except SamvidError as exc:
                if stopped is not None or delay is None or not transient(exc):
                    if stopped is not None:
                        raise stopped from exc  # cancelled: the job reads so, not failed
                    raise
                text = f"{what} ({exc.message}); retry {attempt} of {len(self.retry_delays)} in {delay:.1f} s"
                log.warning("%s", text)
                if self.on_retry is not None:
                    try:
                        self.on_retry(text)
                    except BaseException as stop:  # noqa: BLE001 - raised once fn is done
                        if half_done is None or not half_done():
                            raise
                        stopped = stop
                time.sleep(delay)
            else:
                if stopped is not None:
                    raise stopped
                return done
        raise AssertionError("unreachable")

    def _request_once(self, method: str, path: str, what: str, *, timeout: float | None = None,
                      urls: Sequence[str] = (), **kwargs: Any) -> Any:
        """One raw call; ``timeout``: a shorter wait than the client's, for this call only;
        ``urls``: as ``_errors`` takes them."""
        headers = {"Authorization": f"Token {self.api_key}"}
        with self._errors(what, urls):
            reply = _http_client(self.api_url, self.api_key, self.timeout).request(
                method, f"{self.api_url}{path}", headers=headers,
                timeout=self.timeout if timeout is None else timeout, **kwargs)
            # A redirect is not success either: its empty body would read as "no data".
            if reply.status_code >= 300:
                raise ApiError(status_code=reply.status_code, headers=dict(reply.headers),
                               body=reply.text)
            if not reply.content:
                return None
            try:
                return reply.json()
            except ValueError:
                raise ApiError(status_code=reply.status_code, headers=dict(reply.headers),
                               body=reply.text) from None

    # -- connection -----------------------------------------------------------------------

    def check(self) -> str:
        """Fails with a clear StudioError unless the server answers and takes the token."""
        # A raw call: the SDK retries refused connections with back-off (~3 s lost).
        try:
            user = self.request("GET", "/api/current-user/whoami", "identify the API key's user")
        except StudioError as exc:
            if not_found(exc):  # every Label Studio has this route: the URL is another server's
                raise StudioError(f"{self.shown_url} has no Label Studio API (404 on /api/current-user/whoami): "
                                  "set LABEL_STUDIO_URL to Label Studio's address, not the samvid "
                                  "backend's or a page's") from exc
            raise
        if not isinstance(user, dict):  # an empty or other answer: some other server
            raise self._not_label_studio("identify the API key's user", user)
        return str(user.get("email") or user.get("username") or "")

    # -- projects -------------------------------------------------------------------------

    def find_project(self, title: str) -> Project | None:
        """The project titled exactly ``title``, None if there is none. Label Studio lets two
        projects share a title; choosing one of them would export, import into or label
        the wrong one, so that is refused with their ids."""
        same = self.projects_titled(title)
        if len(same) > 1:
            ids = ", ".join(str(p.id) for p in same)
            raise BadRequest(f"{len(same)} projects are titled {title!r} (ids {ids}): give the project's id")
        return same[0] if same else None

    def the_project_titled(self, title: str) -> Project | None:
        """The project titled exactly ``title`` that samvid import and samvid up add to, None
        if there is none; two of that title are refused with what those commands can do
        (they take titles only: find_project's remedy, the project's id, is not one)."""
        same = self.projects_titled(title)
        if len(same) > 1:
            raise BadRequest(f"{len(same)} projects are titled {title!r} (ids "
                             f"{', '.join(str(p.id) for p in same)}): samvid finds the project by its "
                             "title; rename or delete all but one of them in Label Studio, or give "
                             "--project another title")
        return same[0] if same else None

    def projects_titled(self, title: str) -> list[Project]:
        """Every project titled exactly ``title``, in id order."""
        projects: list[Any] = self._read("list projects", lambda: list(self.sdk.projects.list(title=title)))
        same = [p for p in projects if p.title == title]  # the title filter is "contains"
        return sorted((Project(_id(p.id), p.title, p.label_config or "") for p in same), key=lambda p: p.id)

    def project_id(self, value: str) -> int:
        """A project given by id or by exact title (as the commands' --project takes it)."""
        return self.project(value).id

    def project(self, value: str | int) -> Project:
        """A project given by id or by exact title, with its labeling config.

        Digits are an id first; a project titled with digits (Label Studio's UI allows it)
        is found by its title when no project has that id. Surrounding spaces are
        dropped, as Label Studio (and ``samvid import``) drop them from a title.
        """
        value = str(value).strip()
        project_id = project_id_in(value)
        if project_id is None:
            found = self.find_project(str(value))
            if found is None:
                raise NotFound(f"no project titled {value!r} in Label Studio at {self.shown_url}")
            return found
        try:
            p = self._read(f"read project {project_id}", lambda: self.sdk.projects.get(id=project_id))
        except StudioError as exc:
            if not not_found(exc):
                raise
            found = self.find_project(str(value))
            if found is None:
                raise NotFound(f"no project with id or title {str(value)!r} in Label Studio at {self.shown_url}") from exc
            return found
        return Project(_id(p.id), p.title or "", p.label_config or "")

    def get_or_create_project(self, title: str, label_config: str) -> tuple[Project, bool]:
        """The project titled ``title``, created with ``label_config`` if there is none;
        True when this call made it.

        Parallel imports into one new title (a script's ``&``) must end in one project:
        on one machine they take turns here (a file lock per Label Studio and title), so
        none sees another's project half made. Across machines only the rule below holds:
        each keeps the first project of the title and deletes its own if it is not it.

        Surrounding spaces are dropped, as Label Studio drops them: kept, no project had
        the title asked for, and every call (each ``samvid up --project " demo "``) made one."""
        title = title.strip()
        with machine_lock(f"creating project {title!r}", self.url, "project", title):
            found = self.the_project_titled(title)
            if found is not None:
                return found, False
            # A refusal's validation errors say what in the labeling config it rejected.
            p = self._call(f"create project {title!r}",
                           lambda: self.sdk.projects.create(title=title, label_config=label_config,
                                                            request_options=ONCE))
            mine = Project(_id(p.id), title, p.label_config or label_config)
            # More than one now: Label Studio made two of this one create (its SQLite
            # middleware re-runs a POST that met "database is locked" and answers the
            # last), or an import on another machine made one at once. All keep the first.
            titled = self.projects_titled(title)
            first = next(iter(titled), mine)
            if first.id != mine.id:
                log.info("project %r was created meanwhile (id %d): importing into it", title, first.id)
                self.delete_project(mine.id)
                return first, False
            later = [p.id for p in titled if p.id != mine.id]
            if later:  # their makers delete them (the rule above) unless they are older samvids
                log.warning("projects %s titled %r were made while this import made id %d (an "
                            "import on another machine?); this import keeps id %d: delete the "
                            "others in Label Studio if they stay", later, title, mine.id, mine.id)
            log.info("created project %r (id %s)", title, p.id)
            return mine, True

    def delete_project(self, project_id: int) -> None:
        self._call("delete the project", lambda: self.sdk.projects.delete(project_id, request_options=ONCE))

    # -- storage --------------------------------------------------------------------------

    def ensure_local_storage(self, project_id: int, path: Path) -> int:
        """The project's local-files storage for ``path`` (created if missing, never synced:
        samvid creates the tasks itself). Label Studio requires ``path`` to be a subfolder
        of its LOCAL_FILES_DOCUMENT_ROOT."""
        path = Path(path)
        existing = self._read("list storages",
                              lambda: self.sdk.import_storage.local.list(project=project_id))
        for storage in existing:
            if storage.path and Path(storage.path) == path:
                return _id(storage.id)
        storage = self._call(
            f"add local-files storage {path} (it must be a subfolder of Label Studio's "
            "LOCAL_FILES_DOCUMENT_ROOT, with LABEL_STUDIO_LOCAL_FILES_SERVING_ENABLED=true)",
            lambda: self.sdk.import_storage.local.create(
                project=project_id, path=str(path), title="samvid frames", use_blob_urls=True,
                request_options=ONCE),
        )
        return _id(storage.id)

    # -- tasks ----------------------------------------------------------------------------

    def create_tasks(self, project_id: int, data: Sequence[dict[str, Any]],
                     batch: int = TASK_BATCH) -> list[int]:
        """Tasks in the given order (Label Studio lists them by id), in batches."""
        ids: list[int] = []
        for start in range(0, len(data), batch):
            chunk = [dict(d) for d in data[start:start + batch]]
            # Any: ``task_ids`` is an extra field of the reply, absent from the SDK's type.
            reply: Any = self._call("create tasks", partial(
                self.sdk.projects.import_tasks, project_id,
                request=chunk,  # type: ignore[arg-type]  # the API takes plain task dicts; the SDK types them as its model
                return_task_ids=True, request_options=ONCE))
            ids.extend(int(i) for i in (reply.task_ids or []))
        return ids

    def task_rows(self, project_id: int, query: dict[str, Any] | None = None,
                  whole_if_refused: bool = True) -> list[dict[str, Any]]:
        """Every task of the project as Label Studio lists it (data and annotation/prediction
        counters, no results), optionally filtered by a Data Manager ``query``.

        A query Label Studio refuses (400) gives every task of the project instead: it
        types a data column by the project's first task, and a ``clip`` that is a list
        there makes it refuse any filter on ``data.clip`` ("Not supported filter type").
        Callers of a query keep their own rows (``clip_query`` says so). Not with
        ``whole_if_refused`` False: a caller Label Studio waits for (a task being opened)
        fails at once rather than read a large project whole."""
        if query is not None:
            try:
                return self._task_pages(project_id, query)
            except StudioError as exc:
                if not whole_if_refused or getattr(exc.__cause__, "status_code", None) != 400:
                    raise
                log.warning("Label Studio refused to filter the tasks of project %d (400: %s): "
                            "listing all of them instead (slower in a large project)",
                            project_id, _brief(getattr(exc.__cause__, "body", ""),
                                               hide=partial(text_without_url_password, url=self.url)))
        return self._task_pages(project_id, None)

    def _task_pages(self, project_id: int, query: dict[str, Any] | None) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = []
        page = 1
        while True:
            params: dict[str, Any] = {"project": project_id, "page": page, "page_size": 1000,
                                      "fields": "task_only"}
            if query is not None:
                params["query"] = json.dumps(query)
            reply = self.request("GET", "/api/tasks", "list tasks", params=params)
            items = reply.get("tasks", []) if isinstance(reply, dict) else reply or []
            rows.extend(items)
            total = reply.get("total", len(rows)) if isinstance(reply, dict) else len(rows)
            if not items or len(rows) >= total:
                break
            page += 1
        return rows

    def list_tasks(self, project_id: int, clip: str | None = None) -> list[Task]:
        """All tasks of the project, or of one clip, in id order (only id and data)."""
        query = None if clip is None else clip_query(clip)
        tasks = [Task(int(t["id"]), t.get("data") or {}) for t in self.task_rows(project_id, query)]
        if clip is not None:
            tasks = [t for t in tasks if t.data.get("clip") == clip]
        return sorted(tasks, key=lambda t: t.id)

    def upload_file(self, project_id: int, path: Path) -> str:
        """Upload one file without creating a task; returns its served URL (/data/upload/...)."""
        with path.open("rb") as fh:
            reply = self.request("POST", f"/api/projects/{project_id}/import", "upload a file",
                                 params={"commit_to_project": "false"},
                                 files={"file": (path.name, fh)})
        upload_id = reply["file_upload_ids"][0]
        uploads = self.request("GET", f"/api/projects/{project_id}/file-uploads",
                               "read the uploaded file", params={"ids": f"[{upload_id}]"})
        for item in uploads:
            if int(item["id"]) == int(upload_id):
                url = str(item["file"])  # "upload/<project>/<name>", served under /data/
                return url if url.startswith(("/", "http")) else f"/data/{url}"
        raise StudioError(f"Label Studio did not list the uploaded file {path.name}")

    # -- ML backend and predictions -------------------------------------------------------

    def connect_backend(self, project_id: int, url: str, *, title: str = "samvid",
                        user: str | None = None, password: str | None = None) -> int:
        """Connect (or reuse) the ML backend at ``url``, interactive, optional basic auth.
        Label Studio checks /health and calls /setup before it answers."""
        url = url.rstrip("/")
        backends = self._read("list ML backends", lambda: list(self.sdk.ml.list(project=project_id)))
        for backend in backends:
            if (backend.url or "").rstrip("/") == url:
                # Auth may be new, or its password changed, since; and one connected in
                # Label Studio's UI without "interactive" is never asked on a click.
                if user is not None or not backend.is_interactive:
                    self._update_backend(project_id, _id(backend.id), url, user, password)
                if user is not None:
                    self._authorize_webhook(project_id, f"{url}/webhook", user, password or "")
                return _id(backend.id)
        # The backend moved (a new --backend-url): move the one connected before instead of
        # adding a second; Label Studio asks its first backend for predictions, so the old,
        # stale address would keep being called (and sent every annotation event).
        for backend in backends:
            if backend.title == title:
                self._move_backend(project_id, _id(backend.id), (backend.url or "").rstrip("/"),
                                   url, user, password)
                return _id(backend.id)
        auth = _basic_auth(user, password) if user is not None else {}
        backend = self._call(
            f"connect the ML backend at {server_url_for_messages(url)} (is `samvid serve` running "
            "and reachable from Label Studio?)",
            lambda: self.sdk.ml.create(project=project_id, url=url, is_interactive=True,
                                       title=title, request_options=ONCE, **auth),
            urls=(url,),
        )
        if user is not None:
            self._authorize_webhook(project_id, f"{url}/webhook", user, password or "")
        return _id(backend.id)

    def _move_backend(self, project_id: int, backend_id: int, old_url: str, url: str,
                      user: str | None, password: str | None) -> None:
        """Point a connected backend, and the webhook Label Studio made for it, at ``url``."""
        # The webhooks' addresses are the backend's, password and all: Label Studio's error
        # text about one may quote it.
        both = (url, old_url)
        hooks = [h for h in self.request("GET", "/api/webhooks/", "list webhooks",
                                         params={"project": project_id}, urls=both) or []
                 if h.get("project") == project_id]
        self._update_backend(project_id, backend_id, url, user, password,
                             f"move the ML backend from {server_url_for_messages(old_url)} to "
                             f"{server_url_for_messages(url)} (is `samvid serve` running and "
                             "reachable from Label Studio?)", also_hidden=old_url)
        log.info("ML backend %d moved from %s to %s", backend_id, server_url_for_messages(old_url),
                 server_url_for_messages(url))
        # Label Studio makes ``<backend>/webhook`` only when a backend is created. When one to
        # the new address is there already, the old address's goes: it would still be sent
        # every annotation event (and a backend still running there would act on them).
        has_new = f"{url}/webhook" in {(h.get("url") or "").rstrip("/") for h in hooks}
        for hook in hooks:
            if (hook.get("url") or "").rstrip("/") == f"{old_url}/webhook":
                if has_new:
                    self.request("DELETE", f"/api/webhooks/{hook['id']}/", "remove the old backend's webhook",
                                 urls=both)
                else:
                    self.request("PATCH", f"/api/webhooks/{hook['id']}/", "move the backend's webhook",
                                 json={"url": f"{url}/webhook"}, urls=both)
                    has_new = True  # a second one to the old address goes
        if user is not None:
            self._authorize_webhook(project_id, f"{url}/webhook", user, password or "")

    def _update_backend(self, project_id: int, backend_id: int, url: str, user: str | None,
                        password: str | None, what: str = "", also_hidden: str = "") -> None:
        """A connected backend made interactive, at ``url``, with basic auth when ``user`` is
        given: Label Studio keeps calling it with what it was connected with, and a backend
        that now checks auth refuses that. ``also_hidden``: another address whose password a
        refusal must not quote (the one it moves from)."""
        auth = _basic_auth(user, password) if user is not None else {}
        # ``url`` and ``project`` again: Label Studio 1.23 re-checks the backend (/health,
        # /setup) on update and fails (500) when the update does not name them.
        self._call(what or f"update the ML backend at {server_url_for_messages(url)}",
                   lambda: self.sdk.ml.update(id=backend_id, url=url, project=project_id,
                                              is_interactive=True, request_options=ONCE, **auth),
                   urls=(url, also_hidden) if also_hidden else (url,))

    def _authorize_webhook(self, project_id: int, url: str, user: str, password: str) -> None:
        """Label Studio's automatic ``<backend>/webhook`` carries no credentials even when
        the backend uses basic auth; add them, or the backend refuses annotation events."""
        token = base64.b64encode(f"{user}:{password}".encode()).decode()
        hooks = self.request("GET", "/api/webhooks/", "list webhooks",
                             params={"project": project_id}, urls=(url,))
        for hook in hooks or []:
            if hook.get("project") == project_id and hook.get("url", "").rstrip("/") == url:
                headers = {**(hook.get("headers") or {}), "Authorization": f"Basic {token}"}
                self.request("PATCH", f"/api/webhooks/{hook['id']}/", "set webhook headers",
                             json={"headers": headers}, urls=(url,))

    def create_prediction(self, task_id: int, result: list[dict[str, Any]], *,
                          score: float | None = None, model_version: str | None = None) -> int:
        extra: dict[str, Any] = {}
        if score is not None:
            extra["score"] = score
        if model_version is not None:
            extra["model_version"] = model_version
        p = self._call("create a prediction",
                       lambda: self.sdk.predictions.create(task=task_id, result=result,
                                                          request_options=ONCE, **extra))
        return _id(p.id)

    def replace_predictions(self, task_id: int, prefix: str, result: list[dict[str, Any]],
                            model_version: str, score: float, *, write_empty: bool) -> None:
        """Write ``result`` -- also when it is empty if ``write_empty`` (an empty prediction
        records that the frame was done) -- over the newest of the task's predictions whose
        model version starts with ``prefix`` (samvid's own, never another model's), and
        delete the others; a task with none gets a new one. Written in place, not as a new
        prediction: an editor that shows the frame (the labeling stream, the Data Manager)
        submits its annotation naming the prediction it started from, and Label Studio
        refuses that submit ("Invalid pk", "Annotation is not saved") once it is deleted.
        And never without a prediction in between (Label Studio would call /predict for it).

        The whole of it is retried, not the write alone: a new prediction that reached Label
        Studio but whose answer was lost (it went down mid-reply) is found by the next try and
        written over, not kept beside a second one. Concurrent writers of one task must hold
        its lock (``samvid.studio.frame_locks``). A stop (Ctrl-C, a worker's cold stop, a
        cancel) once a write went out, in any try or between tries, first keeps one of the
        writes it finds stored (``_finish_stopped_write``), then goes on."""
        written = [False]  # a prediction is in: its earlier ones must go before a cancel stops it
        awaited = [False]  # a write's answer is awaited: it may be stored whatever stops the wait
        before: list[set[Any]] = []  # samvid's predictions of the first listing: none of them is this call's
        writes = bool(result or write_empty)

        def once() -> None:
            earlier = sorted(old["id"] for old in self.own_predictions(task_id, prefix, retry=False))
            if not before:
                before.append(set(earlier))
            if writes and earlier:
                # In place, so a retry writes the same one again. A stop meanwhile leaves the
                # frame the predictions it had: nothing to settle.
                kept = earlier.pop()
                # With the task named: Label Studio's prediction validation (a feature flag)
                # refuses a PATCH without it ("Project is required").
                self._request_once("PATCH", f"/api/predictions/{kept}", "write a prediction", json={
                    "task": task_id, "result": result, "score": float(score), "model_version": model_version})
            elif writes:
                awaited[0] = True
                try:
                    self._request_once("POST", "/api/predictions", "write a prediction", json={
                        "task": task_id, "result": result, "score": float(score),
                        "model_version": model_version})
                except StudioError as exc:
                    # An answer lost once the write went out (a read timeout, a dropped
                    # reply) may hide a stored prediction: a cancel then must wait for the
                    # next try to delete it, or the frame kept two.
                    written[0] = written[0] or _may_have_landed(exc)
                    awaited[0] = False
                    raise
                awaited[0] = False
                written[0] = True
            for old_id in earlier:
                self._request_once("DELETE", f"/api/predictions/{old_id}", "delete a prediction")

        try:
            self.retrying("Label Studio failed to write a prediction", _transient, once,
                          half_done=lambda: written[0])
        except SamvidError:
            raise  # failed for good: the next propagation of the clip writes the frame again
        except BaseException:
            # Ctrl-C, rq's cold stop (a SystemExit raised in the job) or a cancel once a write
            # went out left the frame two of samvid's predictions until the clip was propagated
            # again: between a write and its deletes, while Label Studio answered or stored a
            # write (also one whose answer an earlier try lost), or in the back-off between tries.
            if written[0] or awaited[0]:  # either after the first listing
                self._finish_stopped_write(task_id, prefix, before[0], settle=awaited[0])
            raise

    def _finish_stopped_write(self, task_id: int, prefix: str, before: set[Any], *, settle: bool) -> None:
        """After a stop once a prediction write went out: where the task has samvid's
        predictions that are not ``before`` (the writes of this call, stored), all of samvid's
        but the newest of those are deleted; nothing is deleted where none shows: the frame
        would be left without a prediction.

        ``settle``: the stop came while a write's answer was awaited, and Label Studio may
        store it after its client hung up: while none shows, the task is looked at again every
        ``STOPPED_POLL`` seconds (logged once). Otherwise every write was answered (stored, or
        failed with an error answer) or its answer was lost a whole timeout ago: one look.

        The user is stopping: the whole of it waits on Label Studio ``STOPPED_WAIT`` seconds
        at most (the last look begins ``STOPPED_POLL`` before that, which leaves it and the
        deletes time), and ends at a failed look, a call left unanswered or a second stop.
        Nothing here is raised: the stop goes on as it was raised, not as a traceback of this
        cleanup, and what is left undone is left to the clip's next propagation."""
        deadline = time.monotonic() + min(self.timeout, STOPPED_WAIT)
        said = False
        try:
            while True:
                wait = deadline - time.monotonic()
                if wait <= 0:
                    return  # a sleep that overran the deadline
                found = _models_own(self._request_once("GET", "/api/predictions", "list predictions",
                                                       params={"task": task_id}, timeout=wait) or [], prefix)
                new = [p for p in found if p.get("id") not in before]
                if new:
                    break
                left = deadline - time.monotonic()
                if not settle or left <= STOPPED_POLL:
                    return  # a write stored later is left to the next propagation
                if not said:
                    # Seconds of silence after a Ctrl-C read as a hang.
                    log.info("stopped mid-write of the prediction of task %d: settling it with Label Studio "
                             "(looking for it up to %.1f s more, so that the frame keeps one)", task_id, left)
                    said = True
                time.sleep(min(STOPPED_POLL, left - STOPPED_POLL))
            kept = max(new, key=lambda p: p["id"])["id"]
            for old_id in [p["id"] for p in found if p["id"] != kept]:
                wait = deadline - time.monotonic()
                if wait <= 0:
                    return
                try:
                    self._request_once("DELETE", f"/api/predictions/{old_id}", "delete a prediction",
                                       timeout=wait)
                except SamvidError as exc:
                    if isinstance(exc.__cause__, httpx.TransportError):
                        return  # unanswered: so would the next delete be
        except BaseException:  # noqa: BLE001 - the stop that called this is raised instead
            pass

    def own_predictions(self, task_id: int, prefix: str, *, retry: bool = True) -> list[dict[str, Any]]:
        """The task's predictions whose model version starts with ``prefix`` (a model's own),
        as Label Studio's JSON; ``retry=False`` inside a call that is retried as a whole."""
        read = self.request if retry else self._request_once
        return _models_own(read("GET", "/api/predictions", "list predictions", params={"task": task_id}) or [],
                           prefix)

    def delete_prediction(self, prediction_id: int) -> None:
        self._call("delete a prediction", lambda: self.sdk.predictions.delete(prediction_id, request_options=ONCE))

    def list_predictions(self, task_id: int) -> list[Any]:
        return self._read("list predictions", lambda: list(self.sdk.predictions.list(task=task_id)))

    def list_annotations(self, task_id: int) -> list[Any]:
        """The task's annotations as the SDK gives them (cancelled ones included)."""
        return self._read("list annotations", lambda: list(self.sdk.annotations.list(id=task_id)))


# One client per process, URL, key and timeout (see the module's docstring). httpx.Client
# is thread-safe. A forked child (gunicorn's workers fork after preloading the app) never
# uses its parent's: both would read and write the same sockets and TLS sessions
# (``_forget_http_clients`` empties the cache in every child).
_HTTP_CLIENTS: dict[tuple[str, str, float], httpx.Client] = {}
_HTTP_CLIENTS_KEPT = 8  # URL, key or timeout changes seldom (a token from /setup): the latest few
_http_clients_lock = threading.Lock()


def _http_client(url: str, key: str, timeout: float) -> httpx.Client:
    """The process's client for ``url``, ``key`` and ``timeout``, made on first use."""
    with _http_clients_lock:
        client = _HTTP_CLIENTS.get((url, key, timeout))
        if client is None:
            while len(_HTTP_CLIENTS) >= _HTTP_CLIENTS_KEPT:
                # Dropped, not closed: a Studio made before may still be using it.
                del _HTTP_CLIENTS[next(iter(_HTTP_CLIENTS))]
            # Redirects are not followed (a redirected POST comes back a GET: the write would
            # be lost); ``Studio._errors`` names where it points instead. No cookie is kept: the
            # key alone authorizes a call, and a cookie one call got (a session) would go with
            # every later call of the process, every job's and thread's.
            # An idle connection is dropped after a second: a server closing idle ones (gunicorn
            # after 2 s, uvicorn 5 s) may close one just as a call is sent on it, and nothing
            # re-sends a write ("cannot reach Label Studio" on a server that is up).
            client = httpx.Client(timeout=timeout, follow_redirects=False,
                                  limits=httpx.Limits(max_connections=100, max_keepalive_connections=20, keepalive_expiry=1.0),
                                  cookies=CookieJar(DefaultCookiePolicy(allowed_domains=[])))
            _HTTP_CLIENTS[(url, key, timeout)] = client
        return client


def _forget_http_clients() -> None:
    """In a forked child: the lock anew (a thread of the parent may have held it at the
    fork, and no thread of the child would release it), and none of the parent's clients
    (dropped, not closed: their sockets are the parent's too)."""
    global _http_clients_lock
    _http_clients_lock = threading.Lock()
    _HTTP_CLIENTS.clear()


os.register_at_fork(after_in_child=_forget_http_clients)


def clip_query(clip: str) -> dict[str, Any]:
    """A Data Manager query for the tasks of one clip. Label Studio's match is not
    trusted to be exact: callers keep only the rows whose ``data.clip`` is ``clip``."""
    # Label Studio unquotes the value once more (a "%41" in a name matched "A"): "%" as "%25".
    return {"filters": {"conjunction": "and", "items": [
        {"filter": "filter:tasks:data.clip", "operator": "equal", "value": clip.replace("%", "%25"),
         "type": "String"}]}}


@contextmanager
def machine_lock(what: str, studio_url: str, *key: str) -> Iterator[None]:
    """Held by one process of this user on this machine at a time, per Label Studio server
    and ``key`` (what is guarded in it): an ``flock`` under the temp folder, so processes on
    other machines do not take turns. ``localhost`` and ``127.0.0.1`` name one server (see
    ``canonical_studio_url``). A wait is logged with ``what`` it waits for. Where no lock
    file can be made the caller goes on unlocked, as before the lock existed."""
    digest = hashlib.sha1("\0".join((canonical_studio_url(studio_url), *key)).encode()).hexdigest()[:16]
    folder = Path(tempfile.gettempdir()) / f"samvid-import-locks-{os.getuid()}"
    try:
        folder.mkdir(mode=0o700, exist_ok=True)
        fd: int | None = os.open(folder / f"{digest}.lock", os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as exc:
        log.warning("no lock file in %s (%s): imports running at once may collide", folder, exc)
        fd = None
    if fd is None:
        yield
        return
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log.info("waiting for another samvid import on this machine to finish %s", what)
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def not_found(exc: StudioError) -> bool:
    """Whether Label Studio refused a call because what it names does not exist (404)."""
    return getattr(exc.__cause__, "status_code", None) == 404


def backoff(seconds: float, first: float = 0.5, longest: float = 10.0) -> tuple[float, ...]:
    """Retry delays doubling from ``first`` up to ``longest`` that add up to ``seconds``:
    how long a background job waits out an unreachable Label Studio (a restart)."""
    delays: list[float] = []
    while sum(delays) < seconds:
        delays.append(min(longest, first * 2 ** len(delays), seconds - sum(delays)))
    return tuple(delays)


def _transient(exc: SamvidError) -> bool:
    """Worth retrying: Label Studio unreachable or answering 5xx (not a refusal)."""
    cause = exc.__cause__
    return isinstance(cause, httpx.TransportError) or getattr(cause, "status_code", 0) >= 500


def _may_have_landed(exc: SamvidError) -> bool:
    """Whether a failed write may still have been stored: anything but a connection never
    made, a refusal (4xx) or a 503. A proxy's 502 too: nginx answers it when Label Studio's
    worker is killed mid-request, after its write may have been committed."""
    cause = exc.__cause__
    if isinstance(cause, httpx.TransportError):
        return not isinstance(cause, (httpx.ConnectError, httpx.ConnectTimeout))
    return getattr(cause, "status_code", 0) in (500, 502, 504)


def _models_own(predictions: list[dict[str, Any]], prefix: str) -> list[dict[str, Any]]:
    """Those of ``predictions`` (Label Studio's JSON) whose model version starts with ``prefix``."""
    return [p for p in predictions if str(p.get("model_version") or "").startswith(prefix)]


def _basic_auth(user: str, password: str | None) -> dict[str, Any]:
    """The ML backend fields with which Label Studio calls it with basic auth."""
    return {"auth_method": "BASIC_AUTH", "basic_auth_user": user, "basic_auth_pass": password or ""}


def _id(value: int | None) -> int:
    """The id of what Label Studio just created or listed (typed optional by the SDK)."""
    if value is None:
        raise StudioError("Label Studio answered without an id")
    return int(value)


def _brief(body: object, limit: int = 300, hide: Callable[[str], str] = str) -> str:
    """The useful part of an error body: validation messages when there are some (also in
    a raw call's JSON text), an HTML error page's title rather than its markup. ``hide``
    takes secrets out of the text before it is cut short (a password cut in two would not
    be found)."""
    if isinstance(body, str) and body.lstrip().startswith("{"):
        try:
            body = json.loads(body)
        except ValueError:
            pass
    # Only the start of a page is searched: the patterns take quadratic time on some
    # malformed markup (a truncated page of unclosed tags), minutes for a megabyte.
    if isinstance(body, str) and re.search(r"<html|<!doctype", body[:16384], re.IGNORECASE):
        page = body[:16384]
        title = re.search(r"<title[^>]*>(.*?)</title>", page, re.IGNORECASE | re.DOTALL)
        text = " ".join((title.group(1) if title else re.sub(r"<[^>]*>", " ", page)).split())
        body = f"an HTML page: {text}" if text else "an HTML page"
    if not str(body).strip():
        return "an empty answer"
    if isinstance(body, dict):
        errors = body.get("validation_errors") or body.get("detail") or body
        if isinstance(errors, dict):
            errors = "; ".join(f"{' '.join(map(str, v)) if isinstance(v, list) else v}"
                               for v in errors.values())
        body = errors
    text = hide(" ".join(str(body).split()))
    return text if len(text) <= limit else text[:limit] + "..."
