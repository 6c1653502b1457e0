"""Lookups the providers' runtime-contract rules share: which Cluster owns an infrastructure
object, which machine templates belong to a Cluster, which CNI a Cluster gets.

Plain functions over a contracts.DocumentSet; no provider knowledge (the kinds come from callers).
"""

from collections.abc import Iterator, Mapping
from typing import Any, NamedTuple

from capi_sysext.clusterapi import CAPI_GROUP, INFRA_GROUP
from capi_sysext.contracts import DocumentSet, dig

# Same spelling as the cni label features/addons.py:_labels builds (not imported: this module needs
# no feature code).
CNI_LABEL = "capi-sysext.io/cni"


class Owned(NamedTuple):
    """An infrastructure cluster object and the Cluster referring to it (None if not given)."""

    position: int
    doc: Mapping[str, Any]
    cluster: Mapping[str, Any] | None


def _ns(doc: Mapping[str, Any]) -> str:
    ns = dig(doc, "metadata", "namespace")
    return ns if isinstance(ns, str) else ""


def infra_clusters(docs: DocumentSet, kind: str) -> Iterator[Owned]:
    """Every `kind` object in the input, with the Cluster whose infrastructureRef names it."""
    owners = []
    for _i, cluster in docs.of_kind("Cluster", CAPI_GROUP):
        ref = dig(cluster, "spec", "infrastructureRef")
        if dig(ref, "kind") == kind:
            owners.append((_ns(cluster), dig(ref, "name"), cluster))
    for i, doc in docs.of_kind(kind, INFRA_GROUP):
        name, ns = dig(doc, "metadata", "name"), _ns(doc)
        # An unset namespace on either side means the same (default) namespace.
        owner = next(
            (c for cns, n, c in owners if n == name and (not ns or not cns or ns == cns)), None
        )
        yield Owned(i, doc, owner)


def _referenced_names(doc: Any, kind: str) -> Iterator[str]:
    """Names in every {kind: <kind>, name: ...} mapping inside doc (refs of either CAPI shape)."""
    if isinstance(doc, Mapping):
        if doc.get("kind") == kind and isinstance(doc.get("name"), str):
            yield doc["name"]
        for value in doc.values():
            yield from _referenced_names(value, kind)
    elif isinstance(doc, list):
        for value in doc:
            yield from _referenced_names(value, kind)


def machine_templates(
    docs: DocumentSet, cluster: Mapping[str, Any], kind: str
) -> Iterator[tuple[int, Mapping[str, Any]]]:
    """The `kind` machine templates the Cluster's control plane and MachineDeployments use."""
    name = dig(cluster, "metadata", "name")
    ns = _ns(cluster)
    cp_name = dig(cluster, "spec", "controlPlaneRef", "name")
    names: set[str] = set()
    for _i, kcp in docs.of_kind("KubeadmControlPlane"):
        if dig(kcp, "metadata", "name") == cp_name:
            names.update(_referenced_names(dig(kcp, "spec"), kind))
    for _i, md in docs.of_kind("MachineDeployment", CAPI_GROUP):
        if dig(md, "spec", "clusterName") == name:
            names.update(_referenced_names(dig(md, "spec"), kind))
    for i, doc in docs.of_kind(kind, INFRA_GROUP):
        if dig(doc, "metadata", "name") in names and (not ns or _ns(doc) in ("", ns)):
            yield i, doc


def cni_of(
    docs: DocumentSet, cluster: Mapping[str, Any], chart_to_cni: Mapping[str, str]
) -> str | None:
    """The CNI a Cluster gets: a HelmChartProxy selecting it whose chart is a known CNI, else
    its capi-sysext.io/cni label. None when neither says."""
    labels = dig(cluster, "metadata", "labels")
    labels = labels if isinstance(labels, Mapping) else {}
    for _i, hcp in docs.of_kind("HelmChartProxy"):
        match = dig(hcp, "spec", "clusterSelector", "matchLabels")
        chart = dig(hcp, "spec", "chartName")
        if (
            isinstance(match, Mapping)
            and match
            and all(labels.get(k) == v for k, v in match.items())
            and chart in chart_to_cni
        ):
            return chart_to_cni[chart]
    label = labels.get(CNI_LABEL)
    return label if isinstance(label, str) else None
