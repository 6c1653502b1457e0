"""What a management cluster must run for the documents we emit (used by apply's preflight)."""

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, NamedTuple, Protocol

from capi_sysext.clusterapi import (
    ADDONS_GROUP,
    BOOTSTRAP_GROUP,
    CAPI_GROUP,
    CONTROLPLANE_GROUP,
    KUBEADM_KINDS,
)


class GateRequirement(NamedTuple):
    """A controller feature gate that must be on, read from its Deployment's container args."""

    gate: str
    namespace: str
    deployment: str
    how_to_enable: str


class GateSource(Protocol):
    """What a provider says about its gates (clouds/base.py Provider satisfies this)."""

    @property
    def api_version(self) -> str: ...
    @property
    def kinds(self) -> frozenset[str]: ...
    @property
    def gates(self) -> tuple[GateRequirement, ...]: ...


CABPK_IGNITION = GateRequirement(
    gate="KubeadmBootstrapFormatIgnition",
    namespace="capi-kubeadm-bootstrap-system",
    deployment="capi-kubeadm-bootstrap-controller-manager",
    how_to_enable="run `clusterctl init` with EXP_KUBEADM_BOOTSTRAP_FORMAT_IGNITION=true",
)

# ClusterClass and topology Clusters are reconciled only with CAPI's ClusterTopology gate, set at
# `clusterctl init` by CLUSTER_TOPOLOGY=true (cluster-api docs/book/src/tasks/
# experimental-features/cluster-class/index.md:12-14) on the core controller's Deployment.
CAPI_CLUSTER_TOPOLOGY = GateRequirement(
    gate="ClusterTopology",
    namespace="capi-system",
    deployment="capi-controller-manager",
    how_to_enable="run `clusterctl init` with CLUSTER_TOPOLOGY=true",
)


class GateRule(NamedTuple):
    """Documents of these (API group, kind) pairs need ``requirement``; ``when`` narrows it further.

    ``kinds`` empty means every kind of the group. ``when`` is a predicate on one document (for
    instance: uses `format: ignition`); None means the kind alone is enough.
    """

    group: str
    kinds: frozenset[str]
    requirement: GateRequirement
    when: Callable[[Mapping[str, Any]], bool] | None = None

    def matches(self, doc: Mapping[str, Any]) -> bool:
        api_version = str(doc.get("apiVersion", ""))
        group = api_version.rsplit("/", 1)[0] if "/" in api_version else ""
        if group != self.group:
            return False
        if self.kinds and str(doc.get("kind", "")) not in self.kinds:
            return False
        return self.when is None or self.when(doc)


def _ignition_format(doc: Mapping[str, Any]) -> bool:
    """KubeadmConfig(Template) and KubeadmControlPlane(Template) nest the config differently."""
    stack: list[Any] = [doc.get("spec")]
    while stack:
        node = stack.pop()
        if isinstance(node, Mapping):
            if node.get("format") == "ignition":
                return True
            stack.extend(node.values())
    return False


def _has_topology(doc: Mapping[str, Any]) -> bool:
    spec = doc.get("spec")
    return isinstance(spec, Mapping) and spec.get("topology") is not None


# The core rules; each provider adds its own from its `gates` and `kinds` (gate_rules()).
CORE_GATE_RULES: tuple[GateRule, ...] = (
    GateRule(BOOTSTRAP_GROUP, KUBEADM_KINDS, CABPK_IGNITION, _ignition_format),
    GateRule(CONTROLPLANE_GROUP, KUBEADM_KINDS, CABPK_IGNITION, _ignition_format),
    GateRule(CAPI_GROUP, frozenset({"ClusterClass"}), CAPI_CLUSTER_TOPOLOGY),
    GateRule(CAPI_GROUP, frozenset({"Cluster"}), CAPI_CLUSTER_TOPOLOGY, _has_topology),
)


def gate_rules(providers: Sequence[GateSource]) -> list[GateRule]:
    """Core rules plus, per provider, its own gates for the infrastructure kinds it owns."""
    rules = list(CORE_GATE_RULES)
    for provider in providers:
        group = provider.api_version.split("/")[0]
        rules += [
            GateRule(group, provider.kinds, gate)
            for gate in provider.gates
            if gate != CABPK_IGNITION  # the core rule decides that one, by format
        ]
    return rules


def requirements_for(
    docs: Iterable[Mapping[str, Any]], providers: Sequence[GateSource]
) -> list[GateRequirement]:
    """The feature gates the management cluster must have on for these documents, deduplicated.
    `providers`: the provider table (plugins.registered().providers)."""
    found: list[GateRequirement] = []
    rules = gate_rules(providers)
    for doc in docs:
        for rule in rules:
            if rule.requirement not in found and rule.matches(doc):
                found.append(rule.requirement)
    return found


class CRDRequirement(NamedTuple):
    """A kind that only works when another provider's CRD is installed (checked before writing)."""

    group: str
    kind: str
    crd_name: str
    how_to_install: str


# HelmChartProxy documents need the Cluster API add-on provider for Helm (CAAPH).
CRD_REQUIREMENTS: list[CRDRequirement] = [
    CRDRequirement(
        group=ADDONS_GROUP,
        kind="HelmChartProxy",
        crd_name=f"helmchartproxies.{ADDONS_GROUP}",
        how_to_install="install the Helm add-on provider: `clusterctl init --addon helm`",
    ),
]
