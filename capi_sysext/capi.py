"""Cluster API core objects (CAPI + CABPK + KCP), in the v1beta2 or v1beta1 shape.

Pipeline position: rendered node config (CLC) -> *CAPI objects* -> YAML. Objects are built as
data; the groups, labels and the shape differences between the two API versions come from
clusterapi.py.
"""

from typing import Any, NamedTuple

from capi_sysext.clusterapi import (
    BOOTSTRAP_GROUP,
    CAPI_GROUP,
    CLC_FIELD,
    CLUSTER_NAME_LABEL,
    CONTROLPLANE_GROUP,
    Shape,
)
from capi_sysext.durations import format_duration
from capi_sysext.spec import ClusterSpec

# kubeadm's node name is unknown until the machine boots: the config carries this placeholder and
# the provider's preKubeadmCommands replace it in /etc/kubeadm.yml with the name from metadata.
NODE_NAME_PLACEHOLDER = "@@NODE_NAME@@"


class Ref(NamedTuple):
    """A reference to another object, rendered per CAPI API shape (Shape.ref)."""

    api_version: str  # group/version
    kind: str
    name: str

    @property
    def group(self) -> str:
        return self.api_version.split("/")[0]


class Names(NamedTuple):
    cluster: str

    @property
    def control_plane(self) -> str:
        return f"{self.cluster}-control-plane"

    @property
    def workers(self) -> str:
        return f"{self.cluster}-md-0"


# Names are DNS labels / subdomains capped at 63 characters for templates that CAPI copies into
# Machine names and labels; the suffix is "-" plus 8 hex digits.
MAX_NAME = 63
HASH_HEX = 8


def content_name(base: str, spec: Any) -> str:
    """`<base>-<8 hex>` from the CRC-32 of the spec's canonical JSON.

    Infrastructure machine templates are meant to be immutable, and CAPI rolls Machines only
    when a MachineDeployment / KubeadmControlPlane is pointed at a template with a new name
    (https://cluster-api.sigs.k8s.io/tasks/updating-machine-templates: copy, change, rename,
    then move the reference). Naming each template after its content does that by itself:
    same spec, same name (a re-apply changes nothing); any change, a new template and a moved
    reference.
    """
    import json
    import zlib

    # The base name is hashed too: two bases truncated to the same prefix still differ.
    canonical = json.dumps([base, spec], sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    # A change detector, not a security boundary: CRC-32 tells two versions of a template apart
    # (a chance collision is 1 in 2^32), and zlib is already loaded, while hashlib costs
    # generate ~13 ms of OpenSSL start-up (tests/test_startup.py).
    digest = f"{zlib.crc32(canonical.encode()):08x}"
    # Keep within 63 characters; a truncated base must not end in "-" (two dashes are legal,
    # but a label must not end with one, and the suffix follows).
    room = MAX_NAME - HASH_HEX - 1
    return f"{base[:room].rstrip('-')}-{digest}"


# kubeadm waits 4m for the control-plane components by default (CRD text of
# initConfiguration.timeouts.controlPlaneComponentHealthCheckSeconds, CAPI v1.13
# controlplane.cluster.x-k8s.io_kubeadmcontrolplanes.yaml:4583-4585). A Flatcar node first
# downloads the sysext and pulls every control-plane image on a fresh cloud VM, which can take
# longer; CAPZ's templates allow 20m (cluster-api-provider-azure
# templates/flavors/base/cluster-template.yaml:60, timeoutForControlPlane: 20m).
CONTROL_PLANE_TIMEOUT_S = 20 * 60
# etcd's default backend quota is 2 GiB; 8 GiB is etcd's "suggested maximum size for normal
# environments" (https://etcd.io/docs/latest/dev-guide/limit/#storage-size-limit). A cluster
# that hits the quota turns read-only (NOSPACE alarm), so production clusters raise it; CAPZ
# sets exactly this (templates/flavors/base/cluster-template.yaml:72). The quota caps growth,
# it reserves nothing, so it fits every provider's default disk (AWS/GCP root >= 50 GiB).
ETCD_QUOTA_BACKEND_BYTES = 8 * 1024**3


def _merge(base: dict[str, Any], extra: dict[str, Any], where: str) -> dict[str, Any]:
    """Deep merge of two mappings; the same leaf set by both sides is a programming error."""
    out = dict(base)
    for key, value in extra.items():
        if key not in out:
            out[key] = value
        elif isinstance(out[key], dict) and isinstance(value, dict):
            out[key] = _merge(out[key], value, f"{where}.{key}")
        else:
            raise ValueError(f"two contributions set kubeadm field {where}.{key}")
    return out


def control_plane_kubeadm(shape: "Shape") -> dict[str, Any]:
    """Control-plane wait and etcd quota (see the constants), in the API version's shape."""
    cluster: dict[str, Any] = {
        "etcd": {
            "local": {
                "extraArgs": shape.args({"quota-backend-bytes": str(ETCD_QUOTA_BACKEND_BYTES)})
            }
        }
    }
    if shape.v2:
        # v1beta2 moved the wait into per-phase timeouts; a joining control-plane node waits
        # for its own components too.
        timeouts = {"controlPlaneComponentHealthCheckSeconds": CONTROL_PLANE_TIMEOUT_S}
        return {
            "clusterConfiguration": cluster,
            "initConfiguration": {"timeouts": dict(timeouts)},
            "joinConfiguration": {"timeouts": dict(timeouts)},
        }
    cluster["apiServer"] = {"timeoutForControlPlane": format_duration(CONTROL_PLANE_TIMEOUT_S)}
    return {"clusterConfiguration": cluster}


def _meta(
    spec: ClusterSpec[Any], name: str, labels: dict[str, str] | None = None
) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": spec.namespace}
    if labels:
        meta["labels"] = labels
    return meta


def kubeadm_config_spec(
    spec: ClusterSpec[Any],
    shape: Shape,
    role: str,
    clc: str,
    pre_kubeadm_commands: list[str],
    extras: dict[str, Any],
) -> dict[str, Any]:
    """`pre_kubeadm_commands` and `extras` are the provider's (node name, files, disks)."""
    registration = {
        "name": NODE_NAME_PLACEHOLDER,
        "kubeletExtraArgs": shape.args({"cloud-provider": "external"}),
    }
    out: dict[str, Any] = {}
    if role == "control-plane":
        out["initConfiguration"] = {"nodeRegistration": dict(registration)}
    out["joinConfiguration"] = {"nodeRegistration": dict(registration)}
    if role == "control-plane":
        out = _merge(out, control_plane_kubeadm(shape), "kubeadmConfigSpec")
    out["format"] = "ignition"
    # CLC_FIELD is the one spelling of where the node config goes; strict makes ct refuse
    # unknown keys instead of dropping them.
    ignition, container_linux_config, additional_config = CLC_FIELD
    out[ignition] = {container_linux_config: {additional_config: clc, "strict": True}}
    out["preKubeadmCommands"] = pre_kubeadm_commands
    if spec.ssh_authorized_keys:
        out["users"] = [{"name": "core", "sshAuthorizedKeys": list(spec.ssh_authorized_keys)}]
    # clusterConfiguration is shared (e.g. CAPZ's etcd dataDir next to our quota): merged, and
    # no leaf may be set twice.
    return _merge(out, extras, "kubeadmConfigSpec")


def cluster(
    spec: ClusterSpec[Any],
    shape: Shape,
    infra: Ref,
    cp: Ref,
    labels: dict[str, str],
    skipped_rules: list[str] | None = None,
) -> dict[str, Any]:
    meta = _meta(spec, spec.name, labels or None)
    if skipped_rules:
        from capi_sysext.contracts import SKIP_ANNOTATION

        meta["annotations"] = {SKIP_ANNOTATION: ",".join(sorted(set(skipped_rules)))}
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
    spec: ClusterSpec[Any], shape: Shape, version: str, machine: Ref, kubeadm: dict[str, Any]
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


def config_template(
    spec: ClusterSpec[Any], shape: Shape, kubeadm: dict[str, Any]
) -> dict[str, Any]:
    """The workers' KubeadmConfigTemplate, named after its content (see content_name): CAPI
    does not roll Machines when a referenced KubeadmConfigTemplate changes in place."""
    body = {"template": {"spec": kubeadm}}
    return {
        "apiVersion": shape.api(BOOTSTRAP_GROUP),
        "kind": "KubeadmConfigTemplate",
        "metadata": _meta(spec, content_name(Names(spec.name).workers, body)),
        "spec": body,
    }


def machine_deployment(
    spec: ClusterSpec[Any], shape: Shape, version: str, machine: Ref, bootstrap: Ref
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
