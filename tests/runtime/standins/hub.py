"""A Hugging Face hub on 127.0.0.1, for the real `huggingface_hub` client (0.36) pointed at
it with `HF_ENDPOINT`: model info, the file tree and file downloads, of repos held in memory.

What the client needs of it, read from its source:
- `snapshot_download` asks `/api/models/{id}/revision/{rev}` for `sha` and `siblings`, then
  downloads every file by that sha; `list_repo_files` walks `/api/models/{id}/tree/{rev}`.
- A download is a HEAD on `/{id}/resolve/{rev}/{path}` and then a GET. The HEAD must carry
  `X-Repo-Commit` (else "Distant resource does not seem to be on huggingface.co"), an `ETag`
  (the blob's name in the cache: `X-Linked-Etag` wins) and a size (`X-Linked-Size`, else
  `Content-Length`). It is answered here directly, with no redirect, and no Xet headers, so
  the client downloads over plain HTTP even with hf_xet installed.
- An interrupted download leaves `<blob>.incomplete`; the next run asks `Range: bytes=N-` and
  appends what a 206 brings (a 200 would make it start over).
- Errors are told by `X-Error-Code`: RepoNotFound, RevisionNotFound, EntryNotFound, GatedRepo.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import select
import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, cast
from urllib.parse import parse_qs, unquote, urlsplit

# Files the hub keeps in LFS: their ETag is the sha256 of the content, as on huggingface.co.
LFS_SUFFIXES = (".safetensors", ".pth", ".bin", ".pt", ".ckpt", ".gguf", ".h5", ".msgpack")
_CHUNK = 64 * 1024
_RANGE = re.compile(r"bytes=(\d*)-(\d*)")
_DATE = "2024-01-01T00:00:00.000Z"


def commit_sha(files: dict[str, bytes]) -> str:
    """A 40-hex commit id made from the files, so equal files are the same commit."""
    digest = hashlib.sha1()
    for path in sorted(files):
        digest.update(path.encode() + b"\0" + hashlib.sha256(files[path]).digest())
    return digest.hexdigest()


def is_lfs(path: str) -> bool:
    return path.endswith(LFS_SUFFIXES)


def blob_id(content: bytes) -> str:
    """The git blob sha1 of the content."""
    return hashlib.sha1(b"blob %d\0" % len(content) + content).hexdigest()


def etag(path: str, content: bytes) -> str:
    """The ETag the hub gives a file: sha256 for LFS files, git blob sha1 for the others."""
    return hashlib.sha256(content).hexdigest() if is_lfs(path) else blob_id(content)


@dataclass
class Repo:
    """A model repo: its commits (40-hex sha -> files) and refs (branch or tag -> sha).

    Gated with `token`: every request must carry `Authorization: Bearer <token>`.
    """

    revisions: dict[str, dict[str, bytes]]
    refs: dict[str, str]
    token: str | None = None

    @classmethod
    def of(cls, *commits: dict[str, bytes], token: str | None = None) -> Repo:
        """A repo with these commits, `main` at the last."""
        revisions = {commit_sha(files): files for files in commits}
        return cls(revisions=revisions, refs={"main": commit_sha(commits[-1])}, token=token)


@dataclass(frozen=True)
class Request:
    method: str
    path: str  # percent-decoded, without the query
    query: str
    authorization: str | None
    range: str | None
    time: float  # time.monotonic()


class _HubError(Exception):
    def __init__(self, status: int, code: str | None, message: str, commit: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.commit = commit


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    hub: Hub


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "hub-standin"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def setup(self) -> None:
        super().setup()
        self.hub._opened(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.hub._closed(self.connection)

    @property
    def hub(self) -> Hub:
        return cast(_Server, self.server).hub

    def do_HEAD(self) -> None:
        self._handle(body=False)

    def do_GET(self) -> None:
        self._handle(body=True)

    def _handle(self, *, body: bool) -> None:
        split = urlsplit(self.path)
        segments = [unquote(s) for s in split.path.split("/")[1:]]
        self.hub._record(
            Request(
                method=self.command,
                path="/" + "/".join(segments),
                query=split.query,
                authorization=self.headers.get("Authorization"),
                range=self.headers.get("Range"),
                time=time.monotonic(),
            )
        )
        try:
            if segments[:2] == ["api", "models"]:
                self._api(segments[2:], parse_qs(split.query), body=body)
            else:
                self._resolve(segments, body=body)
        except _HubError as error:
            headers = {"X-Error-Message": error.message}
            if error.code:
                headers["X-Error-Code"] = error.code
            if error.commit:
                headers["X-Repo-Commit"] = error.commit
            self._send(error.status, json.dumps({"error": error.message}).encode(), headers, body)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    # --- routes -------------------------------------------------------------------------

    def _api(self, rest: list[str], query: dict[str, list[str]], *, body: bool) -> None:
        repo_id, rest = self.hub._split_repo(rest, ("revision", "tree"))
        repo = self.hub._repo(repo_id, self.headers.get("Authorization"))
        if not rest or (rest[0] == "revision" and len(rest) == 2):
            sha = self.hub._sha(repo, rest[1] if rest else "main")
            blobs = query.get("blobs", ["false"])[0].lower() in ("true", "1")
            info = _model_info(repo_id, repo, sha, blobs=blobs)
            self._send(200, json.dumps(info).encode(), {}, body)
        elif rest[0] == "tree" and len(rest) >= 2:
            sha = self.hub._sha(repo, rest[1])
            recursive = query.get("recursive", ["false"])[0].lower() in ("true", "1")
            tree = _tree(repo.revisions[sha], "/".join(rest[2:]), recursive=recursive, sha=sha)
            self._send(200, json.dumps(tree).encode(), {}, body)
        else:
            raise _HubError(404, None, "Sorry, we can't find the page you are looking for.")

    def _resolve(self, segments: list[str], *, body: bool) -> None:
        if "resolve" not in segments[1:3]:
            raise _HubError(404, None, "Sorry, we can't find the page you are looking for.")
        repo_id, rest = self.hub._split_repo(segments, ("resolve",))
        if len(rest) < 3 or rest[0] != "resolve":
            raise _HubError(404, None, "Sorry, we can't find the page you are looking for.")
        repo = self.hub._repo(repo_id, self.headers.get("Authorization"))
        sha = self.hub._sha(repo, rest[1])
        path = "/".join(rest[2:])
        files = repo.revisions[sha]
        if path not in files:
            raise _HubError(404, "EntryNotFound", "Entry not found", commit=sha)
        content = files[path]
        tag = etag(path, content)
        headers = {
            "X-Repo-Commit": sha,
            "ETag": f'"{tag}"',
            "Accept-Ranges": "bytes",
            "Content-Type": "application/octet-stream",
        }
        if is_lfs(path):
            headers["X-Linked-Etag"] = f'"{tag}"'
            headers["X-Linked-Size"] = str(len(content))
        status, start, end = 200, 0, len(content)
        wanted = self.headers.get("Range")
        if wanted is not None:
            bounds = _byte_range(wanted, len(content))
            if bounds is None:
                headers["Content-Range"] = f"bytes */{len(content)}"
                self._send(416, b"", headers, body)
                return
            status, (start, end) = 206, bounds
            headers["Content-Range"] = f"bytes {start}-{end - 1}/{len(content)}"
        if not body:
            self._send(status, content[start:end], headers, body=False)
            return
        self._send(status, b"", headers, body=False, length=end - start)
        self._stream(path, content[start:end])

    # --- sending ------------------------------------------------------------------------

    def _send(
        self,
        status: int,
        payload: bytes,
        headers: dict[str, str],
        body: bool,
        length: int | None = None,
    ) -> None:
        self.send_response(status)
        if "Content-Type" not in headers:
            self.send_header("Content-Type", "application/json; charset=utf-8")
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload) if length is None else length))
        self.end_headers()
        if body and payload:
            self.wfile.write(payload)

    def _stream(self, path: str, data: bytes) -> None:
        limit = self.hub._stall_for(path)
        sent = 0
        stop = len(data) if limit is None else min(limit, len(data))
        while sent < stop:
            chunk = data[sent : min(sent + _CHUNK, stop)]
            self.wfile.write(chunk)
            sent += len(chunk)
            self.hub._served(len(chunk))
        self.wfile.flush()
        if limit is not None and limit < len(data):
            self.hub._hang(self.connection)
            self.close_connection = True


def _byte_range(header: str, size: int) -> tuple[int, int] | None:
    """[start, end) of a `Range: bytes=a-b` header, None when it cannot be satisfied."""
    match = _RANGE.fullmatch(header.strip())
    if match is None or match.group(1) == match.group(2) == "":
        return None
    first, last = match.group(1), match.group(2)
    if first == "":
        start, end = max(size - int(last), 0), size
    else:
        start = int(first)
        end = size if last == "" else min(int(last) + 1, size)
    return (start, end) if start < end else None


def _model_info(repo_id: str, repo: Repo, sha: str, *, blobs: bool) -> dict[str, Any]:
    files = repo.revisions[sha]
    siblings: list[dict[str, Any]] = []
    for path in sorted(files):
        sibling: dict[str, Any] = {"rfilename": path}
        if blobs:
            content = files[path]
            sibling["size"] = len(content)
            sibling["blobId"] = blob_id(content)
            if is_lfs(path):
                sha256 = hashlib.sha256(content).hexdigest()
                sibling["lfs"] = {"size": len(content), "sha256": sha256, "pointerSize": 134}
        siblings.append(sibling)
    config: dict[str, Any] = {}
    try:
        loaded = json.loads(files.get("config.json", b"{}"))
        config = {k: loaded[k] for k in ("architectures", "model_type") if k in loaded}
    except ValueError:
        pass
    return {
        "_id": hashlib.sha1(repo_id.encode()).hexdigest()[:24],
        "id": repo_id,
        "modelId": repo_id,
        "author": repo_id.split("/")[0] if "/" in repo_id else None,
        "sha": sha,
        "lastModified": _DATE,
        "createdAt": _DATE,
        "private": False,
        "gated": "manual" if repo.token else False,
        "disabled": False,
        "downloads": 0,
        "likes": 0,
        "library_name": "transformers",
        "pipeline_tag": "text-generation",
        "tags": ["transformers", "safetensors", "llama", "text-generation"],
        "config": config,
        "siblings": siblings,
        "usedStorage": sum(len(c) for c in files.values()),
    }


def _tree(files: dict[str, bytes], under: str, *, recursive: bool, sha: str) -> list[Any]:
    prefix = under.strip("/") + "/" if under.strip("/") else ""
    below = sorted(path[len(prefix) :] for path in files if path.startswith(prefix))
    if not below:
        raise _HubError(404, "EntryNotFound", f"{under} does not exist on {sha}", commit=sha)
    entries: dict[str, dict[str, Any]] = {}
    for rest in below:
        parts = rest.split("/")
        for depth in range(1, len(parts)):
            if depth > 1 and not recursive:
                break
            folder = prefix + "/".join(parts[:depth])
            oid = hashlib.sha1(f"tree {sha} {folder}".encode()).hexdigest()
            entries[folder] = {"type": "directory", "oid": oid, "size": 0, "path": folder}
        if len(parts) > 1 and not recursive:
            continue
        path = prefix + rest
        content = files[path]
        entry: dict[str, Any] = {
            "type": "file",
            "oid": blob_id(content),
            "size": len(content),
            "path": path,
        }
        if is_lfs(path):
            sha256 = hashlib.sha256(content).hexdigest()
            entry["lfs"] = {"oid": sha256, "size": len(content), "pointerSize": 134}
        entries[path] = entry
    return [entries[path] for path in sorted(entries)]


@dataclass
class Hub:
    """The hub, serving `repos` on 127.0.0.1 while in its `with` block.

    `requests` holds every request it got. `stall(suffix, n)` makes each later GET of a file
    whose path ends with `suffix` send `n` bytes of its body and then hang until the client
    goes away or the hub stops; `unstall()` (or `stall("", 0)`) ends that.
    """

    repos: dict[str, Repo]
    requests: list[Request] = field(default_factory=list, init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)
    _stopping: threading.Event = field(default_factory=threading.Event, init=False, repr=False)
    _stall: tuple[str, int] | None = field(default=None, init=False, repr=False)
    _bytes: int = field(default=0, init=False, repr=False)
    _connections: set[socket.socket] = field(default_factory=set, init=False, repr=False)
    _server: _Server | None = field(default=None, init=False, repr=False)
    _thread: threading.Thread | None = field(default=None, init=False, repr=False)

    @property
    def url(self) -> str:
        assert self._server is not None, "the hub is not running"
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> Hub:
        self._stopping.clear()
        server = _Server(("127.0.0.1", 0), _Handler)
        server.hub = self
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, name="hub", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        self._stopping.set()
        server.shutdown()
        with self._lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
        server.server_close()
        if self._thread is not None:
            self._thread.join(5)

    def __enter__(self) -> Hub:
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.stop()

    def stall(self, path_suffix: str, after_bytes: int) -> None:
        with self._lock:
            self._stall = (
                None if (path_suffix, after_bytes) == ("", 0) else (path_suffix, after_bytes)
            )

    def unstall(self) -> None:
        self.stall("", 0)

    def bytes_served(self) -> int:
        """Bytes of file content sent so far (response bodies of downloads)."""
        with self._lock:
            return self._bytes

    # --- for the handler ----------------------------------------------------------------

    def _record(self, request: Request) -> None:
        with self._lock:
            self.requests.append(request)

    def _served(self, count: int) -> None:
        with self._lock:
            self._bytes += count

    def _opened(self, connection: socket.socket) -> None:
        with self._lock:
            self._connections.add(connection)

    def _closed(self, connection: socket.socket) -> None:
        with self._lock:
            self._connections.discard(connection)

    def _stall_for(self, path: str) -> int | None:
        with self._lock:
            if self._stall is not None and path.endswith(self._stall[0]):
                return self._stall[1]
            return None

    def _hang(self, connection: socket.socket) -> None:
        """Wait until the client closes the connection or the hub stops."""
        while not self._stopping.is_set():
            readable, _, _ = select.select([connection], [], [], 0.05)
            if readable:
                try:
                    if connection.recv(1, socket.MSG_PEEK) == b"":
                        return
                except OSError:
                    return
                time.sleep(0.05)

    def _split_repo(self, segments: list[str], markers: tuple[str, ...]) -> tuple[str, list[str]]:
        """(repo id, the segments after it): a known `org/name` or `name`, else a guess."""
        for size in (2, 1):
            if len(segments) >= size and "/".join(segments[:size]) in self.repos:
                return "/".join(segments[:size]), segments[size:]
        size = 1 if len(segments) < 2 or segments[1] in markers else 2
        return "/".join(segments[:size]), segments[size:]

    def _repo(self, repo_id: str, authorization: str | None) -> Repo:
        repo = self.repos.get(repo_id)
        if repo is None:
            raise _HubError(404, "RepoNotFound", "Repository not found")
        if repo.token is not None and authorization != f"Bearer {repo.token}":
            if authorization is None:
                message = (
                    f"Access to model {repo_id} is restricted. You must have access to it"
                    " and be authenticated to access it. Please log in."
                )
                raise _HubError(401, "GatedRepo", message)
            message = (
                f"Access to model {repo_id} is restricted and you are not in the authorized"
                f" list. Visit https://huggingface.co/{repo_id} to ask for access."
            )
            raise _HubError(403, "GatedRepo", message)
        return repo

    def _sha(self, repo: Repo, revision: str) -> str:
        sha = repo.refs.get(revision, revision)
        if sha not in repo.revisions:
            raise _HubError(404, "RevisionNotFound", f"Invalid rev id: {revision}")
        return sha
