"""Waiting for applied Clusters: polls until each control plane is available or time runs out."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from capi_sysext.apply.documents import Resource, as_list, dig, expect_ok, object_path, object_ref
from capi_sysext.apply.results import ApplyOptions, ObjectRef, WaitTimeout
from capi_sysext.apply.transport import KubeClient
from capi_sysext.clusterapi import CAPI_GROUP, CLUSTER_NAME_LABEL
from capi_sysext.errors import InputError, Problem


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
        if ref.group == CAPI_GROUP and ref.kind == "Cluster":
            refs.append(ref)
    return refs


def _conditions(obj: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return [c for c in as_list(dig(obj, "status").get("conditions")) if isinstance(c, Mapping)]


def _cond_true(obj: Mapping[str, Any], kind: str) -> bool:
    return any(c.get("type") == kind and c.get("status") == "True" for c in _conditions(obj))


def control_plane_available(cluster: Mapping[str, Any]) -> bool:
    """v1beta2: ControlPlaneAvailable / initialization; v1beta1: status.controlPlaneReady."""
    status = dig(cluster, "status")
    if _cond_true(cluster, "ControlPlaneAvailable"):
        return True
    if dig(status, "initialization").get("controlPlaneInitialized") is True:
        return True
    return status.get("controlPlaneReady") is True


def _machine_provisioned(m: Mapping[str, Any]) -> bool:
    status = dig(m, "status")
    return (
        status.get("phase") in ("Provisioned", "Running")
        or dig(status, "initialization").get("infrastructureProvisioned") is True
        or status.get("infrastructureReady") is True
    )


_CLUSTERS = Resource("clusters", namespaced=True)
_MACHINES = Resource("machines", namespaced=True)


def _cluster_status(kube: KubeClient, ref: ObjectRef) -> ClusterStatus:
    # Cluster and Machine are namespaced CAPI kinds of the same group-version: their paths are
    # built the way apply builds every other object's.
    resp = kube.request("GET", object_path(ref, _CLUSTERS))
    expect_ok(resp, f"reading {ref}")
    cluster = resp.body
    listing = kube.request(
        "GET",
        object_path(ref, _MACHINES, with_name=False),
        {"labelSelector": f"{CLUSTER_NAME_LABEL}={ref.name}"},
    )
    expect_ok(listing, f"listing machines of {ref}")
    machines = [m for m in as_list(listing.body.get("items")) if isinstance(m, Mapping)]
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
        phase=str(dig(cluster, "status").get("phase") or ""),
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
