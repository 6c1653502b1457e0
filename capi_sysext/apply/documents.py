"""Documents to API paths: object references, apply order and per-group discovery."""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from capi_sysext.apply.results import BadAnswer, ObjectRef, TransportError
from capi_sysext.apply.transport import KubeClient, Response, status_message
from capi_sysext.clusterapi import APPLY_ORDER
from capi_sysext.errors import InputError, Problem


@dataclass(frozen=True)
class Resource:
    plural: str
    namespaced: bool


def dig(obj: Any, *keys: str) -> Mapping[str, Any]:
    """obj[k1][k2]...; {} as soon as a level is missing or not a mapping (a server's answer)."""
    for key in keys:
        obj = obj.get(key) if isinstance(obj, Mapping) else None
    return obj if isinstance(obj, Mapping) else {}


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


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


def gv_path(group: str, version: str) -> str:
    return f"/api/{version}" if not group else f"/apis/{group}/{version}"


def object_path(ref: ObjectRef, res: Resource, with_name: bool = True) -> str:
    path = gv_path(ref.group, ref.version)
    if res.namespaced and ref.namespace:
        path += f"/namespaces/{quote(ref.namespace, safe='')}"
    path += f"/{res.plural}"
    return path + (f"/{quote(ref.name, safe='')}" if with_name else "")


def discover(kube: KubeClient, group: str, version: str) -> dict[str, Resource] | None:
    """Kind -> resource for one group-version, like a RESTMapper; None when not served."""
    resp = kube.request("GET", gv_path(group, version))
    if resp.status == 404:
        return None
    what = f"discovery of {group or 'core'}/{version}"
    expect_ok(resp, what)
    resources = resp.body.get("resources")
    if not isinstance(resources, list):
        raise BadAnswer(f"{what}: the answer is not an APIResourceList (no resources list)")
    found: dict[str, Resource] = {}
    for res in resources:
        if not isinstance(res, Mapping):
            continue
        name, kind = res.get("name"), res.get("kind")
        if not isinstance(name, str) or not isinstance(kind, str) or not name or "/" in name:
            continue  # subresources such as clusters/status, or junk
        found[kind] = Resource(name, res.get("namespaced") is True)
    return found


def expect_ok(resp: Response, what: str) -> None:
    if resp.status >= 300:
        raise TransportError(f"{what}: HTTP {resp.status}: {status_message(resp)}")
