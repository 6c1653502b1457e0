"""FakeKubeAPIServer: a test fixture that imitates the few Kubernetes API calls `apply` makes.

THIS IS A FAKE, NOT A CLUSTER. It is a small HTTP server on 127.0.0.1 (threaded, ephemeral port,
always shut down) that answers just enough of the Kubernetes API for capi-sysext's tests:

* ``/version``, ``/api``, ``/apis``, ``/api/v1`` and ``/apis/<group>/<version>`` discovery;
* ``apiextensions.k8s.io/v1`` CustomResourceDefinition GET and list;
* GET of single objects and lists (with ``labelSelector=k=v``) for every registered resource,
  which covers Deployments, Namespaces, Clusters and Machines;
* server-side apply PATCH (``application/apply-patch+yaml``) with an approximation of its field
  ownership: fields are tracked per field manager at "top-level key" granularity (one level below
  the top for mappings, e.g. ``spec.paused``, ``metadata.labels.x``). A field owned by another
  manager with a different value is a 409 conflict with a real-looking ``Status`` body whose
  causes name the owner; ``force=true`` takes the fields over; ``dryRun=All`` computes the result
  without storing it; resourceVersion only moves when the object really changes.

No admission, validation, defaulting, conversion, watches, RBAC or garbage collection. Objects are
stored per API group (not per version), so a v1beta1 read of a v1beta2 write returns it unchanged.

Fault injection (see :meth:`FakeKubeAPIServer.inject`, :meth:`fail_patch`): answer N times with a
status (429 with Retry-After, 500, ...), reset the connection (TCP RST), stall without answering
(client read timeout; bounded by the stall time and by shutdown), or fail the K-th PATCH.
"""

from __future__ import annotations

import contextlib
import copy
import json
import socket
import struct
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

TOKEN = "fake-token-not-a-secret"
_NOT_TRACKED = ("apiVersion", "kind", "metadata", "status")
# Upper bound on any stall so a forgotten fault can never hang the test run.
_MAX_STALL = 5.0


@dataclass
class _ResourceDef:
    group: str
    kind: str
    plural: str
    namespaced: bool
    versions: dict[str, bool]  # version -> served


@dataclass
class Fault:
    """One injected misbehaviour, matched in order against incoming requests."""

    action: str  # "status" | "reset" | "stall" | "raw" | "drip"
    times: int
    status: int = 500
    # A number is sent formatted; a string is sent verbatim ("nan", "-1", an HTTP-date, junk).
    retry_after: float | str | None = None
    method: str | None = None
    path_contains: str | None = None
    stall_seconds: float = 1.0
    # "raw": answer `status` with exactly these bytes and this Content-Type (HTML error pages,
    # truncated or wrong-shape JSON). "drip": a valid-looking answer sent a byte per interval.
    body: bytes = b""
    content_type: str = "application/json"
    drip_interval: float = 0.2

    def matches(self, method: str, path: str) -> bool:
        if self.times <= 0:
            return False
        if self.method and self.method != method:
            return False
        return not (self.path_contains and self.path_contains not in path)


@dataclass
class _Stored:
    obj: dict[str, Any]
    managers: dict[str, set[str]] = field(default_factory=dict)


def status_body(code: int, reason: str, message: str, **details: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }
    if details:
        body["details"] = details
    return body


def field_values(obj: Mapping[str, Any]) -> dict[str, Any]:
    """The tracked fields of an object: path -> value, one level below the top for mappings."""
    out: dict[str, Any] = {}
    for key, value in obj.items():
        if key in _NOT_TRACKED:
            continue
        if isinstance(value, Mapping) and value:
            for sub, subvalue in value.items():
                out[f"{key}.{sub}"] = subvalue
        else:
            out[key] = value
    meta = obj.get("metadata") or {}
    for section in ("labels", "annotations"):
        for sub, subvalue in (meta.get(section) or {}).items():
            out[f"metadata.{section}.{sub}"] = subvalue
    return out


def _get_path(obj: Mapping[str, Any], path: str) -> Any:
    head, _, rest = path.partition(".")
    if head == "metadata":
        section, _, key = rest.partition(".")
        return ((obj.get("metadata") or {}).get(section) or {}).get(key, _MISSING)
    if not rest:
        return obj.get(head, _MISSING)
    parent = obj.get(head)
    return parent.get(rest, _MISSING) if isinstance(parent, Mapping) else _MISSING


def _set_path(obj: dict[str, Any], path: str, value: Any) -> None:
    head, _, rest = path.partition(".")
    if head == "metadata":
        section, _, key = rest.partition(".")
        obj.setdefault("metadata", {}).setdefault(section, {})[key] = copy.deepcopy(value)
    elif not rest:
        obj[head] = copy.deepcopy(value)
    else:
        parent = obj.get(head)
        if not isinstance(parent, dict):
            parent = obj[head] = {}
        parent[rest] = copy.deepcopy(value)


def _del_path(obj: dict[str, Any], path: str) -> None:
    head, _, rest = path.partition(".")
    if head == "metadata":
        section, _, key = rest.partition(".")
        (obj.get("metadata", {}).get(section) or {}).pop(key, None)
    elif not rest:
        obj.pop(head, None)
    elif isinstance(obj.get(head), dict):
        obj[head].pop(rest, None)
        if not obj[head]:
            obj.pop(head)


class _Missing:
    pass


_MISSING = _Missing()


def _content(obj: Mapping[str, Any]) -> dict[str, Any]:
    """What counts as a change: everything but the server-maintained metadata."""
    out = copy.deepcopy(dict(obj))
    meta = out.get("metadata", {})
    for key in ("resourceVersion", "generation", "managedFields", "uid", "creationTimestamp"):
        meta.pop(key, None)
    return out


class FakeKubeAPIServer:
    """A fake Kubernetes API server on 127.0.0.1 for tests. Not a cluster; see the module doc."""

    def __init__(self, token: str = TOKEN) -> None:
        self.token = token
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._resources: list[_ResourceDef] = []
        self._store: dict[tuple[str, str, str, str], _Stored] = {}
        self._rv = 1000
        self.faults: list[Fault] = []
        self._fail_patch: dict[int, tuple[int, str]] = {}
        self.patch_count = 0
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        for kind, plural, namespaced in (
            ("Namespace", "namespaces", False),
            ("Secret", "secrets", True),
            ("ConfigMap", "configmaps", True),
        ):
            self.add_resource("", "v1", kind, plural, namespaced=namespaced)
        self.add_resource("apps", "v1", "Deployment", "deployments", namespaced=True)
        self.add_resource(
            "apiextensions.k8s.io", "v1", "CustomResourceDefinition",
            "customresourcedefinitions", namespaced=False,
        )  # fmt: skip
        for ns in ("default", "kube-system"):
            self.add_namespace(ns)

    # ---- lifecycle -------------------------------------------------------------------------

    def start(self) -> FakeKubeAPIServer:
        handler = type("_Handler", (_Handler,), {"fake": self})
        httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        httpd.daemon_threads = True
        self._httpd = httpd
        self._thread = threading.Thread(
            target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()  # releases stalled handlers
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._httpd = None

    def __enter__(self) -> FakeKubeAPIServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        assert self._httpd is not None, "start() the fake first"
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def write_kubeconfig(
        self, path: Path, context: str = "fake", namespace: str | None = None
    ) -> Path:
        """A kubeconfig (plain http, bearer token) that points the client at this fake."""
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "fake", "cluster": {"server": self.url}}],
            "users": [{"name": "fake", "user": {"token": self.token}}],
            "contexts": [
                {
                    "name": context,
                    "context": {"cluster": "fake", "user": "fake"}
                    | ({"namespace": namespace} if namespace else {}),
                }
            ],
            "current-context": context,
        }
        path.write_text(json.dumps(config, indent=2), "utf-8")  # JSON is YAML
        return path

    # ---- state set-up ----------------------------------------------------------------------

    def add_resource(
        self,
        group: str,
        version: str,
        kind: str,
        plural: str,
        *,
        namespaced: bool,
        served: bool = True,
    ) -> None:
        with self._lock:
            for res in self._resources:
                if res.group == group and res.kind == kind:
                    res.versions[version] = served
                    return
            self._resources.append(_ResourceDef(group, kind, plural, namespaced, {version: served}))

    def add_crd(
        self, group: str, kind: str, versions: Mapping[str, bool], namespaced: bool = True
    ) -> None:
        """Register a CRD: discovery lists the served versions, the CRD object lists all."""
        lower = kind.lower()
        if lower.endswith(("s", "x")):
            plural = lower + "es"
        elif lower.endswith("y") and lower[-2:-1] not in "aeiou":
            plural = lower[:-1] + "ies"  # HelmChartProxy -> helmchartproxies
        else:
            plural = lower + "s"
        for version, served in versions.items():
            self.add_resource(group, version, kind, plural, namespaced=namespaced, served=served)

    def remove_crd(self, group: str, kind: str) -> None:
        with self._lock:
            self._resources = [
                r for r in self._resources if not (r.group == group and r.kind == kind)
            ]

    def add_namespace(self, name: str) -> None:
        self.put({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})

    def add_deployment(self, namespace: str, name: str, args: list[str], **container: Any) -> None:
        self.put(
            {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": {"name": name, "namespace": namespace},
                "spec": {
                    "template": {
                        "spec": {"containers": [{"name": "manager", "args": args, **container}]}
                    }
                },
            }
        )

    def put(self, obj: dict[str, Any], manager: str | None = None) -> dict[str, Any]:
        """Store an object directly (as `manager`, owning all its fields, if given)."""
        with self._lock:
            res = self._resource_for(obj["apiVersion"], obj["kind"])
            meta = obj.setdefault("metadata", {})
            key = (res.group, res.plural, meta.get("namespace", ""), meta["name"])
            self._rv += 1
            stored = copy.deepcopy(obj)
            stored["metadata"]["resourceVersion"] = str(self._rv)
            stored["metadata"].setdefault("generation", 1)
            managers = {manager: set(field_values(obj))} if manager else {}
            self._store[key] = _Stored(stored, managers)
            return copy.deepcopy(stored)

    def get(self, api_version: str, kind: str, name: str, namespace: str = "") -> Any:
        with self._lock:
            res = self._resource_for(api_version, kind)
            stored = self._store.get((res.group, res.plural, namespace, name))
            return copy.deepcopy(stored.obj) if stored else None

    def set_status(
        self, api_version: str, kind: str, name: str, namespace: str, status: dict[str, Any]
    ) -> None:
        """What a controller would do: write .status (no resourceVersion semantics needed)."""
        with self._lock:
            res = self._resource_for(api_version, kind)
            self._store[(res.group, res.plural, namespace, name)].obj["status"] = status

    def objects(self) -> Iterator[dict[str, Any]]:
        with self._lock:
            return iter([copy.deepcopy(s.obj) for s in self._store.values()])

    def install_cluster_api(self, ignition_gate: bool = True) -> None:
        """CRDs and controller Deployments of core CAPI, CABPK/KCP and CAPZ, as clusterctl would."""
        both = {"v1beta1": True, "v1beta2": True}
        for kind in ("Cluster", "Machine", "MachineDeployment", "MachineHealthCheck"):
            self.add_crd("cluster.x-k8s.io", kind, both)
        for kind in ("KubeadmConfig", "KubeadmConfigTemplate"):
            self.add_crd("bootstrap.cluster.x-k8s.io", kind, both)
        self.add_crd("controlplane.cluster.x-k8s.io", "KubeadmControlPlane", both)
        for kind in ("AzureCluster", "AzureMachineTemplate"):
            self.add_crd("infrastructure.cluster.x-k8s.io", kind, {"v1beta1": True})
        self.add_crd("infrastructure.cluster.x-k8s.io", "AzureClusterIdentity", {"v1beta1": True})
        for ns in ("capi-system", "capi-kubeadm-bootstrap-system", "capz-system"):
            self.add_namespace(ns)
        gate = "true" if ignition_gate else "false"
        self.add_deployment(
            "capi-kubeadm-bootstrap-system",
            "capi-kubeadm-bootstrap-controller-manager",
            [
                "--leader-elect",
                f"--feature-gates=MachinePool=true,KubeadmBootstrapFormatIgnition={gate}",
            ],
        )

    def inject(self, fault: Fault) -> Fault:
        with self._lock:
            self.faults.append(fault)
        return fault

    def fail_patch(self, k: int, status: int = 422, message: str = "injected failure") -> None:
        """The K-th PATCH request (1-based, counting retries) fails with a non-retryable status."""
        with self._lock:
            self._fail_patch[k] = (status, message)

    # ---- request handling ------------------------------------------------------------------

    def _resource_for(self, api_version: str, kind: str) -> _ResourceDef:
        group = api_version.rsplit("/", 1)[0] if "/" in api_version else ""
        for res in self._resources:
            if res.group == group and res.kind == kind:
                return res
        raise KeyError(f"{api_version} {kind} not registered with the fake")

    def _take_fault(self, method: str, path: str) -> Fault | None:
        with self._lock:
            if method == "PATCH":
                self.patch_count += 1
            for fault in self.faults:
                if fault.matches(method, path):
                    fault.times -= 1
                    return fault
            return None

    def handle(
        self, method: str, path: str, query: dict[str, str], headers: Mapping[str, str], body: bytes
    ) -> tuple[int, Any, dict[str, str]]:
        with self._lock:
            self.requests.append((method, path, query))
            if headers.get("authorization") != f"Bearer {self.token}":
                return 401, status_body(401, "Unauthorized", "Unauthorized"), {}
            if method == "PATCH" and self.patch_count in self._fail_patch:
                code, message = self._fail_patch.pop(self.patch_count)
                return code, status_body(code, "Invalid", message), {}
            if path == "/version":
                return 200, {"major": "1", "minor": "31", "gitVersion": "v1.31.0-fake"}, {}
            if path == "/api":
                return 200, {"kind": "APIVersions", "versions": ["v1"]}, {}
            if path == "/apis":
                return 200, self._group_list(), {}
            return self._resource_request(method, path, query, headers, body)

    def _group_list(self) -> dict[str, Any]:
        groups: dict[str, list[str]] = {}
        for res in self._resources:
            if res.group:
                for v, served in res.versions.items():
                    if served and v not in groups.setdefault(res.group, []):
                        groups[res.group].append(v)
        return {
            "kind": "APIGroupList",
            "apiVersion": "v1",
            "groups": [
                {
                    "name": g,
                    "versions": [{"groupVersion": f"{g}/{v}", "version": v} for v in vs],
                    "preferredVersion": {"groupVersion": f"{g}/{vs[-1]}", "version": vs[-1]},
                }
                for g, vs in groups.items()
            ],
        }

    def _served(self, group: str, version: str) -> list[_ResourceDef]:
        return [r for r in self._resources if r.group == group and r.versions.get(version)]

    def _resource_request(
        self, method: str, path: str, query: dict[str, str], headers: Mapping[str, str], body: bytes
    ) -> tuple[int, Any, dict[str, str]]:
        parts = [unquote(p) for p in path.strip("/").split("/")]
        if parts[:2] == ["api", "v1"]:
            group, version, rest = "", "v1", parts[2:]
        elif parts[0] == "apis" and len(parts) >= 3:
            group, version, rest = parts[1], parts[2], parts[3:]
        else:
            return 404, status_body(404, "NotFound", f"the server could not find {path}"), {}
        served = self._served(group, version)
        gv = f"{group}/{version}" if group else version
        if not rest:
            if not served:
                return 404, status_body(404, "NotFound", f"{gv} not served"), {}
            return 200, self._resource_list(gv, served), {}
        namespace = ""
        if len(rest) >= 3 and rest[0] == "namespaces":
            namespace, rest = rest[1], rest[2:]
        plural, name = rest[0], (rest[1] if len(rest) > 1 else "")
        res = next((r for r in served if r.plural == plural), None)
        if res is None or len(rest) > 2:
            return 404, status_body(404, "NotFound", f"the server could not find {path}"), {}
        if group == "apiextensions.k8s.io":
            return self._crd_request(method, name)
        if method == "GET" and not name:
            return 200, self._list(gv, res, namespace, query.get("labelSelector", "")), {}
        if method == "GET":
            stored = self._store.get((res.group, res.plural, namespace, name))
            if stored is None:
                message = f'{res.plural}.{res.group or "core"} "{name}" not found'
                return 404, status_body(404, "NotFound", message), {}
            return 200, self._render(stored, gv), {}
        if method == "PATCH" and name:
            return self._apply(
                gv, res, namespace=namespace, name=name, query=query, headers=headers, body=body
            )
        return 405, status_body(405, "MethodNotAllowed", f"{method} not supported by the fake"), {}

    @staticmethod
    def _resource_list(gv: str, served: list[_ResourceDef]) -> dict[str, Any]:
        resources = []
        for r in served:
            verbs = ["get", "list", "patch", "create", "update", "delete", "watch"]
            resources.append(
                {"name": r.plural, "singularName": r.kind.lower(), "namespaced": r.namespaced,
                 "kind": r.kind, "verbs": verbs}
            )  # fmt: skip
            resources.append(
                {"name": f"{r.plural}/status", "singularName": "", "namespaced": r.namespaced,
                 "kind": r.kind, "verbs": ["get", "patch", "update"]}
            )  # fmt: skip
        return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv,
                "resources": resources}  # fmt: skip

    def _crd_object(self, res: _ResourceDef) -> dict[str, Any]:
        return {
            "apiVersion": "apiextensions.k8s.io/v1",
            "kind": "CustomResourceDefinition",
            "metadata": {"name": f"{res.plural}.{res.group}"},
            "spec": {
                "group": res.group,
                "names": {"kind": res.kind, "plural": res.plural},
                "scope": "Namespaced" if res.namespaced else "Cluster",
                "versions": [{"name": v, "served": s} for v, s in res.versions.items()],
            },
        }

    def _crds(self) -> list[_ResourceDef]:
        builtin = ("", "apps", "apiextensions.k8s.io")
        return [r for r in self._resources if r.group not in builtin]

    def _crd_request(self, method: str, name: str) -> tuple[int, Any, dict[str, str]]:
        if method != "GET":
            return 405, status_body(405, "MethodNotAllowed", "the fake's CRDs are read-only"), {}
        if not name:
            items = [self._crd_object(r) for r in self._crds()]
            return 200, {"kind": "CustomResourceDefinitionList", "items": items}, {}
        for r in self._crds():
            if f"{r.plural}.{r.group}" == name:
                return 200, self._crd_object(r), {}
        message = f'customresourcedefinitions.apiextensions.k8s.io "{name}" not found'
        return 404, status_body(404, "NotFound", message), {}

    def _list(self, gv: str, res: _ResourceDef, namespace: str, selector: str) -> dict[str, Any]:
        want = dict(p.split("=", 1) for p in selector.split(",") if "=" in p)
        items = []
        for (group, plural, ns, _), stored in sorted(self._store.items()):
            if (group, plural) != (res.group, res.plural) or (namespace and ns != namespace):
                continue
            labels = stored.obj.get("metadata", {}).get("labels") or {}
            if all(labels.get(k) == v for k, v in want.items()):
                items.append(self._render(stored, gv))
        return {"kind": f"{res.kind}List", "apiVersion": gv,
                "metadata": {"resourceVersion": str(self._rv)}, "items": items}  # fmt: skip

    @staticmethod
    def _render(stored: _Stored, gv: str) -> dict[str, Any]:
        obj = copy.deepcopy(stored.obj)
        obj["apiVersion"] = gv
        obj["metadata"]["managedFields"] = [
            {"manager": m, "operation": "Apply", "apiVersion": gv,
             "fieldsType": "FieldsV1", "fieldsV1": {f"f:{p}": {} for p in sorted(fs)}}
            for m, fs in sorted(stored.managers.items()) if fs
        ]  # fmt: skip
        return obj

    def _apply(
        self,
        gv: str,
        res: _ResourceDef,
        *,
        namespace: str,
        name: str,
        query: dict[str, str],
        headers: Mapping[str, str],
        body: bytes,
    ) -> tuple[int, Any, dict[str, str]]:
        if headers.get("content-type", "").split(";")[0] != "application/apply-patch+yaml":
            return 415, status_body(415, "UnsupportedMediaType", "the fake only does SSA"), {}
        manager = query.get("fieldManager")
        if not manager:
            message = "PATCH, fieldManager: Required value: is required for apply patch"
            return 422, status_body(422, "Invalid", message), {}
        if res.namespaced and ("", "namespaces", "", namespace) not in self._store:
            message = f'namespaces "{namespace}" not found'
            return 404, status_body(404, "NotFound", message), {}
        try:
            applied = json.loads(body)
        except ValueError:
            return 400, status_body(400, "BadRequest", "the fake accepts JSON bodies only"), {}
        if applied.get("metadata", {}).get("name") != name:
            return 400, status_body(400, "BadRequest", "name in body does not match URL"), {}
        force = query.get("force") == "true"
        dry_run = query.get("dryRun") == "All"
        key = (res.group, res.plural, namespace, name)
        old = self._store.get(key)
        current: dict[str, Any] = copy.deepcopy(old.obj) if old else {}
        managers = {m: set(fs) for m, fs in (old.managers if old else {}).items()}
        wanted = field_values(applied)

        conflicts = []
        for path, value in sorted(wanted.items()):
            for other, owned in sorted(managers.items()):
                if other != manager and path in owned and _get_path(current, path) != value:
                    conflicts.append((other, path))
        if conflicts and not force:
            causes = [
                {"type": "FieldManagerConflict", "message": f'conflict with "{o}" using {gv}',
                 "field": f".{p}"}
                for o, p in conflicts
            ]  # fmt: skip
            message = f"Apply failed with {len(conflicts)} conflict(s)"
            return 409, status_body(409, "Conflict", message, causes=causes), {}
        for other, path in conflicts:
            managers[other].discard(path)

        new = copy.deepcopy(current)
        previously = managers.get(manager, set())
        others = set().union(*(fs for m, fs in managers.items() if m != manager))
        for path in previously - set(wanted) - others:
            _del_path(new, path)
        for path, value in wanted.items():
            _set_path(new, path, value)
        new["apiVersion"], new["kind"] = gv, res.kind
        meta = new.setdefault("metadata", {})
        meta["name"] = name
        if namespace:
            meta["namespace"] = namespace
        managers[manager] = set(wanted)
        managers = {m: fs for m, fs in managers.items() if fs}

        unchanged = old is not None and (
            _content(old.obj) == _content(new) and old.managers == managers
        )
        if unchanged:
            assert old is not None
            return 200, self._render(old, gv), {}
        if old is None:
            meta["uid"] = f"fake-uid-{self._rv + 1}"
            meta["generation"] = 1
        elif _content(old.obj).get("spec") != _content(new).get("spec"):
            meta["generation"] = int(meta.get("generation", 1)) + 1
        stored = _Stored(new, managers)
        if not dry_run:
            self._rv += 1
            meta["resourceVersion"] = str(self._rv)
            self._store[key] = stored
        return (201 if old is None else 200), self._render(stored, gv), {}


class _Handler(BaseHTTPRequestHandler):
    fake: FakeKubeAPIServer
    # One request per connection keeps fault injection (resets) simple and unambiguous.
    protocol_version = "HTTP/1.0"
    timeout = 10  # a client that connects and never sends cannot pin a thread for long

    def log_message(self, format: str, *args: Any) -> None:
        pass  # keep test output clean

    def _dispatch(self) -> None:
        split = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(split.query).items()}
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        fault = self.fake._take_fault(self.command, split.path)
        if fault is not None and fault.action == "reset":
            # SO_LINGER 0 turns close() into a TCP RST: the client sees "connection reset".
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
            self.close_connection = True
            return
        if fault is not None and fault.action == "stall":
            self.fake._stop.wait(min(fault.stall_seconds, _MAX_STALL))
            self.close_connection = True
            return
        if fault is not None and fault.action in ("raw", "drip"):
            self._send_raw(fault)
            return
        if fault is not None:
            extra = {}
            if isinstance(fault.retry_after, str):
                extra["Retry-After"] = fault.retry_after
            elif fault.retry_after is not None:
                extra["Retry-After"] = f"{fault.retry_after:g}"
            reason = "TooManyRequests" if fault.status == 429 else "InternalError"
            self._send(fault.status, status_body(fault.status, reason, "injected fault"), extra)
            return
        headers = {k.lower(): v for k, v in self.headers.items()}
        code, payload, extra = self.fake.handle(self.command, split.path, query, headers, body)
        self._send(code, payload, extra)

    def _send_raw(self, fault: Fault) -> None:
        self.send_response(fault.status)
        self.send_header("Content-Type", fault.content_type)
        self.send_header("Content-Length", str(len(fault.body)))
        self.end_headers()
        if fault.action == "raw":
            self.wfile.write(fault.body)
            return
        # Drip, bounded by _MAX_STALL and by shutdown so a test cannot hang on it.
        spent = 0.0
        for i in range(len(fault.body)):
            if spent >= _MAX_STALL or self.fake._stop.wait(fault.drip_interval):
                break
            spent += fault.drip_interval
            self.wfile.write(fault.body[i : i + 1])
            self.wfile.flush()
        self.close_connection = True

    def _send(self, code: int, payload: Any, extra: Mapping[str, str]) -> None:
        data = json.dumps(payload).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in extra.items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_PATCH = do_POST = do_PUT = do_DELETE = _dispatch

    def finish(self) -> None:
        with contextlib.suppress(OSError):  # the socket was reset on purpose
            super().finish()
