"""Cluster API facts: API groups, labels, where each kind keeps its kubeadm spec and references,
the order objects are applied in, and the v1beta1/v1beta2 shape differences.

The one home of these spellings: builders (capi.py, features, providers), `validate` and `apply`
read them from here. A bottom layer: plain data, no registry, nothing above it imported.
Field names are those of the pinned CRDs (cluster-api v1.13 `config/crd/bases`).
"""

from collections.abc import Mapping
from typing import Any, NamedTuple, Protocol

from capi_sysext.durations import DAY, format_duration, parse_seconds

CAPI_GROUP = "cluster.x-k8s.io"
BOOTSTRAP_GROUP = "bootstrap.cluster.x-k8s.io"
CONTROLPLANE_GROUP = "controlplane.cluster.x-k8s.io"
INFRA_GROUP = "infrastructure.cluster.x-k8s.io"
ADDONS_GROUP = "addons.cluster.x-k8s.io"  # ClusterResourceSet (CAPI) and HelmChartProxy (CAAPH)

# Labels CAPI sets on the objects it creates (Machines carry all that apply).
CLUSTER_NAME_LABEL = "cluster.x-k8s.io/cluster-name"
CONTROL_PLANE_NAME_LABEL = "cluster.x-k8s.io/control-plane-name"
DEPLOYMENT_NAME_LABEL = "cluster.x-k8s.io/deployment-name"
# clusterctl move carries an object with this label along with the Cluster it belongs to.
MOVE_HIERARCHY_LABEL = "clusterctl.cluster.x-k8s.io/move-hierarchy"

# Builtin variables a ClusterClass patch template reads, by node role: the name of the
# infrastructure machine template the topology controller cloned for this cluster
# (cluster-api api/runtime/hooks/v1alpha1/topologymutation_variable_types.go:152-164 and
# :207, commit ae7ff047; the builtins are one type whatever API version the class is served in).
CLUSTER_NAME_BUILTIN = ".builtin.cluster.name"  # the same file, :43-46
MACHINE_TEMPLATE_NAME_BUILTIN = {
    "control-plane": ".builtin.controlPlane.machineTemplate.infrastructureRef.name",
    "worker": ".builtin.machineDeployment.infrastructureRef.name",
}

Path = tuple[str, ...]
GroupKind = tuple[str, str]

# Where each kind that carries a KubeadmConfigSpec keeps it; the kinds whose spec names a
# Cluster (through a reference) first, in the order the update rules report them.
KUBEADM_SPECS: dict[GroupKind, Path] = {
    (CONTROLPLANE_GROUP, "KubeadmControlPlane"): ("spec", "kubeadmConfigSpec"),
    (BOOTSTRAP_GROUP, "KubeadmConfigTemplate"): ("spec", "template", "spec"),
    (BOOTSTRAP_GROUP, "KubeadmConfig"): ("spec",),
    (CONTROLPLANE_GROUP, "KubeadmControlPlaneTemplate"): (
        "spec",
        "template",
        "spec",
        "kubeadmConfigSpec",
    ),
}
KUBEADM_KINDS = frozenset(kind for _group, kind in KUBEADM_SPECS)
# Inside a KubeadmConfigSpec: the Container Linux Config CABPK turns into Ignition
# (kubernetes-sigs/cluster-api api/bootstrap/kubeadm/v1beta2/kubeadmconfig_types.go:132-157;
# bootstrap/kubeadm/pkg/ignition/clc/clc.go:372-390 transpiles it with ct and appends it; ae7ff04).
CLC_FIELD: Path = ("ignition", "containerLinuxConfig", "additionalConfig")

# Object references each core kind holds (v1beta1 and v1beta2 locations both listed; only the
# ones present are followed). Providers add their own kinds' (Provider.reference_paths).
REFERENCE_PATHS: dict[GroupKind, tuple[Path, ...]] = {
    (CAPI_GROUP, "Cluster"): (("spec", "infrastructureRef"), ("spec", "controlPlaneRef")),
    (CONTROLPLANE_GROUP, "KubeadmControlPlane"): (
        ("spec", "machineTemplate", "infrastructureRef"),
        ("spec", "machineTemplate", "spec", "infrastructureRef"),
    ),
    (CAPI_GROUP, "MachineDeployment"): (
        ("spec", "template", "spec", "bootstrap", "configRef"),
        ("spec", "template", "spec", "infrastructureRef"),
    ),
    (CAPI_GROUP, "MachineSet"): (
        ("spec", "template", "spec", "bootstrap", "configRef"),
        ("spec", "template", "spec", "infrastructureRef"),
    ),
    (CAPI_GROUP, "Machine"): (
        ("spec", "bootstrap", "configRef"),
        ("spec", "infrastructureRef"),
    ),
    # "*": every item of a list. v1beta2 names templateRef, v1beta1 ref (ClusterClass CRD,
    # cluster.x-k8s.io_clusterclasses.yaml in the pinned CAPI CRDs).
    (CAPI_GROUP, "ClusterClass"): tuple(
        (*path, ref)
        for ref in ("templateRef", "ref")
        for path in (
            ("spec", "infrastructure"),
            ("spec", "controlPlane"),
            ("spec", "controlPlane", "machineInfrastructure"),
            ("spec", "workers", "machineDeployments", "*", "bootstrap"),
            ("spec", "workers", "machineDeployments", "*", "infrastructure"),
            ("spec", "workers", "machineDeployments", "*", "template", "bootstrap"),
            ("spec", "workers", "machineDeployments", "*", "template", "infrastructure"),
        )
    ),
}

# Kinds whose spec.clusterName names a Cluster in the same namespace.
CLUSTER_NAME_KINDS = frozenset(
    {
        (CAPI_GROUP, "MachineDeployment"),
        (CAPI_GROUP, "MachineSet"),
        (CAPI_GROUP, "Machine"),
        (CAPI_GROUP, "MachineHealthCheck"),
        (CAPI_GROUP, "MachinePool"),
    }
)

# Apply order, first matching tier wins: (group glob, kind glob). Things referenced come before
# the things that reference them, so controllers never see a dangling reference; add-ons last
# because they target a Cluster. Unmatched kinds go after everything else, in input order.
APPLY_ORDER: tuple[tuple[str, tuple[GroupKind, ...]], ...] = (
    ("namespaces", (("", "Namespace"),)),
    ("secrets and config maps", (("", "Secret"), ("", "ConfigMap"))),
    ("identities", (("*", "*Identity"),)),
    ("infrastructure", ((INFRA_GROUP, "*"),)),
    ("bootstrap and control plane", ((BOOTSTRAP_GROUP, "*"), (CONTROLPLANE_GROUP, "*"))),
    # A topology Cluster names its class, which names its templates (tiers above).
    ("cluster classes", ((CAPI_GROUP, "ClusterClass"),)),
    ("cluster", ((CAPI_GROUP, "Cluster"),)),
    ("machines", ((CAPI_GROUP, "*"),)),
    ("add-ons", ((ADDONS_GROUP, "*"),)),
)


class ObjectRef(Protocol):
    """What Shape.ref needs of a reference (capi.Ref is one)."""

    @property
    def api_version(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def group(self) -> str: ...


class HealthCheck(NamedTuple):
    """A MachineHealthCheck's timing, shape-independent (whole seconds)."""

    startup_timeout_s: int
    node_timeout_s: int
    max_unhealthy: str | None  # e.g. "40%"; None: remediate however many are down


class Shape:
    """Encodes the differences between cluster.x-k8s.io/v1beta2 and v1beta1: refs with apiGroup,
    extraArgs as name/value lists, MachineHealthCheck durations as ...Seconds integers
    (kubernetes-sigs/cluster-api docs/book/src/developer/providers/migrations/v1.10-to-v1.11.md,
    "API Changes", at 9284f29; later removed from main)."""

    def __init__(self, version: str) -> None:
        self.version = version
        self.v2 = version == "v1beta2"

    def api(self, group: str) -> str:
        return f"{group}/{self.version}"

    def ref(self, ref: ObjectRef) -> dict[str, str]:
        if self.v2:
            return {"apiGroup": ref.group, "kind": ref.kind, "name": ref.name}
        return {"apiVersion": ref.api_version, "kind": ref.kind, "name": ref.name}

    def args(self, args: dict[str, str]) -> Any:
        if self.v2:
            return [{"name": k, "value": v} for k, v in args.items()]
        return dict(args)

    def health_check(self, check: HealthCheck) -> dict[str, Any]:
        """The timing part of a MachineHealthCheck spec: Ready False/Unknown for too long.

        v1beta2 groups it under `checks` with `...Seconds` integers and spells the limit
        `remediation.triggerIf.unhealthyLessThanOrEqualTo`; v1beta1 has top-level durations and
        `maxUnhealthy` (cluster.x-k8s.io_machinehealthchecks.yaml: v1beta1 :76-198,
        v1beta2 :517-695).
        """
        conditions = ("False", "Unknown")
        spec: dict[str, Any] = {}
        if self.v2:
            spec["checks"] = {
                "nodeStartupTimeoutSeconds": check.startup_timeout_s,
                "unhealthyNodeConditions": [
                    {"type": "Ready", "status": c, "timeoutSeconds": check.node_timeout_s}
                    for c in conditions
                ],
            }
            if check.max_unhealthy:
                spec["remediation"] = {
                    "triggerIf": {"unhealthyLessThanOrEqualTo": check.max_unhealthy}
                }
            return spec
        if check.max_unhealthy:
            spec["maxUnhealthy"] = check.max_unhealthy
        spec["nodeStartupTimeout"] = format_duration(check.startup_timeout_s)
        spec["unhealthyConditions"] = [
            {"type": "Ready", "status": c, "timeout": format_duration(check.node_timeout_s)}
            for c in conditions
        ]
        return spec


def ready_timeouts(mhc: Mapping[str, Any]) -> list[tuple[str, int | None]]:
    """(JSON path, seconds) of each Ready condition's timeout in a MachineHealthCheck of either
    shape; None where the value is not one we can read (e.g. "1.5h": not ours to judge)."""
    out: list[tuple[str, int | None]] = []
    spec = mhc.get("spec")
    spec = spec if isinstance(spec, Mapping) else {}
    checks = spec.get("checks")
    v2 = checks.get("unhealthyNodeConditions") if isinstance(checks, Mapping) else None
    for i, c in enumerate(v2 if isinstance(v2, list) else []):
        if isinstance(c, Mapping) and c.get("type") == "Ready":
            t = c.get("timeoutSeconds")
            path = f"$.spec.checks.unhealthyNodeConditions[{i}].timeoutSeconds"
            out.append((path, t if isinstance(t, int) else None))
    v1 = spec.get("unhealthyConditions")
    for i, c in enumerate(v1 if isinstance(v1, list) else []):
        if isinstance(c, Mapping) and c.get("type") == "Ready":
            # As a values-key duration reads it: whole h/m/s parts, at most 7 days.
            parsed = parse_seconds(c.get("timeout"))
            seconds = int(parsed) if parsed is not None and parsed <= 7 * DAY else None
            out.append((f"$.spec.unhealthyConditions[{i}].timeout", seconds))
    return out
