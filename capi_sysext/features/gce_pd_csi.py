"""The GCE Persistent Disk CSI driver as manifests built as data (upstream publishes no Helm chart).

providers/addons.yaml names this module in its `csi.gcp` row; features/addons.py wraps what
`manifests()` returns in a ClusterResourceSet, as it does for the GCE CCM.

The shape follows kubernetes-sigs/gcp-compute-persistent-disk-csi-driver's own deployment
(deploy/kubernetes/base/ at b560165: controller/controller.yaml, controller/cluster_setup.yaml,
controller/v1_csidriver.yaml, node_linux/node.yaml) in its `noauth` overlay
(deploy/kubernetes/overlays/noauth/noauth.yaml): no service-account key Secret, so the driver
finds Google's default credentials, which on a GCE instance are the instance's service account
from the metadata server (pkg/gce-cloud-provider/compute/gce.go generateCredentials,
google.FindDefaultCredentials). That is the account CAPG attaches to machines, the same one the
GCE CCM uses. Left out on purpose: the snapshotter (it needs the VolumeSnapshot CRDs and the
snapshot controller, which nothing here installs), the startup-taint controller (nothing sets
that taint) and the data cache (it needs LVM and local SSDs). Everything runs in kube-system, so
the built-in priority classes serve instead of the upstream's own.
"""

from collections.abc import Mapping
from typing import Any

DRIVER = "pd.csi.storage.gke.io"
NAMESPACE = "kube-system"
CONTROLLER = "csi-gce-pd-controller"
NODE = "csi-gce-pd-node"
# The images a Bundle needs, by role (providers/addons.yaml `csi.gcp.images`).
IMAGE_ROLES = ("driver", "provisioner", "attacher", "resizer", "registrar")
SOCKET = "/csi/csi.sock"
PLUGIN_DIR = f"/var/lib/kubelet/plugins/{DRIVER}/"
KUBELET_CSI = "/var/lib/kubelet/plugins/kubernetes.io/csi"
_RBAC = "rbac.authorization.k8s.io"


def _meta(name: str, namespace: str | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if namespace:
        meta["namespace"] = namespace
    meta["labels"] = {"app.kubernetes.io/name": "gcp-compute-persistent-disk-csi-driver"}
    return meta


def _rule(groups: list[str], resources: list[str], verbs: list[str]) -> dict[str, Any]:
    return {"apiGroups": groups, "resources": resources, "verbs": verbs}


_READ = ["get", "list", "watch"]
# What each sidecar's informers and writes need (the upstream roles, minus the snapshot.storage
# rules of the snapshotter left out and the PodSecurityPolicy `use` rules of clusters before 1.25).
ROLES: dict[str, list[dict[str, Any]]] = {
    "provisioner": [
        _rule([""], ["persistentvolumes"], [*_READ, "create", "delete"]),
        _rule([""], ["persistentvolumeclaims"], [*_READ, "update"]),
        _rule(["storage.k8s.io"], ["storageclasses", "volumeattributesclasses"], _READ),
        _rule([""], ["events"], ["list", "watch", "create", "update", "patch"]),
        _rule(["storage.k8s.io"], ["csinodes", "volumeattachments"], _READ),
        _rule([""], ["nodes"], _READ),
    ],
    "attacher": [
        _rule([""], ["persistentvolumes"], [*_READ, "update", "patch"]),
        _rule([""], ["nodes"], _READ),
        _rule(["storage.k8s.io"], ["csinodes"], _READ),
        _rule(["storage.k8s.io"], ["volumeattachments"], [*_READ, "update", "patch"]),
        _rule(["storage.k8s.io"], ["volumeattachments/status"], ["patch"]),
    ],
    "resizer": [
        _rule([""], ["persistentvolumes"], [*_READ, "update", "patch"]),
        _rule([""], ["persistentvolumeclaims"], _READ),
        _rule([""], ["persistentvolumeclaims/status"], ["update", "patch"]),
        _rule(["storage.k8s.io"], ["volumeattributesclasses"], _READ),
        _rule([""], ["events"], ["list", "watch", "create", "update", "patch"]),
        _rule([""], ["pods"], _READ),
    ],
    # The node plugin reads its Node (labels and topology).
    "node": [_rule([""], ["nodes"], ["get", "list"])],
}


def _account(name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": _meta(name, NAMESPACE)}


def _cluster_role(role: str, account: str) -> list[dict[str, Any]]:
    name = f"capi-sysext:csi-gce-pd-{role}"
    return [
        {"apiVersion": f"{_RBAC}/v1", "kind": "ClusterRole", "metadata": _meta(name),
         "rules": ROLES[role]},
        {
            "apiVersion": f"{_RBAC}/v1",
            "kind": "ClusterRoleBinding",
            "metadata": _meta(name),
            "roleRef": {"apiGroup": _RBAC, "kind": "ClusterRole", "name": name},
            "subjects": [{"kind": "ServiceAccount", "name": account, "namespace": NAMESPACE}],
        },
    ]  # fmt: skip


def _leader_election(account: str) -> list[dict[str, Any]]:
    name = "capi-sysext:csi-gce-pd-leader-election"
    return [
        {
            "apiVersion": f"{_RBAC}/v1",
            "kind": "Role",
            "metadata": _meta(name, NAMESPACE),
            "rules": [
                _rule(["coordination.k8s.io"], ["leases"], [*_READ, "delete", "update", "create"])
            ],
        },
        {
            "apiVersion": f"{_RBAC}/v1",
            "kind": "RoleBinding",
            "metadata": _meta(name, NAMESPACE),
            "roleRef": {"apiGroup": _RBAC, "kind": "Role", "name": name},
            "subjects": [{"kind": "ServiceAccount", "name": account, "namespace": NAMESPACE}],
        },
    ]


def _sidecar(name: str, image: str, port: int, extra: list[str]) -> dict[str, Any]:
    """A controller sidecar: leader-elected in kube-system, health on its own host port (the
    pod uses the host network, so the ports must differ)."""
    return {
        "name": name,
        "image": image,
        "args": [
            "--v=2",
            f"--csi-address={SOCKET}",
            f"--http-endpoint=:{port}",
            "--leader-election",
            f"--leader-election-namespace={NAMESPACE}",
            *extra,
        ],
        "ports": [{"containerPort": port, "name": "http-endpoint", "protocol": "TCP"}],
        "livenessProbe": {
            "httpGet": {"path": "/healthz/leader-election", "port": "http-endpoint"},
            "initialDelaySeconds": 10,
            "timeoutSeconds": 10,
            "periodSeconds": 20,
            "failureThreshold": 1,
        },
        "volumeMounts": [{"name": "socket-dir", "mountPath": "/csi"}],
    }


def _controller(images: Mapping[str, str]) -> dict[str, Any]:
    containers = [
        _sidecar("csi-provisioner", images["provisioner"], 22011, [
            # Topology: disks are created in the zone of the node the pod is scheduled to.
            "--feature-gates=Topology=true",
            "--timeout=250s",
            "--extra-create-metadata",
            "--default-fstype=ext4",
            "--controller-publish-readonly=true",
        ]),
        _sidecar("csi-attacher", images["attacher"], 22012, ["--timeout=250s"]),
        _sidecar("csi-resizer", images["resizer"], 22013, ["--handle-volume-inuse-error=false"]),
        {
            "name": "gce-pd-driver",
            "image": images["driver"],
            "command": ["/gce-pd-csi-driver"],
            "args": ["--v=2", f"--endpoint=unix:{SOCKET}", "--run-node-service=false"],
            "volumeMounts": [{"name": "socket-dir", "mountPath": "/csi"}],
        },
    ]  # fmt: skip
    # The host network reaches the metadata server whatever the CNI does.
    pod = {"containers": containers, "volumes": [{"name": "socket-dir", "emptyDir": {}}]}
    return _workload("Deployment", CONTROLLER, "system-cluster-critical", {"replicas": 1}, pod)


def _workload(
    kind: str, name: str, priority: str, spec: dict[str, Any], pod: dict[str, Any]
) -> dict[str, Any]:
    """A Deployment or DaemonSet of this driver: host network, its own account, Linux nodes."""
    labels = {"app": name}
    pod_spec = {
        "hostNetwork": True,
        "serviceAccountName": name,
        "priorityClassName": priority,
        "nodeSelector": {"kubernetes.io/os": "linux"},
        **pod,
    }
    return {
        "apiVersion": "apps/v1",
        "kind": kind,
        "metadata": _meta(name, NAMESPACE),
        "spec": {
            **spec,
            "selector": {"matchLabels": dict(labels)},
            "template": {"metadata": {"labels": dict(labels)}, "spec": pod_spec},
        },
    }


def _host(name: str, path: str, kind: str = "Directory") -> dict[str, Any]:
    return {"name": name, "hostPath": {"path": path, "type": kind}}


def _node(images: Mapping[str, str]) -> dict[str, Any]:
    node_name = {
        "name": "KUBE_NODE_NAME",
        "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}},
    }
    registrar = {
        "name": "csi-driver-registrar",
        "image": images["registrar"],
        "args": [
            "--v=2",
            f"--csi-address={SOCKET}",
            f"--kubelet-registration-path={PLUGIN_DIR}csi.sock",
        ],
        "env": [node_name],
        "volumeMounts": [
            {"name": "plugin-dir", "mountPath": "/csi"},
            {"name": "registration-dir", "mountPath": "/registration"},
        ],
    }
    driver = {
        "name": "gce-pd-driver",
        "image": images["driver"],
        "args": [
            "--v=2",
            f"--endpoint=unix:{SOCKET}",
            "--run-controller-service=false",
            "--node-name=$(KUBE_NODE_NAME)",
        ],
        # Formats and mounts disks on the host, and runs the host's udevadm for disk names.
        "securityContext": {"privileged": True},
        "env": [node_name],
        "volumeMounts": [
            {"name": "kubelet-plugin-dir", "mountPath": KUBELET_CSI,
             "mountPropagation": "Bidirectional"},
            {"name": "kubelet-pods", "mountPath": "/var/lib/kubelet/pods",
             "mountPropagation": "Bidirectional"},
            {"name": "plugin-dir", "mountPath": "/csi"},
            {"name": "device-dir", "mountPath": "/dev"},
            {"name": "udev-rules-etc", "mountPath": "/etc/udev"},
            {"name": "udev-rules-lib", "mountPath": "/lib/udev"},
            {"name": "udev-socket", "mountPath": "/run/udev"},
            {"name": "sys", "mountPath": "/sys"},
            {"name": "lib-modules", "mountPath": "/lib/modules", "readOnly": True},
        ],
    }  # fmt: skip
    # On Flatcar /lib is a link into the read-only /usr (udev rules and modules live there);
    # hostPath follows it.
    volumes = [
        _host("registration-dir", "/var/lib/kubelet/plugins_registry/"),
        _host("kubelet-pods", "/var/lib/kubelet/pods"),
        _host("kubelet-plugin-dir", KUBELET_CSI, "DirectoryOrCreate"),
        _host("plugin-dir", PLUGIN_DIR, "DirectoryOrCreate"),
        _host("device-dir", "/dev"),
        _host("udev-rules-etc", "/etc/udev"),
        _host("udev-rules-lib", "/lib/udev"),
        _host("udev-socket", "/run/udev"),
        _host("sys", "/sys"),
        _host("lib-modules", "/lib/modules"),
    ]  # fmt: skip
    pod = {
        # Every node that can run a pod with a disk, control plane included. (Upstream runs the
        # node plugin on the host network for GKE's Workload Identity metadata server.)
        "tolerations": [{"operator": "Exists"}],
        "containers": [registrar, driver],
        "volumes": volumes,
    }
    strategy = {"updateStrategy": {"type": "RollingUpdate"}}
    return _workload("DaemonSet", NODE, "system-node-critical", strategy, pod)


def manifests(images: Mapping[str, str]) -> list[dict[str, Any]]:
    """Accounts, roles, the CSIDriver, the controller and the node plugin."""
    missing = [role for role in IMAGE_ROLES if role not in images]
    if missing:
        raise ValueError(f"no image pinned for {', '.join(missing)}")
    return [
        _account(CONTROLLER),
        _account(NODE),
        *_cluster_role("provisioner", CONTROLLER),
        *_cluster_role("attacher", CONTROLLER),
        *_cluster_role("resizer", CONTROLLER),
        *_cluster_role("node", NODE),
        *_leader_election(CONTROLLER),
        {
            "apiVersion": "storage.k8s.io/v1",
            "kind": "CSIDriver",
            "metadata": _meta(DRIVER),
            "spec": {"attachRequired": True, "podInfoOnMount": False},
        },
        _controller(images),
        _node(images),
    ]
