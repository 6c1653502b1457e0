"""HTTP GET with bounded time, bounded size, bounded redirects and retries with backoff.

urllib3 rather than urllib.request: it streams bodies, enforces Content-Length (a truncated body is
an error, not a short file), and hands back 304/206/416 as ordinary responses instead of exceptions.
It is imported lazily so CLI start-up stays fast.

Bounds (README "Network bounds" states them for users):
* a total deadline per fetch, retries and backoff included; the per-read timeout alone would let
  a server that sends one byte a second hold us forever, so bodies are read with read1 (returns
  as soon as any bytes arrive) and the clock is checked between reads, and the request/headers
  phase runs under a watchdog thread;
* a size cap per kind of file, checked against Content-Length up front and against the bytes
  actually received;
* identity encoding only: we ask for it and refuse a body that arrives compressed anyway, so a
  small compressed answer can never expand in memory or on disk (urllib3 2.x decodes
  Content-Encoding gzip/deflate/br/zstd by default: urllib3/response.py, BaseHTTPResponse
  with decode_content=True);
* redirects followed by us, at most MAX_REDIRECTS, and only to http(s) URLs.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar

from capi_sysext import __version__
from capi_sysext.errors import CapiSysextError, Problem

if TYPE_CHECKING:
    import urllib3

DEFAULT_TIMEOUT = 30.0
DEFAULT_RETRIES = 3
DEFAULT_BACKOFF = 1.0
USER_AGENT = f"capi-sysext/{__version__}"
# Status codes worth another try: the server (or a proxy in front of it) may recover.
_TRANSIENT_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})
# RFC 9110 section 15.4: the redirect statuses that carry a Location to follow.
_REDIRECT_STATUS = frozenset({301, 302, 303, 307, 308})
MAX_REDIRECTS = 10
_CHUNK = 1 << 16
MIB = 1 << 20


class Limit(NamedTuple):
    """What one kind of download may cost: bytes in the body, seconds for the whole fetch."""

    max_bytes: int
    deadline: float


# The bakery's kubernetes/SHA256SUMS is a few KiB; 16 MiB leaves room for any real mirror.
INDEX_LIMIT = Limit(16 * MIB, 120.0)
# No transfer (.conf) file is downloaded by the product: `mirror` writes its own. A future
# download of one gets its own Limit here (they are a dozen lines).
# Kubernetes sysext images are ~100-300 MB; 2 GiB and 30 min per image bound a runaway server.
IMAGE_LIMIT = Limit(2048 * MIB, 1800.0)

T = TypeVar("T")


class FetchError(CapiSysextError):
    """A URL could not be fetched. `transient` errors are retried; the rest fail at once."""

    def __init__(
        self,
        url: str,
        reason: str,
        *,
        transient: bool,
        status: int | None = None,
        fix: str = "",
        unreachable: bool | None = None,
    ) -> None:
        self.url = url
        self.reason = reason
        self.transient = transient
        self.status = status
        self.fix = fix
        # Unreachable: callers with a fallback (cache, embedded catalog) may use it. Every
        # transient failure is; so is a spent deadline, which is not worth retrying.
        self.unreachable = transient if unreachable is None else unreachable
        super().__init__([Problem(f"cannot fetch {_printable(url)}: {reason}", fix)])

    def replace(self, *, reason: str | None = None, fix: str | None = None) -> FetchError:
        return FetchError(
            self.url,
            self.reason if reason is None else reason,
            transient=self.transient,
            status=self.status,
            fix=self.fix if fix is None else fix,
            unreachable=self.unreachable,
        )


class DeadlineExceeded(FetchError):
    """The total deadline ran out; not retried (there is no time left to retry in)."""

    def __init__(self, url: str, deadline: float) -> None:
        super().__init__(
            url, f"no complete answer within {deadline:g} s", transient=False, unreachable=True
        )


def _printable(text: str, limit: int = 200) -> str:
    """A URL from a server's Location header may hold anything: show it escaped and clipped."""
    clipped = text if len(text) <= limit else text[:limit] + "..."
    return clipped if clipped.isprintable() else repr(clipped)


def describe_network_error(exc: BaseException, timeout: float) -> str:
    """One short human reason for a urllib3/socket failure (the raw repr is unreadable)."""
    import urllib3.exceptions as ue

    if isinstance(exc, ue.MaxRetryError) and exc.reason is not None:
        exc = exc.reason
    # NewConnectionError subclasses ConnectTimeoutError in urllib3: test it first.
    if isinstance(exc, ue.NameResolutionError):
        return "host name does not resolve"
    if isinstance(exc, ue.NewConnectionError):
        return "connection failed (network unreachable or nothing listening)"
    if isinstance(exc, ue.TimeoutError | TimeoutError):
        return f"timed out after {timeout:g} s"
    if isinstance(exc, ue.ProtocolError):
        return "connection broken mid-transfer (truncated response)"
    if isinstance(exc, ue.SSLError):
        return f"TLS error: {exc}"
    if isinstance(exc, ue.DecodeError):
        return "the body could not be read as sent (bad transfer or content encoding)"
    return f"{type(exc).__name__}: {exc}"


def _run_bounded(fn: Callable[[], T], seconds: float) -> T | None:
    """fn() in a daemon thread, or None when it has not returned within `seconds`.

    Only the request/headers phase runs here: a socket timeout bounds each recv, not a server
    that drips one header byte at a time. An abandoned thread ends with its socket (the server
    closing it, or process exit); it owns nothing of ours.
    """
    import threading

    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["value"] = fn()
        except BaseException as exc:  # handed to the caller's thread below
            box["error"] = exc

    worker = threading.Thread(target=run, name="capi-sysext-fetch", daemon=True)
    worker.start()
    worker.join(max(seconds, 0.0))
    if worker.is_alive():
        return None
    if "error" in box:
        raise box["error"]
    value: T = box["value"]
    return value


@dataclass
class HttpClient:
    """A small policy object: how long to wait, how often to retry, how to sleep (tests inject)."""

    timeout: float = DEFAULT_TIMEOUT  # per connect and per read
    retries: int = DEFAULT_RETRIES  # extra attempts after the first one
    backoff: float = DEFAULT_BACKOFF  # first delay; doubles each retry
    # Total seconds for one fetch (all attempts and backoff); None: the kind's Limit decides.
    deadline: float | None = None
    # Looked up when called, so a test can patch time.sleep for commands it runs end to end.
    sleep: Callable[[float], None] = field(default=lambda seconds: time.sleep(seconds))  # noqa: PLW0108
    clock: Callable[[], float] = field(default=lambda: time.monotonic())  # noqa: PLW0108
    _pool: Any = field(default=None, repr=False)
    _deadline_at: float | None = field(default=None, repr=False)
    _deadline_len: float = field(default=0.0, repr=False)

    def _manager(self) -> urllib3.PoolManager:
        if self._pool is None:
            import urllib3

            # No redirects and no retries inside urllib3: open() follows redirects itself (to
            # check each Location), and with_retries owns backoff and the error message.
            self._pool = urllib3.PoolManager(
                timeout=urllib3.Timeout(connect=self.timeout, read=self.timeout),
                retries=urllib3.Retry(
                    total=None,
                    connect=0,
                    read=0,
                    status=0,
                    other=0,
                    redirect=0,
                    raise_on_redirect=False,
                ),
                headers={"User-Agent": USER_AGENT, "Accept-Encoding": "identity"},
            )
        pool: urllib3.PoolManager = self._pool
        return pool

    # ---- deadline --------------------------------------------------------------------------

    def start_deadline(self, seconds: float) -> None:
        """Begin one fetch's clock (with_retries does this; open() does it when called alone)."""
        length = self.deadline if self.deadline is not None else seconds
        self._deadline_len = length
        self._deadline_at = self.clock() + length

    def _remaining(self, url: str) -> float:
        if self._deadline_at is None:
            self.start_deadline(INDEX_LIMIT.deadline)
        assert self._deadline_at is not None
        left = self._deadline_at - self.clock()
        if left <= 0:
            raise DeadlineExceeded(url, self._deadline_len)
        return left

    def with_retries(self, attempt: Callable[[], T], limit: Limit = INDEX_LIMIT) -> T:
        """Run attempt under one total deadline; on a transient FetchError back off and retry."""
        self.start_deadline(limit.deadline)
        try:
            for n in range(self.retries + 1):
                try:
                    return attempt()
                except FetchError as exc:
                    if not exc.transient or n == self.retries:
                        if exc.transient and self.retries:
                            reason = f"{exc.reason} (gave up after {self.retries + 1} attempts)"
                            raise exc.replace(reason=reason) from exc
                        raise
                    delay = self.backoff * 2**n
                    assert self._deadline_at is not None
                    if self.clock() + delay >= self._deadline_at:
                        # Sleeping would overrun the deadline: give up now, saying why.
                        raise exc.replace(
                            reason=f"{exc.reason} (no time left to retry within "
                            f"{self._deadline_len:g} s)"
                        ) from exc
                    self.sleep(delay)
            raise AssertionError("unreachable")
        finally:
            self._deadline_at = None

    # ---- one attempt -----------------------------------------------------------------------

    def open(
        self,
        url: str,
        headers: Mapping[str, str] | None = None,
        *,
        ok: frozenset[int] = frozenset(),
        max_bytes: int = INDEX_LIMIT.max_bytes,
    ) -> urllib3.BaseHTTPResponse:
        """One GET attempt with a streamed body, following redirects. Returns 200 and `ok`.

        The caller must call release_conn() on the response (read_all and stream do).
        """
        current = url
        for _hop in range(MAX_REDIRECTS + 1):
            resp = self._request(current, headers)
            if resp.status not in _REDIRECT_STATUS:
                break
            location = resp.headers.get("Location")
            _discard(resp)
            current = _next_location(url, current, location)
        else:
            raise FetchError(
                url,
                f"more than {MAX_REDIRECTS} redirects (last to {_printable(current)})",
                transient=False,
                fix="the server redirects in a loop; check the URL",
            )
        if resp.status == 200 or resp.status in ok:
            try:
                _check_body_headers(url, resp, max_bytes)
            except FetchError:
                _discard(resp)
                raise
            return resp
        _discard(resp)
        status = resp.status
        reason = f"HTTP {status} {resp.reason or ''}".rstrip()
        raise FetchError(url, reason, transient=status in _TRANSIENT_STATUS, status=status)

    def _request(self, url: str, headers: Mapping[str, str] | None) -> urllib3.BaseHTTPResponse:
        import urllib3
        import urllib3.exceptions as ue

        remaining = self._remaining(url)
        per_read = min(self.timeout, remaining)

        def call() -> urllib3.BaseHTTPResponse:
            return self._manager().request(
                "GET",
                url,
                headers=dict(headers or {}),
                preload_content=False,
                decode_content=False,
                redirect=False,
                timeout=urllib3.Timeout(connect=per_read, read=per_read),
            )

        try:
            resp = _run_bounded(call, remaining)
        except ue.LocationValueError as exc:  # also a ValueError: test it first
            raise FetchError(url, f"not a usable URL ({exc})", transient=False) from exc
        except ue.HTTPError as exc:
            reason = describe_network_error(exc, per_read)
            raise FetchError(url, reason, transient=True) from exc
        except ValueError as exc:  # http.client refuses control characters in a URL
            raise FetchError(url, f"not a usable URL ({exc})", transient=False) from exc
        if resp is None:
            raise DeadlineExceeded(url, self._deadline_len)
        return resp

    def stream(self, url: str, resp: urllib3.BaseHTTPResponse, max_bytes: int) -> Iterator[bytes]:
        """The body in chunks, within the deadline and the size cap; releases the connection."""
        import urllib3.exceptions as ue

        total = 0
        try:
            while True:
                self._remaining(url)
                try:
                    # read1: whatever has arrived (up to _CHUNK), so a drip of single bytes
                    # cannot keep one read() waiting for a full chunk past the deadline.
                    chunk = resp.read1(_CHUNK, decode_content=False)
                except ue.HTTPError as exc:
                    reason = describe_network_error(exc, self.timeout)
                    raise FetchError(url, reason, transient=True) from exc
                except OSError as exc:  # a reset the response object did not wrap
                    raise FetchError(url, f"connection failed: {exc}", transient=True) from exc
                if not chunk:
                    return
                total += len(chunk)
                if total > max_bytes:
                    raise _too_big(url, max_bytes)
                yield chunk
        finally:
            resp.release_conn()

    def read_all(
        self, url: str, resp: urllib3.BaseHTTPResponse, max_bytes: int = INDEX_LIMIT.max_bytes
    ) -> bytes:
        """The whole body (at most max_bytes); truncated or stalled bodies are transient errors."""
        return b"".join(self.stream(url, resp, max_bytes))


def _discard(resp: urllib3.BaseHTTPResponse) -> None:
    """Drop a response we do not read: closing beats draining a body of unknown size."""
    resp.close()
    resp.release_conn()


def _check_body_headers(url: str, resp: urllib3.BaseHTTPResponse, max_bytes: int) -> None:
    encoding = (resp.headers.get("Content-Encoding") or "identity").strip().lower()
    if encoding != "identity":
        raise FetchError(
            url,
            f"the server sent a {_printable(encoding)}-encoded body although only identity "
            "was accepted; refusing to decompress it",
            transient=False,
            fix="serve the file uncompressed (the sysext-bakery and a plain web server do)",
        )
    length = resp.headers.get("Content-Length")
    digits = (length or "").strip()
    # len() first: int() of thousands of digits is itself an error (int-string limit).
    if digits.isascii() and digits.isdigit() and (len(digits) > 18 or int(digits) > max_bytes):
        raise _too_big(url, max_bytes, announced=int(digits) if len(digits) <= 18 else None)


def _too_big(url: str, max_bytes: int, announced: int | None = None) -> FetchError:
    said = f" (it announced {announced} bytes)" if announced is not None else ""
    return FetchError(
        url,
        f"body larger than the {max_bytes // MIB} MiB allowed for this kind of file{said}",
        transient=False,
        fix="check the URL points at the file meant (a sha256sum index, a sysext image)",
    )


def _next_location(original: str, current: str, location: str | None) -> str:
    """Where a redirect points, if it is somewhere we go: an absolute http(s) URL."""
    from urllib.parse import urljoin, urlsplit

    if not location or not location.strip():
        raise FetchError(
            original,
            f"redirect from {_printable(current)} without a Location header",
            transient=False,
        )
    try:
        target = urljoin(current, location.strip())
        scheme = urlsplit(target).scheme.lower()
    except ValueError as exc:
        raise FetchError(
            original, f"redirect to an unusable URL {_printable(location)} ({exc})", transient=False
        ) from exc
    if scheme not in ("http", "https"):
        raise FetchError(
            original,
            f"redirected to {_printable(target)}, which is not an http(s) URL",
            transient=False,
            fix="only http:// and https:// redirects are followed; check the server",
        )
    if not target.isprintable():
        raise FetchError(
            original,
            f"redirect to a URL with control characters {_printable(target)}",
            transient=False,
        )
    return target
