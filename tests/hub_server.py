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
"""

from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit

LFS_SUFFIXES = (".safetensors", ".bin", ".pt")


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

    # ------------------------------------------------------------------ responses

    def respond(self, server: str, method: str, path: str) -> tuple[int, dict[str, str], bytes]:
        """Return (status, headers, body) for one request; the body is dropped for HEAD."""
        self._record(server, method, path)
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


def _git_blob_sha1(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def _error(status: int, code: str | None, message: str) -> tuple[int, dict[str, str], bytes]:
    headers = {"Content-Type": "application/json", "X-Error-Message": message}
    if code is not None:
        headers["X-Error-Code"] = code
    return status, headers, json.dumps({"error": message}).encode()


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
            status, headers, body = hub.respond(server, method, self.path)
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
