"""A deliberately hostile HTTP server on 127.0.0.1 for the network tests (index, generate, mirror).

Raw sockets rather than http.server, so it can break HTTP the way real servers and middleboxes
do. Each path gets a Rule; behaviours:

    body        a normal 200 with `body` (wrong hashes and traversal names go in the body)
    drip        headers, then the body one byte every `interval` seconds
    drip_head   the status line, then header bytes one at a time, never finishing
    huge        announces `size` bytes and streams zeros (until the client hangs up)
    endless     no Content-Length, zeros until the client hangs up
    gzip_bomb   Content-Encoding: gzip, a small body that inflates to `size` bytes
    reset       reads the request and resets the connection (TCP RST)
    blackhole   accepts, reads the request, never answers
    redirect    3xx with `location` (None: no Location header at all)

Every handler is bounded by HOLD_LIMIT and by shutdown, so a test that forgets a rule cannot
hang the run; the server is always used as a context manager.
"""

from __future__ import annotations

import contextlib
import gzip
import socket
import struct
import threading
from dataclasses import dataclass, field
from typing import Any

HOLD_LIMIT = 8.0  # seconds any hostile behaviour may hold a connection


@dataclass
class Rule:
    kind: str
    body: bytes = b""
    size: int = 0
    interval: float = 0.2
    location: str | None = None
    status: int = 0  # 0: 200 for body, 302 for redirect
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class HostileServer:
    rules: dict[str, Rule] = field(default_factory=dict)
    hits: list[str] = field(default_factory=list)
    _sock: Any = None
    _thread: threading.Thread | None = None
    _stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        host, port = self._sock.getsockname()[:2]
        return f"http://{host}:{port}"

    def rule(self, path: str, kind: str, **kw: Any) -> None:
        self.rules[path] = Rule(kind, **kw)

    def count(self, path: str) -> int:
        with self._lock:
            return self.hits.count(path)

    def __enter__(self) -> HostileServer:
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(16)
        self._sock.settimeout(0.05)
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._sock.close()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    # ---- one connection ----------------------------------------------------------------------

    def _handle(self, conn: socket.socket) -> None:
        conn.settimeout(HOLD_LIMIT)
        try:
            path = self._read_request(conn)
            if path is None:
                return
            with self._lock:
                self.hits.append(path)
            rule = self.rules.get(path) or Rule("body", status=404, body=b"not here\n")
            self._answer(conn, rule)
        except OSError:
            pass  # the client hung up: that is the point of most rules
        finally:
            with contextlib.suppress(OSError):
                conn.close()

    @staticmethod
    def _read_request(conn: socket.socket) -> str | None:
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = conn.recv(4096)
            if not chunk or len(data) > 65536:
                return None
            data += chunk
        parts = data.split(b"\r\n", 1)[0].split()
        return parts[1].decode("latin-1") if len(parts) >= 2 else None

    def _wait(self, seconds: float) -> bool:
        """Sleep; False when the server is shutting down."""
        return not self._stop.wait(seconds)

    def _answer(self, conn: socket.socket, rule: Rule) -> None:
        def head(status: int, headers: dict[str, str]) -> bytes:
            lines = [f"HTTP/1.1 {status} X"] + [f"{k}: {v}" for k, v in headers.items()]
            return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")

        base = {"Connection": "close", **rule.headers}
        kind = rule.kind
        if kind == "body":
            headers = {**base, "Content-Length": str(len(rule.body))}
            conn.sendall(head(rule.status or 200, headers) + rule.body)
        elif kind == "drip":
            conn.sendall(head(200, {**base, "Content-Length": str(len(rule.body))}))
            for i in range(len(rule.body)):
                if not self._wait(rule.interval):
                    return
                conn.sendall(rule.body[i : i + 1])
        elif kind == "drip_head":
            conn.sendall(b"HTTP/1.1 200 OK\r\n")
            for _ in range(int(HOLD_LIMIT / rule.interval)):
                if not self._wait(rule.interval):
                    return
                conn.sendall(b"X")
        elif kind in ("huge", "endless"):
            headers = dict(base)
            if kind == "huge":
                headers["Content-Length"] = str(rule.size)
            conn.sendall(head(200, headers))
            zeros = b"\0" * 65536
            while not self._stop.is_set():
                conn.sendall(zeros)
        elif kind == "gzip_bomb":
            payload = gzip.compress(b"\0" * rule.size, compresslevel=9)
            headers = {**base, "Content-Encoding": "gzip", "Content-Length": str(len(payload))}
            conn.sendall(head(200, headers) + payload)
        elif kind == "reset":
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        elif kind == "blackhole":
            self._wait(HOLD_LIMIT)
        elif kind == "redirect":
            headers = {**base, "Content-Length": "0"}
            if rule.location is not None:
                headers["Location"] = rule.location
            conn.sendall(head(rule.status or 302, headers))
        else:
            raise AssertionError(f"unknown rule {kind}")
