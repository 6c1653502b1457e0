"""Apply generated documents to a management cluster with server-side apply, and wait for them.

No click here: the CLI builds an :class:`ApplyOptions`, calls :func:`apply_documents` (and
:func:`wait_for_clusters`) and prints the returned result. The ``kubernetes`` package is imported
inside functions only, so that ``capi-sysext --help`` does not pay for it.

Transport choice: the official client loads the kubeconfig (contexts, tokens, exec plugins, client
certificates, TLS) and owns the connection pool; requests go through its REST layer directly rather
than through ``DynamicClient``, which runs full discovery of every API group on construction (slow
on real clusters and needless here: we discover exactly the group-versions our documents use).
It also lets us send ``application/apply-patch+yaml`` and own the retry policy.
"""

from __future__ import annotations

import copy
import enum
import fnmatch
import json
import math
import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlencode

from capi_sysext.errors import CapiSysextError, InputError, Problem
from capi_sysext.requirements import CRD_REQUIREMENTS, GateRequirement

FIELD_MANAGER = "capi-sysext"

# Apply order, first matching tier wins: (group glob, kind glob). Things referenced come before
# the things that reference them, so controllers never see a dangling reference; add-ons last
# because they target a Cluster. Unmatched kinds go after everything else, in input order.
APPLY_ORDER: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = (
    ("namespaces", (("", "Namespace"),)),
    ("secrets and config maps", (("", "Secret"), ("", "ConfigMap"))),
    ("identities", (("*", "*Identity"),)),
    ("infrastructure", (("infrastructure.cluster.x-k8s.io", "*"),)),
    (
        "bootstrap and control plane",
        (("bootstrap.cluster.x-k8s.io", "*"), ("controlplane.cluster.x-k8s.io", "*")),
    ),
    # A topology Cluster names its class, which names its templates (tiers above).
    ("cluster classes", (("cluster.x-k8s.io", "ClusterClass"),)),
    ("cluster", (("cluster.x-k8s.io", "Cluster"),)),
    ("machines", (("cluster.x-k8s.io", "*"),)),
    ("add-ons", (("addons.cluster.x-k8s.io", "*"),)),
)

_CLUSTER_NAME_LABEL = "cluster.x-k8s.io/cluster-name"


class PreflightError(CapiSysextError):
    """The management cluster cannot take these documents; nothing was written."""


class TransportError(CapiSysextError):
    """The API server could not be reached or kept failing after all retries."""


class BadAnswer(TransportError):
    """The server (or a proxy in front of it) answered with something that is not the API's."""


class ApplyFailed(CapiSysextError):
    """Applying stopped at a hard failure; ``result`` says exactly what was and was not applied."""

    def __init__(self, problems: list[Problem], result: ApplyResult) -> None:
        super().__init__(problems)
        self.result = result


class WaitTimeout(CapiSysextError):
    """The control plane did not become available in time; problems carry the last conditions."""


# --------------------------------------------------------------------------------------------
# Options and results


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded exponential backoff without jitter (deterministic, so tests can assert on it)."""

    attempts: int = 6
    base_delay: float = 0.5
    max_delay: float = 16.0
    # Retry-After is honoured but capped: a misbehaving proxy must not park us for an hour.
    max_retry_after: float = 60.0
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic

    def delay(self, attempt: int, retry_after: float | None) -> float:
        """Delay before retry number ``attempt`` (1-based); always finite and >= 0."""
        backoff = min(self.base_delay * (2.0 ** (attempt - 1)), self.max_delay)
        if retry_after is not None and math.isfinite(retry_after):
            return min(max(retry_after, 0.0), self.max_retry_after)
        return backoff


@dataclass(frozen=True)
class ApplyOptions:
    kubeconfig: str | None = None
    context: str | None = None
    dry_run: bool = False
    force_conflicts: bool = False
    create_namespace: bool = False
    field_manager: str = FIELD_MANAGER
    default_namespace: str = "default"
    # (connect, read) seconds for each HTTP request.
    request_timeout: tuple[float, float] = (10.0, 30.0)
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    # Total seconds for preflight plus apply, retries included: a server that keeps answering
    # 429/5xx or trickles its answers cannot hold `apply` longer than this.
    apply_timeout: float = 10 * 60.0
    wait_timeout: float = 20 * 60.0
    poll_interval: float = 5.0


@dataclass(frozen=True)
class ObjectRef:
    api_version: str
    kind: str
    name: str
    namespace: str | None

    @property
    def group(self) -> str:
        return self.api_version.rsplit("/", 1)[0] if "/" in self.api_version else ""

    @property
    def version(self) -> str:
        return self.api_version.rsplit("/", 1)[-1]

    def __str__(self) -> str:
        where = f"{self.namespace}/{self.name}" if self.namespace else self.name
        return f"{self.kind} {where}"


class Action(enum.Enum):
    CREATED = "created"
    CHANGED = "changed"
    UNCHANGED = "unchanged"
    FAILED = "failed"
    NOT_APPLIED = "not applied"


@dataclass(frozen=True)
class ObjectResult:
    ref: ObjectRef
    action: Action
    detail: str = ""


@dataclass
class ApplyResult:
    objects: list[ObjectResult]
    dry_run: bool = False

    def count(self, action: Action) -> int:
        return sum(1 for o in self.objects if o.action is action)

    @property
    def applied(self) -> list[ObjectResult]:
        done = (Action.CREATED, Action.CHANGED, Action.UNCHANGED)
        return [o for o in self.objects if o.action in done]

    @property
    def not_applied(self) -> list[ObjectResult]:
        return [o for o in self.objects if o.action in (Action.FAILED, Action.NOT_APPLIED)]

    def lines(self) -> list[str]:
        suffix = " (server dry run)" if self.dry_run else ""
        out = []
        for o in self.objects:
            detail = f": {o.detail}" if o.detail else ""
            out.append(f"{o.ref} {o.action.value}{suffix}{detail}")
        counts = ", ".join(
            f"{self.count(a)} {a.value}" for a in (Action.CREATED, Action.CHANGED, Action.UNCHANGED)
        )
        failed = self.count(Action.FAILED) + self.count(Action.NOT_APPLIED)
        out.append(f"{counts}" + (f", {failed} not applied" if failed else "") + suffix)
        return out


# --------------------------------------------------------------------------------------------
# Transport


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
                last = f"HTTP {resp.status}: {_status_message(resp)}"
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


def _status_message(resp: Response) -> str:
    if isinstance(resp.body, Mapping):
        return str(resp.body.get("message") or resp.body.get("reason") or "")
    return str(resp.body or "")[:200]


# --------------------------------------------------------------------------------------------
# Documents, discovery and paths


@dataclass(frozen=True)
class _Resource:
    plural: str
    namespaced: bool


def object_ref(doc: Any, index: int, default_namespace: str | None = None) -> ObjectRef:
    if not isinstance(doc, Mapping):
        raise InputError([Problem(f"document {index + 1} is not a mapping")])
    meta = doc.get("metadata")
    name = meta.get("name") if isinstance(meta, Mapping) else None
    if not doc.get("apiVersion") or not doc.get("kind") or not name:
        raise InputError([Problem(f"document {index + 1} lacks apiVersion, kind or metadata.name")])
    ns = meta.get("namespace") if isinstance(meta, Mapping) else None
    return ObjectRef(str(doc["apiVersion"]), str(doc["kind"]), str(name), ns or default_namespace)


def apply_rank(group: str, kind: str) -> int:
    for rank, (_, patterns) in enumerate(APPLY_ORDER):
        for group_glob, kind_glob in patterns:
            if fnmatch.fnmatchcase(group, group_glob) and fnmatch.fnmatchcase(kind, kind_glob):
                return rank
    return len(APPLY_ORDER)


def order_documents(docs: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Dependency order by kind; stable, so the input order holds within a tier."""

    def key(doc: Mapping[str, Any]) -> int:
        api_version = str(doc.get("apiVersion", ""))
        group = api_version.rsplit("/", 1)[0] if "/" in api_version else ""
        return apply_rank(group, str(doc.get("kind", "")))

    return sorted(docs, key=key)


def _gv_path(group: str, version: str) -> str:
    return f"/api/{version}" if not group else f"/apis/{group}/{version}"


def _object_path(ref: ObjectRef, res: _Resource, with_name: bool = True) -> str:
    path = _gv_path(ref.group, ref.version)
    if res.namespaced and ref.namespace:
        path += f"/namespaces/{quote(ref.namespace, safe='')}"
    path += f"/{res.plural}"
    return path + (f"/{quote(ref.name, safe='')}" if with_name else "")


def _discover(kube: KubeClient, group: str, version: str) -> dict[str, _Resource] | None:
    """Kind -> resource for one group-version, like a RESTMapper; None when not served."""
    resp = kube.request("GET", _gv_path(group, version))
    if resp.status == 404:
        return None
    what = f"discovery of {group or 'core'}/{version}"
    _expect_ok(resp, what)
    resources = resp.body.get("resources")
    if not isinstance(resources, list):
        raise BadAnswer(f"{what}: the answer is not an APIResourceList (no resources list)")
    found: dict[str, _Resource] = {}
    for res in resources:
        if not isinstance(res, Mapping):
            continue
        name, kind = res.get("name"), res.get("kind")
        if not isinstance(name, str) or not isinstance(kind, str) or not name or "/" in name:
            continue  # subresources such as clusters/status, or junk
        found[kind] = _Resource(name, res.get("namespaced") is True)
    return found


def _expect_ok(resp: Response, what: str) -> None:
    if resp.status >= 300:
        raise TransportError(f"{what}: HTTP {resp.status}: {_status_message(resp)}")


# --------------------------------------------------------------------------------------------
# Feature gates


_GATE_FLAG = "--feature-gates"
_SHELL_DEFAULT = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::?[-=]([^}]*))?\}")
_K8S_ENV_REF = re.compile(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)")


def feature_gates(deployment: Mapping[str, Any]) -> dict[str, bool]:
    """Feature gates set on any container of a Deployment, later flags winning.

    Accepts ``--feature-gates=A=true,B=false`` and ``--feature-gates A=true``, ``$(VAR)``
    references to the container's env (expanded by the kubelet), and ``${VAR:=default}`` left
    over when a template was not run through clusterctl's variable substitution (the controller
    then sees the literal text, which is not ``true``; we read the default for a better hint
    but treat it as off).
    """
    gates: dict[str, bool] = {}
    spec = _dig(deployment, "spec", "template", "spec")
    containers = spec.get("containers")
    for container in containers if isinstance(containers, list) else []:
        if not isinstance(container, Mapping):
            continue
        env_list = container.get("env")
        env = {
            str(e.get("name")): str(e.get("value", ""))
            for e in (env_list if isinstance(env_list, list) else [])
            if isinstance(e, Mapping) and "value" in e
        }
        words = [str(a) for key in ("command", "args") for a in _list(container.get(key))]
        for i, word in enumerate(words):
            value: str | None = None
            if word.startswith(_GATE_FLAG + "="):
                value = word[len(_GATE_FLAG) + 1 :]
            elif word == _GATE_FLAG and i + 1 < len(words):
                value = words[i + 1]
            if value is None:
                continue
            value = _expand_env_refs(value, env)
            for item in value.split(","):
                name, sep, setting = item.strip().partition("=")
                if not sep or not name:
                    continue
                # An unsubstituted ${VAR:=x} is not a boolean to the controller: off.
                gates[name.strip()] = setting.strip().lower() == "true"
    return gates


def _dig(obj: Any, *keys: str) -> Mapping[str, Any]:
    """obj[k1][k2]...; {} as soon as a level is missing or not a mapping (a server's answer)."""
    for key in keys:
        obj = obj.get(key) if isinstance(obj, Mapping) else None
    return obj if isinstance(obj, Mapping) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _expand_env_refs(value: str, env: Mapping[str, str]) -> str:
    return _K8S_ENV_REF.sub(lambda m: env.get(m.group(1), m.group(0)), value)


def _unsubstituted(deployment: Mapping[str, Any], gate: str) -> bool:
    text = json.dumps(_dig(deployment, "spec"))
    return re.search(re.escape(gate) + r"=\$\{", text) is not None


# --------------------------------------------------------------------------------------------
# Preflight


@dataclass
class _Plan:
    items: list[tuple[ObjectRef, _Resource, dict[str, Any]]]
    missing_namespaces: set[str]


def _prepare(docs: Sequence[Any]) -> list[tuple[ObjectRef, dict[str, Any]]]:
    out = []
    for i, doc in enumerate(docs):
        ref = object_ref(doc, i)
        out.append((ref, copy.deepcopy(dict(doc))))
    return out


def preflight(
    kube: KubeClient,
    docs: Sequence[Any],
    options: ApplyOptions,
    requirements: Sequence[GateRequirement],
) -> _Plan:
    """Everything that can be known before the first write; all problems raised at once."""
    problems: list[Problem] = []
    prepared = _prepare(docs)

    kinds_present = {(ref.group, ref.kind) for ref, _ in prepared}
    crd_problem_kinds: set[tuple[str, str]] = set()
    for need in CRD_REQUIREMENTS:
        if (need.group, need.kind) not in kinds_present:
            continue
        path = f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{need.crd_name}"
        resp = kube.request("GET", path)
        if resp.status == 404:
            problem = Problem(
                f"{need.kind} documents need the CRD {need.crd_name}, which is not installed",
                need.how_to_install,
            )
            problems.append(problem)
            crd_problem_kinds.add((need.group, need.kind))
        else:
            _expect_ok(resp, f"reading CRD {need.crd_name}")

    discovered: dict[tuple[str, str], dict[str, _Resource] | None] = {}
    for ref, _ in prepared:
        gv = (ref.group, ref.version)
        if gv not in discovered:
            discovered[gv] = _discover(kube, *gv)

    crds: list[Mapping[str, Any]] | None = None
    items: list[tuple[ObjectRef, _Resource, dict[str, Any]]] = []
    reported: set[tuple[str, str, str]] = set()
    for doc_ref, body in prepared:
        ref = doc_ref
        served = discovered[(ref.group, ref.version)]
        res = served.get(ref.kind) if served is not None else None
        if res is None:
            key = (ref.group, ref.version, ref.kind)
            if key in reported or (ref.group, ref.kind) in crd_problem_kinds:
                continue
            reported.add(key)
            if crds is None:
                crds = _list_crds(kube)
            problems.append(_not_served_problem(ref, crds))
            continue
        if res.namespaced:
            ns = ref.namespace or kube.namespace or options.default_namespace
            ref = ObjectRef(ref.api_version, ref.kind, ref.name, ns)
            body.setdefault("metadata", {})["namespace"] = ns
        else:
            ref = ObjectRef(ref.api_version, ref.kind, ref.name, None)
        items.append((ref, res, body))

    for req in requirements:
        problems.extend(_check_gate(kube, req))

    declared = {ref.name for ref, _, _ in items if ref.group == "" and ref.kind == "Namespace"}
    wanted = sorted({ref.namespace for ref, _, _ in items if ref.namespace})
    # Missing namespaces matter twice: undeclared ones need --create-namespace, and in a dry
    # run nothing can be validated inside any of them (the server needs the namespace).
    missing: set[str] = set()
    for ns in wanted:
        resp = kube.request("GET", f"/api/v1/namespaces/{quote(ns, safe='')}")
        if resp.status == 404:
            missing.add(ns)
            if not options.create_namespace and ns not in declared:
                problems.append(
                    Problem(f"namespace {ns} does not exist", "pass --create-namespace")
                )
        else:
            _expect_ok(resp, f"reading namespace {ns}")

    if problems:
        raise PreflightError(problems)
    return _Plan(items, missing)


def _list_crds(kube: KubeClient) -> list[Mapping[str, Any]]:
    resp = kube.request("GET", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions")
    if resp.status >= 300 or not isinstance(resp.body, Mapping):
        return []  # only used to word the message better
    return [c for c in _list(resp.body.get("items")) if isinstance(c, Mapping)]


def _not_served_problem(ref: ObjectRef, crds: list[Mapping[str, Any]]) -> Problem:
    if not ref.group:
        return Problem(f"{ref.api_version} {ref.kind} is not served by this API server")
    for crd in crds:
        spec = _dig(crd, "spec")
        if spec.get("group") == ref.group and _dig(spec, "names").get("kind") == ref.kind:
            versions = [v for v in _list(spec.get("versions")) if isinstance(v, Mapping)]
            served = [str(v.get("name")) for v in versions if v.get("served") is True]
            return Problem(
                f"{ref.kind}: CRD {_dig(crd, 'metadata').get('name')} does not serve "
                f"{ref.version} (served: {', '.join(served) or 'none'})",
                "upgrade the provider, or generate for the served API version",
            )
    return Problem(
        f"{ref.kind} ({ref.api_version}): no CRD installed for it",
        "install the provider that owns this kind with `clusterctl init`",
    )


def _check_gate(kube: KubeClient, req: GateRequirement) -> list[Problem]:
    path = f"/apis/apps/v1/namespaces/{req.namespace}/deployments/{req.deployment}"
    resp = kube.request("GET", path)
    if resp.status == 404:
        return [
            Problem(
                f"deployment {req.namespace}/{req.deployment} not found, so feature gate "
                f"{req.gate} cannot be on",
                req.how_to_enable,
            )
        ]
    _expect_ok(resp, f"reading deployment {req.namespace}/{req.deployment}")
    if feature_gates(resp.body).get(req.gate, False):
        return []
    why = (
        " (its value is an unsubstituted ${...} variable)"
        if _unsubstituted(resp.body, req.gate)
        else ""
    )
    return [
        Problem(
            f"feature gate {req.gate} is off on {req.namespace}/{req.deployment}{why}",
            req.how_to_enable,
        )
    ]


# --------------------------------------------------------------------------------------------
# Apply


def apply_documents(
    docs: Sequence[Any],
    options: ApplyOptions,
    requirements: Sequence[GateRequirement],
    kube: KubeClient | None = None,
) -> ApplyResult:
    """Preflight, then server-side apply every document in dependency order.

    Raises PreflightError before any write, ApplyFailed (carrying the partial result) at the
    first hard failure.
    """
    _prepare(docs)  # malformed input is reported before connecting anywhere
    own = kube is None
    client = kube or KubeClient(options)
    client.deadline_at = options.retry.clock() + options.apply_timeout
    try:
        try:
            plan = preflight(client, docs, options, requirements)
        except CapiSysextError:
            raise
        except Exception as exc:  # a shape we did not foresee: still nothing was written
            raise BadAnswer(
                f"preflight stopped on an unexpected answer ({type(exc).__name__}: {exc}); "
                "nothing was applied"
            ) from exc
        return _apply_plan(client, plan, options)
    finally:
        client.deadline_at = None
        if own:
            client.close()


_NAMESPACE_RESOURCE = _Resource("namespaces", namespaced=False)


def _apply_plan(kube: KubeClient, plan: _Plan, options: ApplyOptions) -> ApplyResult:
    work: list[tuple[ObjectRef, _Resource, dict[str, Any]]] = []
    if options.create_namespace:
        declared = {r.name for r, _, _ in plan.items if r.group == "" and r.kind == "Namespace"}
        for ns in sorted(plan.missing_namespaces - declared):
            ref = ObjectRef("v1", "Namespace", ns, None)
            work.append(
                (
                    ref,
                    _NAMESPACE_RESOURCE,
                    {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}},
                )
            )
    rank = {id(item): apply_rank(item[0].group, item[0].kind) for item in plan.items}
    work.extend(sorted(plan.items, key=lambda item: rank[id(item)]))

    result = ApplyResult([], dry_run=options.dry_run)
    for index, (ref, res, body) in enumerate(work):
        if options.dry_run and ref.namespace in plan.missing_namespaces:
            # The server cannot dry-run into a namespace that does not exist yet.
            result.objects.append(
                ObjectResult(ref, Action.CREATED, "not validated: its namespace is new")
            )
            continue
        try:
            outcome = _apply_one(kube, ref, res, body, options)
        except Exception as exc:
            # Any failure, foreseen or not (even a bug), must still say what was committed.
            if isinstance(exc, CapiSysextError):
                problems_here = exc.problems
            else:
                problems_here = [Problem(f"{ref}: unexpected {type(exc).__name__}: {exc}")]
            result.objects.append(ObjectResult(ref, Action.FAILED, str(exc)))
            rest = work[index + 1 :]
            result.objects.extend(ObjectResult(r, Action.NOT_APPLIED) for r, _, _ in rest)
            # Per action, so a re-run (or a human) knows exactly what this run committed.
            applied = (
                "; ".join(
                    f"{action.value} {_refs(result, action)}"
                    for action in (Action.CREATED, Action.CHANGED, Action.UNCHANGED)
                    if result.count(action)
                )
                or "nothing"
            )
            pending = ", ".join(str(o.ref) for o in result.not_applied)
            problems = [
                *problems_here,
                Problem(f"applied: {applied}"),
                Problem(f"not applied: {pending}"),
            ]
            raise ApplyFailed(problems, result) from None
        result.objects.append(outcome)
    return result


def _refs(result: ApplyResult, action: Action) -> str:
    return ", ".join(str(o.ref) for o in result.objects if o.action is action)


class ApplyRejected(CapiSysextError):
    """The API server refused one object (conflict, validation, permissions)."""


def _apply_one(
    kube: KubeClient, ref: ObjectRef, res: _Resource, body: dict[str, Any], options: ApplyOptions
) -> ObjectResult:
    path = _object_path(ref, res)
    before = kube.request("GET", path)
    if before.status not in (200, 404):
        raise ApplyRejected(
            f"{ref}: reading it failed: HTTP {before.status}: {_status_message(before)}"
        )
    query = {"fieldManager": options.field_manager}
    if options.force_conflicts:
        query["force"] = "true"
    if options.dry_run:
        query["dryRun"] = "All"
    resp = kube.request("PATCH", path, query, body, "application/apply-patch+yaml")
    if resp.status == 409:
        raise ApplyRejected([_conflict_problem(ref, resp)])
    if resp.status >= 300:
        raise ApplyRejected(f"{ref}: HTTP {resp.status}: {_status_message(resp)}")
    if before.status == 404:
        return ObjectResult(ref, Action.CREATED)
    old, new = before.body, resp.body
    if not options.dry_run:
        same = _meta(old).get("resourceVersion") == _meta(new).get("resourceVersion")
    else:
        # A dry run does not bump resourceVersion; compare the content instead.
        same = _normalised(old) == _normalised(new)
    return ObjectResult(ref, Action.UNCHANGED if same else Action.CHANGED)


def _meta(obj: Any) -> Mapping[str, Any]:
    meta = obj.get("metadata") if isinstance(obj, Mapping) else None
    return meta if isinstance(meta, Mapping) else {}


def _normalised(obj: Any) -> Any:
    if not isinstance(obj, Mapping):
        return obj
    out = copy.deepcopy(dict(obj))
    meta = out.get("metadata", {})
    for key in ("resourceVersion", "generation"):
        meta.pop(key, None)
    for entry in meta.get("managedFields", []) or []:
        entry.pop("time", None)
    return out


_CONFLICT_OWNER = re.compile(r'conflict with "([^"]+)"')


def _conflict_problem(ref: ObjectRef, resp: Response) -> Problem:
    """Names the field manager(s) owning the contested fields, from the Status causes."""
    owners: dict[str, list[str]] = {}
    body = resp.body if isinstance(resp.body, Mapping) else {}
    for cause in (body.get("details") or {}).get("causes", []) or []:
        match = _CONFLICT_OWNER.search(str(cause.get("message", "")))
        owner = match.group(1) if match else "another field manager"
        owners.setdefault(owner, []).append(str(cause.get("field", "?")))
    if not owners:
        return Problem(f"{ref}: conflict: {_status_message(resp)}", "pass --force-conflicts")
    described = "; ".join(f'{", ".join(fields)} owned by "{o}"' for o, fields in owners.items())
    return Problem(
        f"{ref}: field manager conflict: {described}",
        "pass --force-conflicts to take these fields over",
    )


# --------------------------------------------------------------------------------------------
# Wait


@dataclass(frozen=True)
class ClusterStatus:
    ref: ObjectRef
    available: bool
    machines: int
    provisioned: int
    ready: int
    phase: str
    conditions: tuple[str, ...]

    def line(self) -> str:
        state = "control plane available" if self.available else (self.phase or "pending")
        return (
            f"{self.ref}: {state}; machines {self.machines}, provisioned {self.provisioned}, "
            f"ready {self.ready}"
        )


def cluster_refs(docs: Iterable[Any], default_namespace: str = "default") -> list[ObjectRef]:
    refs = []
    for i, doc in enumerate(docs):
        ref = object_ref(doc, i, default_namespace)
        if ref.group == "cluster.x-k8s.io" and ref.kind == "Cluster":
            refs.append(ref)
    return refs


def _conditions(obj: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return [c for c in _list(_dig(obj, "status").get("conditions")) if isinstance(c, Mapping)]


def _cond_true(obj: Mapping[str, Any], kind: str) -> bool:
    return any(c.get("type") == kind and c.get("status") == "True" for c in _conditions(obj))


def control_plane_available(cluster: Mapping[str, Any]) -> bool:
    """v1beta2: ControlPlaneAvailable / initialization; v1beta1: status.controlPlaneReady."""
    status = _dig(cluster, "status")
    if _cond_true(cluster, "ControlPlaneAvailable"):
        return True
    if _dig(status, "initialization").get("controlPlaneInitialized") is True:
        return True
    return status.get("controlPlaneReady") is True


def _machine_provisioned(m: Mapping[str, Any]) -> bool:
    status = _dig(m, "status")
    return (
        status.get("phase") in ("Provisioned", "Running")
        or _dig(status, "initialization").get("infrastructureProvisioned") is True
        or status.get("infrastructureReady") is True
    )


def _cluster_status(kube: KubeClient, ref: ObjectRef) -> ClusterStatus:
    base = _gv_path(ref.group, ref.version) + f"/namespaces/{quote(str(ref.namespace), safe='')}"
    resp = kube.request("GET", f"{base}/clusters/{quote(ref.name, safe='')}")
    _expect_ok(resp, f"reading {ref}")
    cluster = resp.body
    listing = kube.request(
        "GET", f"{base}/machines", {"labelSelector": f"{_CLUSTER_NAME_LABEL}={ref.name}"}
    )
    _expect_ok(listing, f"listing machines of {ref}")
    machines = [m for m in _list(listing.body.get("items")) if isinstance(m, Mapping)]
    conds = tuple(
        f"{c.get('type')}={c.get('status')}"
        + (
            f" ({c.get('reason')}: {c.get('message')})"
            if c.get("reason") or c.get("message")
            else ""
        )
        for c in _conditions(cluster)
    )
    return ClusterStatus(
        ref=ref,
        available=control_plane_available(cluster),
        machines=len(machines),
        provisioned=sum(1 for m in machines if _machine_provisioned(m)),
        ready=sum(1 for m in machines if _cond_true(m, "Ready")),
        phase=str(_dig(cluster, "status").get("phase") or ""),
        conditions=conds,
    )


def wait_for_clusters(
    docs: Sequence[Any],
    options: ApplyOptions,
    progress: Callable[[ClusterStatus], None],
    kube: KubeClient | None = None,
    *,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> list[ClusterStatus]:
    """Poll every Cluster in ``docs`` until its control plane is available or time runs out."""
    if not cluster_refs(docs):
        raise InputError("--wait needs a Cluster document in the input")
    own = kube is None
    client = kube or KubeClient(options)
    refs = cluster_refs(docs, client.namespace or options.default_namespace)
    deadline = clock() + options.wait_timeout
    last: dict[ObjectRef, ClusterStatus] = {}
    try:
        while True:
            for ref in refs:
                if ref in last and last[ref].available:
                    continue
                status = _cluster_status(client, ref)
                if last.get(ref) != status:
                    progress(status)
                last[ref] = status
            if all(s.available for s in last.values()):
                return [last[r] for r in refs]
            remaining = deadline - clock()
            if remaining <= 0:
                break
            sleep(min(options.poll_interval, remaining))
    finally:
        if own:
            client.close()
    problems = []
    for ref in refs:
        s = last[ref]
        if s.available:
            continue
        problems.append(
            Problem(
                f"{ref}: control plane not available after {options.wait_timeout:g}s; "
                f"last conditions: {'; '.join(s.conditions) or 'none reported'}"
            )
        )
    raise WaitTimeout(problems)
