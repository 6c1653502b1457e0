"""The GCE cloud controller manager as manifests built as data (no maintained Helm chart exists).

providers/addons.yaml names this module in its `ccm.gcp` row; features/addons.py wraps what
`manifests()` returns in a ClusterResourceSet, as CAPG's own e2e does (cluster-api-provider-gcp
test/e2e/data/infrastructure-gcp/cluster-template-ci.yaml lines 145-173). The shape follows
CAPG's test/e2e/data/ccm/gce-cloud-controller-manager.yaml and kubernetes/cloud-provider-gcp
deploy/packages/default/manifest.yaml: a DaemonSet on control-plane nodes, host network (it must
run before any CNI), tolerating the taints a node has before a CCM and a CNI ran, reading the
cloud config that the GCP provider writes on control-plane nodes (clouds/gcp.py).
"""

from typing import Any, NamedTuple

NAME = "cloud-controller-manager"
NAMESPACE = "kube-system"
# Where CAPG's e2e template writes the cloud config and its CCM DaemonSet mounts it from.
CLOUD_CONFIG_PATH = "/etc/kubernetes/cloud.config"


class ManifestInputs(NamedTuple):
    """What a manifest module may use (features/addons.py builds it)."""

    cluster_name: str
    pod_cidr: str
    image: str


def _gcfg_string(value: str) -> str:
    # gcfg (the INI dialect the GCE cloud config uses) quoted string: escape \ and ".
    if "\n" in value or "\r" in value:
        raise ValueError(f"cloud config values must be one line, got {value!r}")
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def cloud_config(project: str, network: str) -> str:
    """gce.conf for the CCM: the keys CAPG's e2e template sets (project-id, network-name,
    multizone = true so nodes in every zone of the region are found)."""
    lines = [
        "[Global]",
        f"project-id = {_gcfg_string(project)}",
        f"network-name = {_gcfg_string(network)}",
        "multizone = true",
    ]
    return "\n".join(lines) + "\n"


def args(inputs: ManifestInputs) -> list[str]:
    return [
        "--cloud-provider=gce",
        f"--cloud-config={CLOUD_CONFIG_PATH}",
        # Names the cluster's load balancers and firewall rules in the project.
        f"--cluster-name={inputs.cluster_name}",
        "--leader-elect=true",
        # Calico (VXLAN/IP-in-IP) and Cilium (cluster-pool) bring their own pod IPAM and
        # encapsulate: no alias-IP CIDRs from GCE and no VPC routes (CAPG's e2e also sets
        # --configure-cloud-routes=false).
        "--allocate-node-cidrs=false",
        "--configure-cloud-routes=false",
        f"--cluster-cidr={inputs.pod_cidr}",
        "--v=2",
    ]


def _meta(name: str, namespace: str | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if namespace:
        meta["namespace"] = namespace
    meta["labels"] = {"app.kubernetes.io/name": NAME}
    return meta


def _rule(groups: list[str], resources: list[str], verbs: list[str]) -> dict[str, Any]:
    return {"apiGroups": groups, "resources": resources, "verbs": verbs}


def manifests(inputs: ManifestInputs) -> list[dict[str, Any]]:
    subject = [{"kind": "ServiceAccount", "name": NAME, "namespace": NAMESPACE}]
    selector = {"app.kubernetes.io/name": NAME}
    # All controllers run as this one account (no --use-service-account-credentials), so the
    # role covers the node, node-lifecycle and service controllers.
    rules = [
        _rule(["", "events.k8s.io"], ["events"], ["create", "patch", "update"]),
        _rule(["coordination.k8s.io"], ["leases"], ["create", "get", "list", "watch", "update"]),
        _rule([""], ["nodes"], ["get", "list", "watch", "update", "patch", "delete"]),
        _rule([""], ["nodes/status"], ["get", "patch", "update"]),
        _rule([""], ["services"], ["get", "list", "watch", "patch", "update"]),
        _rule([""], ["services/status"], ["get", "patch", "update"]),
        _rule(["authentication.k8s.io"], ["tokenreviews"], ["create"]),
        _rule(["authorization.k8s.io"], ["subjectaccessreviews"], ["create"]),
    ]
    return [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": _meta(NAME, NAMESPACE)},
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": _meta(f"capi-sysext:{NAME}"),
            "rules": rules,
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": _meta(f"capi-sysext:{NAME}"),
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": f"capi-sysext:{NAME}",
            },
            "subjects": subject,
        },
        {
            # Delegated authentication of its secure port reads this ConfigMap.
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": _meta(f"{NAME}:apiserver-authentication-reader", NAMESPACE),
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "Role",
                "name": "extension-apiserver-authentication-reader",
            },
            "subjects": subject,
        },
        {
            "apiVersion": "apps/v1",
            "kind": "DaemonSet",
            "metadata": _meta(NAME, NAMESPACE),
            "spec": {
                "selector": {"matchLabels": dict(selector)},
                "updateStrategy": {"type": "RollingUpdate"},
                "template": {
                    "metadata": {"labels": dict(selector)},
                    "spec": {
                        "serviceAccountName": NAME,
                        "hostNetwork": True,
                        "priorityClassName": "system-cluster-critical",
                        "nodeSelector": {"node-role.kubernetes.io/control-plane": ""},
                        "tolerations": [
                            {
                                "key": "node.cloudprovider.kubernetes.io/uninitialized",
                                "value": "true",
                                "effect": "NoSchedule",
                            },
                            {"key": "node.kubernetes.io/not-ready", "effect": "NoSchedule"},
                            {
                                "key": "node-role.kubernetes.io/control-plane",
                                "operator": "Exists",
                                "effect": "NoSchedule",
                            },
                        ],
                        "containers": [
                            {
                                "name": NAME,
                                "image": inputs.image,
                                "imagePullPolicy": "IfNotPresent",
                                "command": ["/cloud-controller-manager"],
                                "args": args(inputs),
                                "livenessProbe": {
                                    "httpGet": {
                                        "host": "127.0.0.1",
                                        "path": "/healthz",
                                        "port": 10258,
                                        "scheme": "HTTPS",
                                    },
                                    "initialDelaySeconds": 15,
                                    "periodSeconds": 10,
                                    "timeoutSeconds": 15,
                                    "failureThreshold": 3,
                                },
                                "resources": {"requests": {"cpu": "200m"}},
                                "volumeMounts": [
                                    {
                                        "name": "cloudconfig",
                                        "mountPath": CLOUD_CONFIG_PATH,
                                        "readOnly": True,
                                    }
                                ],
                            }
                        ],
                        "volumes": [
                            {
                                "name": "cloudconfig",
                                # File: a missing cloud config fails the pod visibly instead of
                                # mounting an empty file (CAPG's e2e uses FileOrCreate).
                                "hostPath": {"path": CLOUD_CONFIG_PATH, "type": "File"},
                            }
                        ],
                    },
                },
            },
        },
    ]
