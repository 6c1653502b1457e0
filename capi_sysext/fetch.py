"""HTTP GET with timeouts, bounded retries and exponential backoff (index and mirror downloads).

urllib3 rather than urllib.request: it streams bodies, enforces Content-Length (a truncated body is
an error, not a short file), and hands back 304/206/416 as ordinary responses instead of exceptions.
It is imported lazily so CLI start-up stays fast.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

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

T = TypeVar("T")


class FetchError(CapiSysextError):
    """A URL could not be fetched. `transient` errors are retried; the rest fail at once."""

    def __init__(
        self, url: str, reason: str, *, transient: bool, status: int | None = None, fix: str = ""
    ) -> None:
        self.url = url
        self.reason = reason
        self.transient = transient
        self.status = status
        self.fix = fix
        super().__init__([Problem(f"cannot fetch {url}: {reason}", fix)])

    def replace(self, *, reason: str | None = None, fix: str | None = None) -> FetchError:
        return FetchError(
            self.url,
            self.reason if reason is None else reason,
            transient=self.transient,
            status=self.status,
            fix=self.fix if fix is None else fix,
        )


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
    return f"{type(exc).__name__}: {exc}"


@dataclass
class HttpClient:
    """A small policy object: how long to wait, how often to retry, how to sleep (tests inject)."""

    timeout: float = DEFAULT_TIMEOUT
    retries: int = DEFAULT_RETRIES  # extra attempts after the first one
    backoff: float = DEFAULT_BACKOFF  # first delay; doubles each retry
    # Looked up when called, so a test can patch time.sleep for commands it runs end to end.
    sleep: Callable[[float], None] = field(default=lambda seconds: time.sleep(seconds))  # noqa: PLW0108
    _pool: Any = field(default=None, repr=False)

    def _manager(self) -> urllib3.PoolManager:
        if self._pool is None:
            import urllib3

            # Redirects are followed here (extensions.flatcar.org redirects to GitHub releases);
            # every other retry is ours, so backoff and the error message stay under our control.
            self._pool = urllib3.PoolManager(
                timeout=urllib3.Timeout(connect=self.timeout, read=self.timeout),
                retries=urllib3.Retry(
                    total=None, connect=0, read=0, status=0, other=0, redirect=10
                ),
                headers={"User-Agent": USER_AGENT},
            )
        pool: urllib3.PoolManager = self._pool
        return pool

    def with_retries(self, attempt: Callable[[], T]) -> T:
        """Run attempt; on a transient FetchError sleep backoff * 2**n and try again."""
        for n in range(self.retries + 1):
            try:
                return attempt()
            except FetchError as exc:
                if not exc.transient or n == self.retries:
                    if exc.transient and self.retries:
                        reason = f"{exc.reason} (gave up after {self.retries + 1} attempts)"
                        raise exc.replace(reason=reason) from exc
                    raise
                self.sleep(self.backoff * 2**n)
        raise AssertionError("unreachable")

    def open(
        self,
        url: str,
        headers: Mapping[str, str] | None = None,
        *,
        ok: frozenset[int] = frozenset(),
    ) -> urllib3.BaseHTTPResponse:
        """One GET attempt with a streamed body. Returns 200 and the statuses in `ok`.

        The caller must call release_conn() on the response.
        """
        import urllib3.exceptions as ue

        try:
            resp = self._manager().request(
                "GET", url, headers=dict(headers or {}), preload_content=False
            )
        except ue.HTTPError as exc:
            reason = describe_network_error(exc, self.timeout)
            raise FetchError(url, reason, transient=True) from exc
        if resp.status == 200 or resp.status in ok:
            return resp
        resp.drain_conn()
        resp.release_conn()
        status = resp.status
        reason = f"HTTP {status} {resp.reason or ''}".rstrip()
        raise FetchError(url, reason, transient=status in _TRANSIENT_STATUS, status=status)

    def read_all(self, url: str, resp: urllib3.BaseHTTPResponse) -> bytes:
        """The whole body; a truncated or stalled body becomes a transient FetchError."""
        import urllib3.exceptions as ue

        try:
            return resp.read()
        except ue.HTTPError as exc:
            reason = describe_network_error(exc, self.timeout)
            raise FetchError(url, reason, transient=True) from exc
        finally:
            resp.release_conn()
