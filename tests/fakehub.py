"""A loopback imitation of the ModelScope hub API, enough for the real SDK's snapshot_download.

Written from ``modelscope-notes.md``: file listings for models (``repo/files``) and datasets
(``repo/tree``, paged), file bytes with ``Range`` support, 404 JSON for unknown repos, the
region probe answered 404. Knobs for tests: ``fail_status`` (e.g. 500 for everything),
``wrong_sha`` (listing hash that does not match the bytes), ``slow`` (bytes per second for
given paths, so a kill lands mid-file). Every request is recorded in ``requests``.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlparse


@dataclass
class Seen:
    method: str
    path: str
    query: dict
    range: str | None


@dataclass
class FakeHub:
    #: (kind, "owner/name") -> {file path: bytes}; kind is "models" or "datasets".
    repos: dict = field(default_factory=dict)
    fail_status: int | None = None
    wrong_sha: set = field(default_factory=set)
    slow: dict = field(default_factory=dict)
    requests: list = field(default_factory=list)
    ignore_range: bool = False

    def add(self, kind: str, repo_id: str, files: dict[str, bytes]) -> None:
        self.repos[(kind, repo_id)] = dict(files)

    # -- server ---------------------------------------------------------------------------
    def start(self) -> str:
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output quiet
                pass

            def do_GET(self):
                hub._handle(self)

            def do_HEAD(self):
                hub._handle(self, head=True)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    # -- queries --------------------------------------------------------------------------
    def file_requests(self, path: str | None = None) -> list[Seen]:
        return [r for r in self.requests if r.path.endswith("/repo") and (path is None or r.query.get("FilePath") == path)]

    def ranges(self) -> list[str]:
        return [r.range for r in self.file_requests() if r.range]

    # -- handling -------------------------------------------------------------------------
    def _json(self, h, status: int, body: dict) -> None:
        data = json.dumps(body).encode()
        h.send_response(status)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        h.wfile.write(data)

    def _listing(self, files: dict[str, bytes]) -> list[dict]:
        out, dirs = [], set()
        for path, data in sorted(files.items()):
            parts = path.split("/")
            for i in range(1, len(parts)):
                dirs.add("/".join(parts[:i]))
            sha = hashlib.sha256(data).hexdigest()
            if path in self.wrong_sha:
                sha = hashlib.sha256(data + b"tampered").hexdigest()
            out.append({"Name": parts[-1], "Path": path, "Type": "blob", "Size": len(data), "Sha256": sha})
        out += [{"Name": d.split("/")[-1], "Path": d, "Type": "tree", "Size": 0, "Sha256": ""} for d in sorted(dirs)]
        return out

    def _handle(self, h, head: bool = False) -> None:
        url = urlparse(h.path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        self.requests.append(Seen(h.command, url.path, query, h.headers.get("Range")))
        parts = [unquote(p) for p in url.path.strip("/").split("/")]
        if url.path == "/api/v1/repos/internalAccelerationInfo":
            return self._json(h, 404, {"Code": 404, "Message": "not found", "RequestId": "fake"})
        if len(parts) < 6 or parts[:2] != ["api", "v1"] or parts[2] not in ("models", "datasets"):
            return self._json(h, 404, {"Code": 404, "Message": f"no route {url.path}", "RequestId": "fake"})
        kind, repo_id, rest = parts[2], f"{parts[3]}/{parts[4]}", parts[5:]
        if self.fail_status:
            return self._json(h, self.fail_status, {"Code": self.fail_status, "Message": "internal error",
                                                    "RequestId": "fake"})
        files = self.repos.get((kind, repo_id))
        if files is None:
            return self._json(h, 404, {"Code": 10010205001, "Message": f"repo {repo_id} not found",
                                       "RequestId": "fake"})
        if rest == ["repo", "files"] or rest == ["repo", "tree"]:
            listing = self._listing(files)
            if rest == ["repo", "tree"]:
                page, size = int(query.get("PageNumber", 1)), int(query.get("PageSize", 200))
                listing = listing[(page - 1) * size: page * size]
            return self._json(h, 200, {"Code": 200, "Success": True, "Data": {"Files": listing}})
        if rest == ["repo"] and "FilePath" in query:
            data = files.get(query["FilePath"])
            if data is None:
                return self._json(h, 404, {"Code": 404, "Message": "file not found", "RequestId": "fake"})
            return self._send_bytes(h, query["FilePath"], data, head)
        return self._json(h, 404, {"Code": 404, "Message": f"no route {url.path}", "RequestId": "fake"})

    def _send_bytes(self, h, path: str, data: bytes, head: bool) -> None:
        start, total = 0, len(data)
        rng = h.headers.get("Range")
        if rng and not self.ignore_range and rng.startswith("bytes="):
            first, _, last = rng[6:].partition("-")
            start = int(first or 0)
            end = int(last) if last else total - 1
            if start >= total:
                h.send_response(416)
                h.send_header("Content-Range", f"bytes */{total}")
                h.send_header("Content-Length", "0")
                h.end_headers()
                return
            body = data[start:end + 1]
            h.send_response(206)
            h.send_header("Content-Range", f"bytes {start}-{start + len(body) - 1}/{total}")
        else:
            body = data
            h.send_response(200)
        h.send_header("Content-Type", "application/octet-stream")
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        if head:
            return
        rate = self.slow.get(path)
        try:
            if not rate:
                h.wfile.write(body)
                return
            chunk = max(1, rate // 20)
            for i in range(0, len(body), chunk):
                h.wfile.write(body[i:i + chunk])
                h.wfile.flush()
                time.sleep(0.05)
        except (BrokenPipeError, ConnectionResetError):
            pass


@dataclass
class FakeHFHub:
    """The few Hugging Face hub routes huggingface_hub's snapshot_download uses (for ``--hub hf``)."""

    repos: dict = field(default_factory=dict)  # "owner/name" -> {path: bytes}
    requests: list = field(default_factory=list)
    commit: str = "a" * 40

    def start(self) -> str:
        hub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_GET(self):
                hub._handle(self, head=False)

            def do_HEAD(self):
                hub._handle(self, head=True)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def downloads(self) -> list[str]:
        return [path for method, path in self.requests if method == "GET" and "/resolve/" in path]

    def _send(self, h, status: int, body: bytes, headers: dict, head: bool) -> None:
        h.send_response(status)
        for key, value in headers.items():
            h.send_header(key, value)
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        if not head:
            h.wfile.write(body)

    def _handle(self, h, head: bool) -> None:
        path = urlparse(h.path).path
        self.requests.append((h.command, path))
        parts = path.strip("/").split("/")
        missing = {"X-Error-Code": "RepoNotFound", "Content-Type": "application/json"}
        if parts[:2] == ["api", "models"] and len(parts) >= 6:
            files = self.repos.get(f"{parts[2]}/{parts[3]}")
            if files is None:
                return self._send(h, 404, b'{"error": "Repository not found"}', missing, head)
            if parts[4] == "revision":
                body = {"id": f"{parts[2]}/{parts[3]}", "sha": self.commit, "siblings": [{"rfilename": f} for f in files]}
            else:  # tree
                body = [{"type": "file", "path": f, "size": len(d), "oid": hashlib.sha1(d).hexdigest()}
                        for f, d in files.items()]
            return self._send(h, 200, json.dumps(body).encode(), {"Content-Type": "application/json"}, head)
        if len(parts) >= 5 and parts[2] == "resolve":
            files = self.repos.get(f"{parts[0]}/{parts[1]}")
            data = (files or {}).get("/".join(parts[4:]))
            if data is None:
                return self._send(h, 404, b"", missing if files is None else {"X-Error-Code": "EntryNotFound"}, head)
            headers = {"X-Repo-Commit": self.commit, "ETag": f'"{hashlib.sha256(data).hexdigest()}"',
                       "Content-Type": "application/octet-stream"}
            return self._send(h, 200, data, headers, head)
        return self._send(h, 404, b'{"error": "not found"}', {"Content-Type": "application/json"}, head)
