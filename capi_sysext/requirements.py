"""What a management cluster must run for the documents we emit (used by apply's preflight)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class GateRequirement:
    """A controller feature gate that must be on, read from its Deployment's container args."""

    gate: str
    namespace: str
    deployment: str
    how_to_enable: str


CABPK_IGNITION = GateRequirement(
    gate="KubeadmBootstrapFormatIgnition",
    namespace="capi-kubeadm-bootstrap-system",
    deployment="capi-kubeadm-bootstrap-controller-manager",
    how_to_enable="run `clusterctl init` with EXP_KUBEADM_BOOTSTRAP_FORMAT_IGNITION=true",
)

CAPA_IGNITION = GateRequirement(
    gate="BootstrapFormatIgnition",
    namespace="capa-system",
    deployment="capa-controller-manager",
    how_to_enable="run `clusterctl init` with EXP_BOOTSTRAP_FORMAT_IGNITION=true",
)
