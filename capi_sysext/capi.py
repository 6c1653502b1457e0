"""Cluster API core objects (CAPI + CABPK + KCP), in the v1beta2 or v1beta1 shape.

Pipeline position: rendered node config (CLC) -> *CAPI objects* -> YAML. Objects are built as
data; the shape differences between the two API versions live here and nowhere else.
"""

from typing import Any, NamedTuple

from capi_sysext.providers.base import NODE_NAME_PLACEHOLDER, Provider, Ref
from capi_sysext.spec import ClusterSpec

CLUSTER_NAME_LABEL = "cluster.x-k8s.io/cluster-name"
CAPI_GROUP = "cluster.x-k8s.io"
BOOTSTRAP_GROUP = "bootstrap.cluster.x-k8s.io"
CONTROLPLANE_GROUP = "controlplane.cluster.x-k8s.io"


class Names(NamedTuple):
    cluster: str

    @property
    def control_plane(self) -> str:
        return f"{self.cluster}-control-plane"

    @property
    def workers(self) -> str:
        return f"{self.cluster}-md-0"


class Shape:
    """Encodes the differences between cluster.x-k8s.io/v1beta2 and v1beta1 (FACTS.md s.5)."""

    def __init__(self, version: str) -> None:
        self.version = version
        self.v2 = version == "v1beta2"

    def api(self, group: str) -> str:
        return f"{group}/{self.version}"

    def ref(self, ref: Ref) -> dict[str, str]:
        if self.v2:
            return {"apiGroup": ref.group, "kind": ref.kind, "name": ref.name}
        return {"apiVersion": ref.api_version, "kind": ref.kind, "name": ref.name}

    def args(self, args: dict[str, str]) -> Any:
        if self.v2:
            return [{"name": k, "value": v} for k, v in args.items()]
        return dict(args)


def _meta(spec: ClusterSpec, name: str, labels: dict[str, str] | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": spec.namespace}
    if labels:
        meta["labels"] = labels
    return meta


def kubeadm_config_spec(
    spec: ClusterSpec, provider: Provider, shape: Shape, role: str, clc: str, name: str
) -> dict[str, Any]:
    registration = {
        "name": NODE_NAME_PLACEHOLDER,
        "kubeletExtraArgs": shape.args({"cloud-provider": "external"}),
    }
    out: dict[str, Any] = {}
    if role == "control-plane":
        out["initConfiguration"] = {"nodeRegistration": dict(registration)}
    out["joinConfiguration"] = {"nodeRegistration": dict(registration)}
    out["format"] = "ignition"
    out["ignition"] = {"containerLinuxConfig": {"additionalConfig": clc, "strict": True}}
    out["preKubeadmCommands"] = provider.node_name_commands()
    if spec.ssh_authorized_keys:
        out["users"] = [{"name": "core", "sshAuthorizedKeys": list(spec.ssh_authorized_keys)}]
    for key, value in provider.kubeadm_extras(spec, role, name).items():
        if key in out:
            raise ValueError(f"provider {provider.name} overrides kubeadm field {key}")
        out[key] = value
    return out


def cluster(
    spec: ClusterSpec,
    shape: Shape,
    infra: Ref,
    cp: Ref,
    labels: dict[str, str],
    annotations: dict[str, str] | None = None,
) -> dict[str, Any]:
    meta = _meta(spec, spec.name, labels or None)
    if annotations:
        meta["annotations"] = dict(sorted(annotations.items()))
    return {
        "apiVersion": shape.api(CAPI_GROUP),
        "kind": "Cluster",
        "metadata": meta,
        "spec": {
            "clusterNetwork": {
                "pods": {"cidrBlocks": [spec.pod_cidr]},
                "services": {"cidrBlocks": [spec.service_cidr]},
            },
            "controlPlaneRef": shape.ref(cp),
            "infrastructureRef": shape.ref(infra),
        },
    }


def control_plane(
    spec: ClusterSpec, shape: Shape, version: str, machine: Ref, kubeadm: dict[str, Any]
) -> dict[str, Any]:
    names = Names(spec.name)
    if shape.v2:
        machine_template: dict[str, Any] = {"spec": {"infrastructureRef": shape.ref(machine)}}
    else:
        machine_template = {"infrastructureRef": shape.ref(machine)}
    return {
        "apiVersion": shape.api(CONTROLPLANE_GROUP),
        "kind": "KubeadmControlPlane",
        "metadata": _meta(spec, names.control_plane),
        "spec": {
            "replicas": spec.control_plane_count,
            "version": version,
            "machineTemplate": machine_template,
            "kubeadmConfigSpec": kubeadm,
        },
    }


def config_template(spec: ClusterSpec, shape: Shape, kubeadm: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": shape.api(BOOTSTRAP_GROUP),
        "kind": "KubeadmConfigTemplate",
        "metadata": _meta(spec, Names(spec.name).workers),
        "spec": {"template": {"spec": kubeadm}},
    }


def machine_deployment(
    spec: ClusterSpec, shape: Shape, version: str, machine: Ref, bootstrap: Ref
) -> dict[str, Any]:
    names = Names(spec.name)
    labels = {CLUSTER_NAME_LABEL: spec.name}
    return {
        "apiVersion": shape.api(CAPI_GROUP),
        "kind": "MachineDeployment",
        "metadata": _meta(spec, names.workers),
        "spec": {
            "clusterName": spec.name,
            "replicas": spec.worker_count,
            "selector": {"matchLabels": dict(labels)},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "clusterName": spec.name,
                    "version": version,
                    "bootstrap": {"configRef": shape.ref(bootstrap)},
                    "infrastructureRef": shape.ref(machine),
                },
            },
        },
    }
