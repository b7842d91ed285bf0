"""A local fake of the Hugging Face Hub's ``resolve`` endpoint, for offline tests of downloads.

`FakeHub` serves model folders on 127.0.0.1 the way huggingface.co does for
``huggingface_hub.hf_hub_download`` (checked against huggingface_hub 2.4):

* ``HEAD``/``GET /{repo_id}/resolve/{revision}/{filename}``, where ``revision`` is a branch or
  tag name, or the 40-hex commit sha the fake gives each revision;
* small files answer 200 with ``ETag`` (the git blob sha1), ``X-Repo-Commit`` and
  ``Content-Length``;
* ``*.safetensors`` files are "LFS": they answer 302 with ``X-Linked-Etag`` (sha256),
  ``X-Linked-Size``, ``X-Repo-Commit`` and a ``Location`` on a second server (a different origin,
  like the Hub's CDN), which serves the bytes;
* errors carry ``X-Error-Code`` as the Hub sends it: ``RepoNotFound`` (401), ``RevisionNotFound``
  (404) and ``EntryNotFound`` (404, with ``X-Repo-Commit``).

Every request is recorded (`FakeHub.requests`), so a test can assert that a cached load made no
``GET`` of the weights, or that offline mode made no request at all.

It also takes uploads, for real, through the endpoints ``HfApi.create_repo``, ``create_branch`` and
``upload_folder`` call (checked against huggingface_hub 2.4, with and without ``hf_xet``):

* ``POST /api/repos/create`` (409 with the repo's ``url`` when it exists, as the Hub answers);
  a new repo gets an initial commit on ``main`` holding ``.gitattributes``;
* ``POST /api/models/{repo_id}/branch/{branch}`` (from ``startingPoint`` or ``main``; 409 if it
  exists);
* ``POST /api/models/{repo_id}/preupload/{revision}``: every file is answered ``"regular"`` (so
  no LFS or Xet transfer is needed), with the ``oid`` (git blob sha1) of the file already there,
  which lets the client skip unchanged files;
* ``POST /api/models/{repo_id}/commit/{revision}``: an NDJSON body (a ``header`` line, then
  ``file``/``deletedFile``/``deletedFolder`` lines, file contents in base64); it makes a new
  commit on that branch, a new folder (under `FakeHub.storage`) that is then served like any
  other revision, also by its commit sha after the branch moves on; answers ``commitUrl`` and
  ``commitOid``;
* ``POST /api/validate-yaml`` (the model card's front matter, checked with PyYAML) and
  ``GET /api/models/{repo_id}[/revision/{revision}]`` (repo info: ``sha`` and ``siblings``).

The four write endpoints require an ``Authorization: Bearer <anything non-empty>`` header and
answer 401 without one, like the Hub. Only namespaced model repos (``user/name``) are handled; pull
requests and LFS uploads are not, and ``private`` is recorded (`FakeHub.is_private`) but not
enforced on downloads.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
import shutil
import tempfile
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path, PurePosixPath
from typing import Any, BinaryIO
from urllib.parse import parse_qs, quote, unquote, urlsplit

LFS_SUFFIXES = (".safetensors", ".bin", ".pt")

#: ``/api/models/{user}/{name}`` with, optionally, ``/{action}/{revision}`` (revision URL-quoted).
_REPO_API = re.compile(
    r"^/api/models/(?P<repo>[^/]+/[^/]+)"
    r"(?:/(?P<action>branch|preupload|commit|revision)/(?P<rev>[^/]+))?$"
)
#: What a new repo's first commit holds (the Hub adds a longer list of LFS patterns).
_GITATTRIBUTES = b"*.safetensors filter=lfs diff=lfs merge=lfs -text\n"

Response = tuple[int, dict[str, str], bytes]


@dataclass(frozen=True)
class RecordedRequest:
    """One request the fake Hub (or its CDN) received."""

    server: str
    """``"hub"`` for the resolve endpoint, ``"cdn"`` for the file-bytes server."""
    method: str
    path: str
    filename: str
    """Last path segment, e.g. ``"model.safetensors"``."""


@dataclass
class _Revision:
    commit: str
    folder: Path


class FakeHub:
    """A threaded fake Hub on 127.0.0.1 (random free ports); use as a context manager or start/stop.

    Args:
        repos: ``{repo_id: {revision: folder}}``; each revision (branch or tag name) gets a commit
            sha (`FakeHub.commit`) by which it can also be requested.
    """

    def __init__(self, repos: dict[str, dict[str, str | Path]] | None = None) -> None:
        self._repos: dict[str, dict[str, _Revision]] = {}
        self._lock = threading.Lock()
        self._requests: list[RecordedRequest] = []
        self._hub: ThreadingHTTPServer | None = None
        self._cdn: ThreadingHTTPServer | None = None
        self._threads: list[threading.Thread] = []
        self._write_lock = threading.Lock()  # one write (create, branch, commit) at a time
        self._storage: tempfile.TemporaryDirectory[str] | None = None
        self._private: set[str] = set()
        self._commits = 0
        for repo_id, revisions in (repos or {}).items():
            for revision, folder in revisions.items():
                self.add(repo_id, folder, revision=revision)

    # ------------------------------------------------------------------ content

    def add(self, repo_id: str, folder: str | Path, *, revision: str = "main") -> str:
        """Serve ``folder`` as ``repo_id`` at ``revision``; return that revision's commit sha."""
        commit = hashlib.sha1(f"{repo_id}@{revision}".encode()).hexdigest()
        with self._lock:
            self._repos.setdefault(repo_id, {})[revision] = _Revision(commit, Path(folder))
        return commit

    def commit(self, repo_id: str, revision: str = "main") -> str:
        """Return the commit sha of ``repo_id`` at ``revision``."""
        return self._repos[repo_id][revision].commit

    def is_private(self, repo_id: str) -> bool:
        """Whether ``repo_id`` was created with ``private=True`` (recorded, not enforced)."""
        return repo_id in self._private

    @property
    def storage(self) -> Path:
        """The folder holding uploaded commits (a temporary folder, removed on ``__exit__``)."""
        if self._storage is None:
            self._storage = tempfile.TemporaryDirectory(prefix="fake-hub-")
        return Path(self._storage.name)

    def _lookup(self, repo_id: str, revision: str) -> _Revision | None:
        for name, rev in self._repos[repo_id].items():
            if revision in (name, rev.commit):
                return rev
        return None

    # ------------------------------------------------------------------ requests

    @property
    def requests(self) -> list[RecordedRequest]:
        """A copy of every request received so far, oldest first."""
        with self._lock:
            return list(self._requests)

    def count(
        self, method: str | None = None, filename: str | None = None, server: str | None = None
    ) -> int:
        """Count recorded requests matching every given field."""
        return sum(
            (method is None or r.method == method)
            and (filename is None or r.filename == filename)
            and (server is None or r.server == server)
            for r in self.requests
        )

    def downloads(self, filename: str) -> int:
        """Count ``GET`` requests that transferred ``filename`` (from the Hub or its CDN)."""
        return self.count("GET", filename)

    def clear(self) -> None:
        """Forget the recorded requests."""
        with self._lock:
            self._requests.clear()

    def _record(self, server: str, method: str, path: str) -> None:
        filename = unquote(urlsplit(path).path.rstrip("/").rsplit("/", 1)[-1])
        with self._lock:
            self._requests.append(RecordedRequest(server, method, path, filename))

    # ------------------------------------------------------------------ lifecycle

    @property
    def url(self) -> str:
        """The endpoint to use as ``HF_ENDPOINT``, e.g. ``http://127.0.0.1:54321``."""
        assert self._hub is not None, "FakeHub is not running"
        return f"http://127.0.0.1:{self._hub.server_address[1]}"

    @property
    def cdn_url(self) -> str:
        """Origin of the server holding LFS file bytes (what the Hub redirects to)."""
        assert self._cdn is not None, "FakeHub is not running"
        return f"http://127.0.0.1:{self._cdn.server_address[1]}"

    @property
    def running(self) -> bool:
        """Whether the servers are up."""
        return self._hub is not None

    def start(self) -> FakeHub:
        """Start both servers on free ports; return self."""
        if self._hub is not None:
            return self
        self._hub = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self, "hub"))
        self._cdn = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self, "cdn"))
        for server in (self._hub, self._cdn):
            server.daemon_threads = True
            # a short poll interval makes stop() quick (shutdown waits for one poll)
            thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self) -> None:
        """Stop both servers; later connections are refused."""
        for server in (self._hub, self._cdn):
            if server is not None:
                server.shutdown()
                server.server_close()
        for thread in self._threads:
            thread.join(timeout=5)
        self._hub = self._cdn = None
        self._threads.clear()

    def __enter__(self) -> FakeHub:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
        if self._storage is not None:
            self._storage.cleanup()
            self._storage = None

    # ------------------------------------------------------------------ responses

    def respond(
        self,
        server: str,
        method: str,
        path: str,
        headers: Mapping[str, str] | None = None,
        body: bytes = b"",
    ) -> Response:
        """Return (status, headers, body) for one request; the body is dropped for HEAD.

        ``headers`` (names in lower case) and ``body`` are the request's; only ``/api/`` routes
        read them.
        """
        self._record(server, method, path)
        if server == "hub" and urlsplit(path).path.startswith("/api/"):
            return self._respond_api(method, path, headers or {}, body)
        if method not in ("GET", "HEAD"):
            return _error(405, "MethodNotAllowed", f"{method} is not supported by the fake Hub")
        if server == "cdn":
            return self._respond_cdn(path)
        route = urlsplit(path).path
        repo_part, sep, rest = route.lstrip("/").partition("/resolve/")
        if not sep or "/" not in rest:
            return _error(404, None, "Sorry, we can't find the page you are looking for.")
        repo_id = unquote(repo_part)
        revision_part, _, file_part = rest.partition("/")
        revision, filename = unquote(revision_part), unquote(file_part)
        if repo_id not in self._repos:
            return _error(401, "RepoNotFound", "Repository not found")
        rev = self._lookup(repo_id, revision)
        if rev is None:
            return _error(404, "RevisionNotFound", f"Invalid rev id: {revision}")
        file = (rev.folder / filename).resolve()
        if not file.is_file() or not file.is_relative_to(rev.folder.resolve()):
            status, headers, body = _error(404, "EntryNotFound", f"{filename} does not exist")
            headers["X-Repo-Commit"] = rev.commit
            return status, headers, body
        data = file.read_bytes()
        headers = {"X-Repo-Commit": rev.commit}
        if file.suffix in LFS_SUFFIXES:
            sha256 = hashlib.sha256(data).hexdigest()
            location = f"{self.cdn_url}/blobs/{sha256}/{quote(filename)}"
            headers.update(
                {
                    "ETag": f'"{_git_blob_sha1(data)}"',
                    "X-Linked-Etag": f'"{sha256}"',
                    "X-Linked-Size": str(len(data)),
                    "Location": location,
                }
            )
            return 302, headers, b""
        headers.update({"ETag": f'"{_git_blob_sha1(data)}"', "Content-Type": "text/plain"})
        return 200, headers, data

    def _respond_cdn(self, path: str) -> tuple[int, dict[str, str], bytes]:
        parts = urlsplit(path).path.strip("/").split("/")
        if len(parts) >= 2 and parts[0] == "blobs":
            for revisions in list(self._repos.values()):
                for rev in revisions.values():
                    for file in rev.folder.rglob("*"):
                        if file.is_file() and file.suffix in LFS_SUFFIXES:
                            data = file.read_bytes()
                            if hashlib.sha256(data).hexdigest() == parts[1]:
                                return 200, {"Content-Type": "application/octet-stream"}, data
        return 404, {"Content-Type": "text/plain"}, b"NoSuchKey"

    # ------------------------------------------------------------------ the API (uploads)

    def _respond_api(
        self, method: str, path: str, headers: Mapping[str, str], body: bytes
    ) -> Response:
        url = urlsplit(path)
        match = _REPO_API.match(url.path)
        if method == "POST" and url.path == "/api/validate-yaml":
            return _validate_yaml(body)
        write = method == "POST" and (url.path == "/api/repos/create" or match is not None)
        if write and not _authorized(headers):
            # what the Hub answers a write request without a (valid) token
            return _error(401, None, "Invalid username or password.")
        if method == "POST" and url.path == "/api/repos/create":
            return self._create_repo(_json(body))
        if match is None:
            return _error(404, None, "Sorry, we can't find the page you are looking for.")
        repo_id, action = match["repo"], match["action"]
        revision = unquote(match["rev"] or "main")
        if method == "GET" and action in (None, "revision"):
            return self._repo_info(repo_id, revision)
        if method != "POST" or action == "revision":
            return _error(405, "MethodNotAllowed", f"{method} is not supported here")
        if repo_id not in self._repos:
            return _error(404, "RepoNotFound", f"Repository {repo_id} not found")
        if "create_pr" in parse_qs(url.query):
            return _error(400, None, "the fake Hub does not support pull requests")
        if action == "branch":
            return self._create_branch(repo_id, revision, _json(body).get("startingPoint"))
        if action == "preupload":
            return self._preupload(repo_id, revision, _json(body))
        return self._commit(repo_id, revision, body)

    def _create_repo(self, payload: dict[str, Any]) -> Response:
        name, namespace = payload.get("name"), payload.get("organization")
        if not name or not namespace:
            return _error(400, None, "the fake Hub needs a namespaced repo id (user/name)")
        if payload.get("type", "model") != "model":
            return _error(400, None, "the fake Hub only hosts model repos")
        repo_id = f"{namespace}/{name}"
        url = f"{self.url}/{repo_id}"
        with self._write_lock:
            if repo_id in self._repos:
                return _json_response(
                    409, {"error": "You already created this model repo", "url": url}
                )
            if payload.get("visibility") == "private" or payload.get("private") is True:
                self._private.add(repo_id)
            self._store(repo_id, "main", None, {".gitattributes": _GITATTRIBUTES}, "initial commit")
        return _json_response(200, {"url": url, "name": repo_id, "id": repo_id})

    def _create_branch(self, repo_id: str, branch: str, start: str | None) -> Response:
        with self._write_lock:
            if branch in self._repos[repo_id]:
                return _error(409, None, f"Reference already exists: refs/heads/{branch}")
            rev = self._lookup(repo_id, start or "main")
            if rev is None:
                return _error(404, "RevisionNotFound", f"Invalid rev id: {start or 'main'}")
            with self._lock:
                self._repos[repo_id][branch] = _Revision(rev.commit, rev.folder)
        return _json_response(200, {})

    def _preupload(self, repo_id: str, revision: str, payload: dict[str, Any]) -> Response:
        rev = self._lookup(repo_id, revision)
        if rev is None:
            return _error(404, "RevisionNotFound", f"Invalid rev id: {revision}")
        answers = []
        for item in payload.get("files", []):
            existing = rev.folder / str(item["path"])
            oid = _git_blob_sha1(existing.read_bytes()) if existing.is_file() else None
            answers.append(
                {"path": item["path"], "uploadMode": "regular", "shouldIgnore": False, "oid": oid}
            )
        return _json_response(200, {"files": answers, "commitOid": rev.commit})

    def _commit(self, repo_id: str, branch: str, body: bytes) -> Response:
        try:
            lines = [json.loads(line) for line in body.splitlines() if line.strip()]
            header = lines[0]["value"] if lines and lines[0].get("key") == "header" else None
            changes = dict(_change(line) for line in lines[1:])
        except (ValueError, KeyError, TypeError, binascii.Error) as exc:
            return _error(400, None, f"malformed commit payload: {exc}")
        if not header or not header.get("summary"):
            return _error(400, None, "the commit needs a header line with a summary")
        with self._write_lock:
            rev = self._repos[repo_id].get(branch)
            if rev is None or branch == rev.commit:  # a commit sha is no branch to commit to
                return _error(404, "RevisionNotFound", f"Invalid rev id: {branch}")
            parent = header.get("parentCommit")
            if parent and not rev.commit.startswith(parent):
                return _error(412, None, f"A commit has happened since {parent}")
            commit = self._store(repo_id, branch, rev, changes, header["summary"])
        url = f"{self.url}/{repo_id}/commit/{commit}"
        return _json_response(
            200, {"success": True, "commitOid": commit, "commitUrl": url, "hookOutput": ""}
        )

    def _store(
        self,
        repo_id: str,
        branch: str,
        parent: _Revision | None,
        changes: dict[str, bytes | None],
        message: str,
    ) -> str:
        """Make a commit on ``branch``: ``parent``'s files with ``changes`` (None deletes)."""
        self._commits += 1
        seed = f"{repo_id}@{branch}:{parent.commit if parent else ''}:{self._commits}:{message}"
        commit = hashlib.sha1(seed.encode()).hexdigest()
        folder = self.storage / commit
        if parent is not None:
            shutil.copytree(parent.folder, folder)
        folder.mkdir(parents=True, exist_ok=True)
        for name, data in changes.items():
            target = folder / name
            if data is not None:
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(data)
            elif target.is_dir():
                shutil.rmtree(target)
            else:
                target.unlink(missing_ok=True)
        with self._lock:
            # the branch moves on; the commit stays reachable by its sha
            self._repos.setdefault(repo_id, {})[branch] = _Revision(commit, folder)
            self._repos[repo_id][commit] = _Revision(commit, folder)
        return commit

    def _repo_info(self, repo_id: str, revision: str) -> Response:
        if repo_id not in self._repos:
            return _error(401, "RepoNotFound", "Repository not found")
        rev = self._lookup(repo_id, revision)
        if rev is None:
            return _error(404, "RevisionNotFound", f"Invalid rev id: {revision}")
        files = sorted(p.relative_to(rev.folder).as_posix() for p in rev.folder.rglob("*"))
        siblings = [{"rfilename": f} for f in files if (rev.folder / f).is_file()]
        info = {"id": repo_id, "modelId": repo_id, "sha": rev.commit, "siblings": siblings}
        return _json_response(200, {**info, "private": self.is_private(repo_id)})


def _authorized(headers: Mapping[str, str]) -> bool:
    scheme, _, token = headers.get("authorization", "").partition(" ")
    return scheme.lower() == "bearer" and bool(token.strip())


def _json(body: bytes) -> dict[str, Any]:
    try:
        data = json.loads(body or b"{}")
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _json_response(status: int, data: object) -> Response:
    return status, {"Content-Type": "application/json"}, json.dumps(data).encode()


def _change(line: dict[str, Any]) -> tuple[str, bytes | None]:
    """One NDJSON operation line of a commit as (path, new bytes or None to delete)."""
    key, value = line["key"], line["value"]
    path = str(value["path"]).strip("/")
    if not path or ".." in PurePosixPath(path).parts:
        raise ValueError(f"bad path {value['path']!r}")
    if key == "file":
        content = str(value["content"])
        if value.get("encoding") == "base64":
            return path, base64.b64decode(content, validate=True)
        return path, content.encode()
    if key in ("deletedFile", "deletedFolder"):
        return path, None
    if key == "lfsFile":
        raise ValueError(f"{path} is an LFS file, but the fake Hub asked for regular uploads only")
    raise ValueError(f"unknown operation {key!r}")


def _validate_yaml(body: bytes) -> Response:
    """What ``/api/validate-yaml`` answers: errors for a card whose front matter is not a map."""
    import yaml

    content = str(_json(body).get("content", ""))
    errors = []
    if content.startswith("---"):
        front, sep, _ = content[3:].partition("\n---")
        try:
            data = yaml.safe_load(front) if sep else None
        except yaml.YAMLError as exc:
            data = str(exc).splitlines()[0]
        if not isinstance(data, dict):
            errors.append({"message": f"the front matter is not a YAML mapping ({data!r})"})
    status = 400 if errors else 200
    return _json_response(status, {"errors": errors, "warnings": []})


def _git_blob_sha1(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def _error(status: int, code: str | None, message: str) -> tuple[int, dict[str, str], bytes]:
    headers = {"Content-Type": "application/json", "X-Error-Message": message}
    if code is not None:
        headers["X-Error-Code"] = code
    return status, headers, json.dumps({"error": message}).encode()


def _read_chunked(stream: BinaryIO) -> bytes:
    """Read a request body sent with ``Transfer-Encoding: chunked``."""
    data = b""
    while size := int(stream.readline().split(b";")[0].strip() or b"0", 16):
        data += stream.read(size)
        stream.readline()  # the CRLF after each chunk
    while stream.readline().strip():  # trailers, up to the empty line
        pass
    return data


def _handler(hub: FakeHub, server: str) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        # HTTP/1.0: one request per connection, so a stopped server leaves no pooled connection.
        protocol_version = "HTTP/1.0"

        def do_GET(self) -> None:
            self._answer("GET")

        def do_HEAD(self) -> None:
            self._answer("HEAD")

        def do_POST(self) -> None:
            self._answer("POST")

        def _answer(self, method: str) -> None:
            request_headers = {k.lower(): v for k, v in self.headers.items()}
            length = int(request_headers.get("content-length") or 0)
            request_body = self.rfile.read(length) if length > 0 else b""
            if "chunked" in request_headers.get("transfer-encoding", "").lower():
                request_body = _read_chunked(self.rfile)
            status, headers, body = hub.respond(
                server, method, self.path, request_headers, request_body
            )
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if method != "HEAD":
                self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            pass  # keep pytest output clean; requests are recorded instead

    return Handler
