"""A small real HTTP server on 127.0.0.1 that plays the sysext-bakery (or a mirror) in tests.

Serves an in-memory file table and, optionally, a directory. Supports ETag/If-None-Match,
Last-Modified/If-Modified-Since and single byte ranges, records every request, and can inject
faults per path: "404", "500", "stall" (hold the response past the client timeout), "truncate"
(announce the full length, send half, close), "corrupt" (flip bytes). Faults can be limited to the
first N requests. Always used as a context manager so the server is shut down.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass, field
from email.utils import formatdate, parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any


class _QuietServer(ThreadingHTTPServer):
    """A client hanging up mid-answer (a timeout, a fault rule, a retry) is normal here. The
    stock handler prints a traceback to sys.stderr, which click's CliRunner has swapped for the
    command's own stderr at that moment; keep connection errors to ourselves, raise nothing else."""

    def handle_error(self, request: Any, client_address: Any) -> None:
        import sys

        if isinstance(sys.exc_info()[1], ConnectionError | TimeoutError):
            return
        super().handle_error(request, client_address)


STALL_LIMIT = 3.0  # seconds a stalled response may hold a thread; bounded so tests end


@dataclass
class Fault:
    kind: str
    times: int | None = None  # None: every request


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    status: int = 0


@dataclass
class BakeryServer:
    files: dict[str, bytes] = field(default_factory=dict)
    root: Path | None = None
    honor_range: bool = True
    honor_conditional: bool = True
    mtime: float = 1_700_000_000.0
    faults: dict[str, Fault] = field(default_factory=dict)
    requests: list[Seen] = field(default_factory=list)
    _httpd: Any = None
    _thread: threading.Thread | None = None
    _stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def fault(self, path: str, kind: str, times: int | None = None) -> None:
        self.faults[path] = Fault(kind, times)

    def seen(self, path: str) -> list[Seen]:
        with self._lock:
            return [r for r in self.requests if r.path == path]

    def _take_fault(self, path: str) -> str | None:
        with self._lock:
            f = self.faults.get(path)
            if f is None:
                return None
            if f.times is not None:
                if f.times <= 0:
                    return None
                f.times -= 1
            return f.kind

    def _lookup(self, path: str) -> bytes | None:
        if path in self.files:
            return self.files[path]
        if self.root is not None:
            candidate = (self.root / path.lstrip("/")).resolve()
            if candidate.is_file() and self.root.resolve() in candidate.parents:
                return candidate.read_bytes()
        return None

    def __enter__(self) -> BakeryServer:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass  # keep pytest output clean

            def do_GET(self) -> None:
                seen = Seen("GET", self.path, {k.lower(): v for k, v in self.headers.items()})
                with server._lock:
                    server.requests.append(seen)
                self._seen = seen
                self._serve(seen)

            def _send(
                self,
                status: int,
                body: bytes = b"",
                headers: dict[str, str] | None = None,
                length: int | None = None,
            ) -> int:
                # Recorded before the body goes out: the client may be done (and the test
                # asserting) the moment the last byte arrives.
                self._seen.status = status
                self.send_response(status)
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body) if length is None else length))
                self.end_headers()
                self.wfile.write(body)
                return status

            def _serve(self, seen: Seen) -> int:
                fault = server._take_fault(self.path)
                if fault == "404":
                    return self._send(404, b"not found\n")
                if fault == "500":
                    return self._send(500, b"boom\n")
                if fault == "stall":
                    server._stop.wait(STALL_LIMIT)
                    self.close_connection = True
                    return 0
                body = server._lookup(self.path)
                if body is None:
                    return self._send(404, b"not found\n")
                etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
                modified = formatdate(server.mtime, usegmt=True)
                headers = {"ETag": etag, "Last-Modified": modified}
                if server.honor_conditional:
                    inm = seen.headers.get("if-none-match")
                    ims = seen.headers.get("if-modified-since")
                    if inm is not None and inm == etag:
                        return self._send(304, headers=headers, length=0)
                    if inm is None and ims is not None:
                        try:
                            if parsedate_to_datetime(ims).timestamp() >= int(server.mtime):
                                return self._send(304, headers=headers, length=0)
                        except (TypeError, ValueError):
                            pass
                if fault == "corrupt":
                    body = bytes(b ^ 0x5A for b in body[:8]) + body[8:]
                status, start = 200, 0
                rng = seen.headers.get("range")
                if rng and server.honor_range and rng.startswith("bytes=") and rng.endswith("-"):
                    start = int(rng[len("bytes=") : -1])
                    if start >= len(body):
                        return self._send(416, headers={"Content-Range": f"bytes */{len(body)}"})
                    status = 206
                    headers["Content-Range"] = f"bytes {start}-{len(body) - 1}/{len(body)}"
                payload = body[start:]
                if fault == "truncate":
                    self.close_connection = True
                    return self._send(
                        status, payload[: len(payload) // 2], headers, length=len(payload)
                    )
                return self._send(status, payload, headers)

        self._httpd = _QuietServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()  # release stalled handlers
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
