"""The HTTP transport: the official client's kubeconfig handling and connection pool, our own
retry policy and answer checks."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from capi_sysext.apply.results import ApplyOptions, BadAnswer, TransportError
from capi_sysext.errors import InputError, Problem


@dataclass(frozen=True)
class Response:
    status: int
    headers: Mapping[str, str]
    body: Any  # decoded JSON, or the raw text when it is not JSON


class KubeClient:
    """Thin HTTP access to the API server through the official client, with our retry policy."""

    def __init__(self, options: ApplyOptions) -> None:
        from kubernetes import client as k8s_client
        from kubernetes import config as k8s_config
        from kubernetes.config.config_exception import ConfigException
        from yaml import YAMLError

        # The client ships no type hints; keep its objects as Any at this one seam.
        client: Any = k8s_client
        config: Any = k8s_config

        from capi_sysext.readers import check_kubeconfig

        check_kubeconfig(options.kubeconfig)
        cfg = client.Configuration()
        try:
            config.load_kube_config(
                config_file=options.kubeconfig,
                context=options.context,
                client_configuration=cfg,
                persist_config=False,
            )
        # A binary or non-YAML kubeconfig surfaces as UnicodeDecodeError (a ValueError) or a
        # YAMLError from the client's loader: bad input like any other.
        except (ConfigException, OSError, ValueError, YAMLError) as exc:
            where = options.kubeconfig or "the default kubeconfig"
            raise InputError(
                [Problem(f"cannot load {where}: {exc}", "pass --kubeconfig / --context")]
            ) from None
        # urllib3 would otherwise retry connection errors silently and without backoff; the
        # policy below is the only retry layer, so attempts are bounded and visible.
        cfg.retries = False
        self._cfg = cfg
        self._api: Any = client.ApiClient(cfg)
        self._options = options
        self.host = str(cfg.host).rstrip("/")
        self.namespace = _context_namespace(config, options)
        self.deadline_at: float | None = None  # set by apply_documents; None: no total bound

    def _remaining(self, what: str) -> float | None:
        if self.deadline_at is None:
            return None
        left = self.deadline_at - self._options.retry.clock()
        if left <= 0:
            raise TransportError(
                [
                    Problem(
                        f"{what}: apply did not finish within {self._options.apply_timeout:g}s",
                        f"check the API server at {self.host}, or raise --apply-timeout",
                    )
                ]
            )
        return left

    def close(self) -> None:
        self._api.close()

    def request(
        self,
        method: str,
        path: str,
        query: Mapping[str, str] | None = None,
        body: Any = None,
        content_type: str = "application/json",
    ) -> Response:
        """One API call, retried on 429, 5xx, connection errors and timeouts.

        Only PATCH (server-side apply, idempotent by design) and reads go through here, so
        repeating a request whose outcome is unknown is safe.
        """
        import urllib3

        url = self.host + path + ("?" + urlencode(query) if query else "")
        headers = {"Accept": "application/json", "User-Agent": "capi-sysext"}
        if body is not None:
            headers["Content-Type"] = content_type
        # auth_settings() names the token's key differently across client releases; its
        # output (header name and value) is stable. It also runs the token refresh hook.
        for setting in self._cfg.auth_settings().values():
            if setting.get("in") == "header" and setting.get("value"):
                headers[str(setting["key"])] = str(setting["value"])
        payload = json.dumps(body) if body is not None else None
        policy = self._options.retry
        last = ""
        for attempt in range(1, policy.attempts + 1):
            retry_after: float | None = None
            resp: Response | None = None
            left = self._remaining(f"{method} {path}")
            connect, read = self._options.request_timeout
            if left is not None:
                connect, read = min(connect, left), min(read, left)
            try:
                # The client's own pool (its TLS, proxy and certificate setup), but our own
                # read loop: its REST layer reads a body in one call (kubernetes-client/python
                # 37.0.2, kubernetes/client/rest.py: RESTClientObject builds `pool_manager` in
                # __init__, RESTResponse.read() returns `response.data`), which no deadline
                # can interrupt when a server trickles it.
                raw = self._api.rest_client.pool_manager.request(
                    method,
                    url,
                    body=payload.encode() if payload is not None else None,
                    headers=dict(headers),
                    timeout=urllib3.Timeout(connect=connect, read=read),
                    preload_content=False,
                    retries=False,
                    redirect=False,  # a redirect must not carry our token elsewhere
                )
                try:
                    data = self._read_body(raw, f"{method} {path}")
                finally:
                    raw.release_conn()
                resp = _response(raw.status, raw.headers, data)
            except urllib3.exceptions.SSLError as exc:  # retrying will not fix TLS
                raise TransportError(f"{method} {path}: TLS error: {exc}") from None
            except (urllib3.exceptions.HTTPError, OSError) as exc:
                last = _describe_connection_error(exc)
            if resp is not None:
                if resp.status != 429 and resp.status < 500:
                    _check_json(resp, method, path)
                    return resp
                last = f"HTTP {resp.status}: {status_message(resp)}"
                retry_after = _retry_after(resp.headers)
            if attempt < policy.attempts:
                delay = policy.delay(attempt, retry_after)
                left = self._remaining(f"{method} {path} (last: {last})")
                policy.sleep(delay if left is None else min(delay, left))
        raise TransportError(
            [
                Problem(
                    f"{method} {path}: gave up after {policy.attempts} attempts, last: {last}",
                    f"check that the API server at {self.host} is reachable and healthy",
                )
            ]
        )

    def _read_body(self, raw: Any, what: str) -> bytes:
        """The whole answer, within the deadline and MAX_ANSWER_BYTES."""
        chunks: list[bytes] = []
        size = 0
        while True:
            self._remaining(what)
            chunk = raw.read1(1 << 16)  # whatever has arrived: a trickle cannot pin one read
            if not chunk:
                return b"".join(chunks)
            size += len(chunk)
            if size > MAX_ANSWER_BYTES:
                raise BadAnswer(
                    f"{what}: answer larger than {MAX_ANSWER_BYTES >> 20} MiB; "
                    "not an answer to one object"
                )
            chunks.append(chunk)


# Our requests read one object, one discovery document or one small list; 64 MiB is far above
# any of them (etcd's default request limit is 1.5 MiB per object:
# https://etcd.io/docs/latest/dev-guide/limit/).
MAX_ANSWER_BYTES = 64 << 20


def _context_namespace(config: Any, options: ApplyOptions) -> str | None:
    """The kubeconfig context's namespace: like kubectl, it is the default for our documents."""
    try:
        contexts, active = config.list_kube_config_contexts(config_file=options.kubeconfig)
    except Exception:  # the config already loaded; this is only a default
        return None
    chosen = active
    if options.context:
        chosen = next((c for c in contexts if c.get("name") == options.context), None)
    ns = ((chosen or {}).get("context") or {}).get("namespace")
    return str(ns) if ns else None


def _response(status: int, headers: Mapping[str, str], data: bytes | str | None) -> Response:
    text = data.decode("utf-8", "replace") if isinstance(data, bytes) else (data or "")
    try:
        body: Any = json.loads(text) if text else None
    except (ValueError, RecursionError):  # not JSON, or nested deeper than the parser goes
        body = text
    return Response(int(status), {str(k).lower(): str(v) for k, v in dict(headers).items()}, body)


def _check_json(resp: Response, method: str, path: str) -> None:
    """A success must carry a JSON object: an HTML login page answered with 200 by a proxy
    is not "applied" (and error statuses keep their body only to word the message)."""
    if resp.status < 300 and not isinstance(resp.body, Mapping):
        ctype = resp.headers.get("content-type", "no content type")
        sample = _clip(resp.body if isinstance(resp.body, str) else json.dumps(resp.body))
        raise BadAnswer(
            [
                Problem(
                    f"{method} {path}: HTTP {resp.status} answer is not a Kubernetes JSON "
                    f"object ({ctype}): {sample}",
                    "check --kubeconfig points at the API server, not a proxy or web page",
                )
            ]
        )


def _clip(text: str, limit: int = 120) -> str:
    one_line = " ".join(text.split())
    return repr(one_line if len(one_line) <= limit else one_line[:limit] + "...")


# Retry-After is delay-seconds (1*DIGIT) or an HTTP-date:
# https://www.rfc-editor.org/rfc/rfc9110#section-10.2.3
_DELAY_SECONDS = re.compile(r"[0-9]{1,10}")


def _retry_after(headers: Mapping[str, str], now: Callable[[], float] = time.time) -> float | None:
    """Seconds to wait, or None (use our backoff) for anything that is neither form."""
    from email.utils import parsedate_to_datetime

    value = headers.get("retry-after", "").strip()
    if not value:
        return None
    if _DELAY_SECONDS.fullmatch(value):  # ASCII digits only: no "nan", "-1", "1e9", "١٢"
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:
        return None  # RFC 9110 dates are GMT; a zone-less date is not one
    return max(when.timestamp() - now(), 0.0)  # RetryPolicy.delay caps it


def _describe_connection_error(exc: BaseException) -> str:
    # urllib3 wraps the interesting cause (reset, refused, read timeout) a level or two deep.
    parts = [type(exc).__name__]
    reason = getattr(exc, "reason", None) or (exc.args[1] if len(exc.args) > 1 else None)
    if isinstance(reason, BaseException):
        parts.append(f"{type(reason).__name__}: {reason}")
    else:
        parts.append(str(exc))
    return " ".join(parts)


def status_message(resp: Response) -> str:
    if isinstance(resp.body, Mapping):
        return str(resp.body.get("message") or resp.body.get("reason") or "")
    return str(resp.body or "")[:200]
