"""`render-cluster`: a whole kubeadm cluster without a management cluster, one config per node.

Each node gets the same sysext wiring as `render-node` (node.build_node_config: download, hash
pinning, verify unit, sysupdate, reboot coordination) plus what CABPK would otherwise provide: a
`kubeadm.service` running `kubeadm init` (control plane) or `kubeadm join` (workers) from a
kubeadm v1beta4 configuration we build as data, and on the control plane the CNI install.

kubeadm configuration API: https://kubernetes.io/docs/reference/config-api/kubeadm-config.v1beta4/
Flatcar specifics follow Flatcar's own kubeadm test (flatcar/mantle
kola/tests/kubeadm/templates.go): cgroupDriver systemd, and the FlexVolume directories moved off
the read-only /usr to /opt/libexec/kubernetes/kubelet-plugins/volume/exec/.
"""

import ipaddress
import re
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

from capi_sysext import unitfile
from capi_sysext.catalog import Catalog
from capi_sysext.errors import InputError, NotImplementedYet, Problem
from capi_sysext.generate import pinning_warnings, resolve_release
from capi_sysext.inputs import (
    RawInputs,
    StrPath,
    Variable,
    layer,
    parse_int,
    parse_str,
    parse_str_list,
    resolve,
    unknown_keys,
)
from capi_sysext.model import File, NodeConfig, NodeConfigBuilder, Unit
from capi_sysext.node import KUBEADM_UNIT, NodeRelease, build_node_config
from capi_sysext.pki import ClusterSecrets
from capi_sysext.spec import (
    CLUSTER_VARIABLES,
    NODE_VARIABLES,
    NodeSpec,
    _all_known_keys,
    _network_problems,
    _node_spec,
    feature_variables,
)

DEFAULT_API_PORT = 6443
JOIN_DISCOVERY_TIMEOUT = "30m0s"
KUBEADM_API = "kubeadm.k8s.io/v1beta4"
KUBELET_API = "kubelet.config.k8s.io/v1beta1"
KUBEADM_DIR = "/etc/capi-sysext/kubeadm"
INIT_CONFIG = f"{KUBEADM_DIR}/init.yaml"
JOIN_CONFIG = f"{KUBEADM_DIR}/join.yaml"
CA_CERT = "/etc/kubernetes/pki/ca.crt"
CA_KEY = "/etc/kubernetes/pki/ca.key"
# Flatcar's containerd socket (the CRI kubeadm must use; it would otherwise probe for one).
CRI_SOCKET = "unix:///run/containerd/containerd.sock"
# /usr is read-only on Flatcar; kubeadm's default FlexVolume dir lives under it (mantle, above).
FLEX_DIR = "/opt/libexec/kubernetes/kubelet-plugins/volume/exec/"
CNI_UNIT = "capi-sysext-cni.service"
CNI_STAMP = "/etc/capi-sysext/cni-installed"
CALICO_INSTALLATION = "/etc/capi-sysext/cni/calico-installation.yaml"
# Calico's operator manifest for a release; the same pattern Flatcar's kubeadm test applies
# (flatcar/mantle kola/tests/kubeadm/templates.go) and Calico's "Quickstart" documents
# (https://docs.tigera.io/calico/latest/getting-started/kubernetes/quickstart).
CALICO_OPERATOR_URL = (
    "https://raw.githubusercontent.com/projectcalico/calico/{version}/manifests/"
    "tigera-operator.yaml"
)
KUBECTL = "/usr/bin/kubectl"
KUBEADM = "/usr/bin/kubeadm"
STANDALONE_CNIS = ("calico", "none")

_LABEL = r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?"
_DNS_NAME = re.compile(rf"^(?=.{{1,253}}$){_LABEL}(\.{_LABEL})*$")


class Endpoint(NamedTuple):
    host: str  # IP address or DNS name, without brackets
    port: int

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


def parse_endpoint(value: Any) -> Endpoint:
    """`HOST`, `HOST:PORT`, `[IPv6]:PORT` or a bare IPv6 address; HOST an IP or a DNS name."""
    text = parse_str(value)
    port_text: str | None = None
    if text.startswith("["):
        host, sep, rest = text[1:].partition("]")
        if not sep or (rest and not rest.startswith(":")):
            raise ValueError(f"expected [IPv6]:PORT, got {text!r}")
        port_text = rest[1:] if rest else None
    elif text.count(":") == 1:
        host, port_text = text.split(":")
    else:
        host = text
    if port_text is not None and not (port_text.isdigit() and 1 <= int(port_text) <= 65535):
        raise ValueError(f"port must be 1-65535, got {port_text!r}")
    try:
        host = str(ipaddress.ip_address(host))
    except ValueError:
        if ":" in host or not _DNS_NAME.match(host.lower()):
            raise ValueError(
                f"{host!r} is neither an IP address nor a DNS name (e.g. 10.0.0.10:6443, "
                "cp.example.com)"
            ) from None
        host = host.lower()
    return Endpoint(host, int(port_text) if port_text else DEFAULT_API_PORT)


def _parse_node_names(value: Any) -> tuple[str, ...]:
    names = parse_str_list(value)
    for name in names:
        if not _DNS_NAME.match(name) or len(name) > 63:
            raise ValueError(f"{name!r} is not a lowercase DNS name (a Kubernetes node name)")
    if len(set(names)) != len(names):
        raise ValueError("node names must be unique")
    return names


ENDPOINT_VARIABLE = Variable(
    "controlPlane.endpoint",
    "API server address of the control-plane node: IP or DNS name, optional :port (6443)",
    parse_endpoint,
    required=True,
    flag="--control-plane-endpoint",
    env="CONTROL_PLANE_ENDPOINT",
)
STANDALONE_VARIABLES: tuple[Variable, ...] = (
    ENDPOINT_VARIABLE,
    Variable(
        "workers.count",
        "worker nodes",
        parse_int(0, 100),
        default=2,
        flag="--workers",
        env="WORKER_MACHINE_COUNT",
    ),
    Variable(
        "nodes.names",
        "node names, control plane first then workers (comma-separated; default "
        "<name>-control-plane, <name>-worker-<i>)",
        _parse_node_names,
        default=(),
        flag="--node-names",
    ),
)
_SHARED_KEYS = ("name", "network.podCIDR", "network.serviceCIDR")
SHARED_VARIABLES = tuple(v for v in CLUSTER_VARIABLES if v.key in _SHARED_KEYS)


def _cni_variable() -> Variable:
    return next(v for v in feature_variables() if v.key == "addons.cni")


def cli_variables() -> tuple[Variable, ...]:
    """Every input `render-cluster` offers as a flag."""
    return (
        *NODE_VARIABLES,
        *feature_variables(node_scope_only=True),
        _cni_variable(),
        *SHARED_VARIABLES,
        *STANDALONE_VARIABLES,
    )


class StandaloneSpec(NamedTuple):
    node: NodeSpec
    name: str
    endpoint: Endpoint
    pod_cidr: str
    service_cidr: str
    cni: str
    control_plane_name: str
    worker_names: tuple[str, ...]


def build_standalone_spec(raw: RawInputs, load_yaml: Callable[[StrPath], Any]) -> StandaloneSpec:
    """All problems in all sources at once, as `generate` does."""
    layered = layer(raw, load_yaml)
    variables = [
        *NODE_VARIABLES,
        *feature_variables(),
        *SHARED_VARIABLES,
        *STANDALONE_VARIABLES,
    ]
    values, problems = resolve(variables, layered)
    problems = [*layered.problems, *problems]
    problems += unknown_keys([*_all_known_keys(), *(v.key for v in STANDALONE_VARIABLES)], layered)
    if not problems:
        problems += _network_problems(values)
    cni = values["addons.cni"]
    if cni not in STANDALONE_CNIS:
        problems.append(
            Problem(
                f"render-cluster cannot install {cni} yet: its pinned release is a Helm chart and "
                "Flatcar has no helm binary, and capi-sysext has no manifest source for it",
                "use --cni calico, or --cni none and install the CNI yourself "
                "(values key addons.cni)",
            )
        )
    workers: int = values["workers.count"]
    names: tuple[str, ...] = values["nodes.names"]
    if names and len(names) != 1 + workers:
        problems.append(
            Problem(
                f"--node-names has {len(names)} names for 1 control-plane node and {workers} "
                "workers",
                f"give exactly {1 + workers} names (values key nodes.names) or change --workers",
            )
        )
    if problems:
        raise InputError(problems)
    node, problems = _node_spec(values)
    if problems:
        raise InputError(problems)
    name: str = values["name"]
    if not names:
        names = (f"{name}-control-plane", *(f"{name}-worker-{i}" for i in range(workers)))
    return StandaloneSpec(
        node=node,
        name=name,
        endpoint=values["controlPlane.endpoint"],
        pod_cidr=values["network.podCIDR"],
        service_cidr=values["network.serviceCIDR"],
        cni=cni,
        control_plane_name=names[0],
        worker_names=names[1:],
    )


# ---- kubeadm configuration, as data ----


def _node_registration(name: str) -> dict[str, Any]:
    return {"name": name, "criSocket": CRI_SOCKET}


def kubelet_configuration() -> dict[str, Any]:
    # Flatcar's containerd runs with the systemd cgroup driver; the kubelet must match it
    # (https://kubernetes.io/docs/tasks/administer-cluster/kubeadm/configure-cgroup-driver/).
    # kubeadm stores this in the cluster's kubelet-config ConfigMap at init: workers get it too.
    return {
        "apiVersion": KUBELET_API,
        "kind": "KubeletConfiguration",
        "cgroupDriver": "systemd",
        "volumePluginDir": FLEX_DIR,
    }


def init_documents(spec: StandaloneSpec, version: str, s: ClusterSecrets) -> list[dict[str, Any]]:
    init: dict[str, Any] = {
        "apiVersion": KUBEADM_API,
        "kind": "InitConfiguration",
        "bootstrapTokens": [
            {
                "token": s.token,
                "description": "capi-sysext render-cluster: workers join with it",
                "usages": ["signing", "authentication"],
                "groups": ["system:bootstrappers:kubeadm:default-node-token"],
            }
        ],
        "nodeRegistration": _node_registration(spec.control_plane_name),
        # The endpoint is this node (one control-plane node): serve on its port.
        "localAPIEndpoint": {"bindPort": spec.endpoint.port},
    }
    cluster: dict[str, Any] = {
        "apiVersion": KUBEADM_API,
        "kind": "ClusterConfiguration",
        "clusterName": spec.name,
        "kubernetesVersion": version,
        "controlPlaneEndpoint": str(spec.endpoint),
        "networking": {"podSubnet": spec.pod_cidr, "serviceSubnet": spec.service_cidr},
        "apiServer": {"certSANs": [spec.endpoint.host]},
        # v1beta4 extraArgs are a list of {name, value}.
        "controllerManager": {"extraArgs": [{"name": "flex-volume-plugin-dir", "value": FLEX_DIR}]},
    }
    return [init, cluster, kubelet_configuration()]


def join_documents(spec: StandaloneSpec, name: str, s: ClusterSecrets) -> list[dict[str, Any]]:
    return [
        {
            "apiVersion": KUBEADM_API,
            "kind": "JoinConfiguration",
            "discovery": {
                "bootstrapToken": {
                    "apiServerEndpoint": str(spec.endpoint),
                    "token": s.token,
                    # The CA is ours, so its key is pinned: never unsafeSkipCAVerification.
                    "caCertHashes": [s.ca_cert_hash],
                }
            },
            "nodeRegistration": _node_registration(name),
            # Workers usually boot with the control plane, which first downloads the sysext and
            # its images: wait for it longer than kubeadm's 5-minute default. A failed join is
            # not retried (its leftovers fail the next preflight). v1beta4 `timeouts`:
            # kubernetes/kubernetes PR #122529.
            "timeouts": {"discovery": JOIN_DISCOVERY_TIMEOUT},
        }
    ]


# ---- node configs ----


def _kubeadm_unit(guard: str, argv: tuple[str, ...], why: str) -> Unit:
    unit = (
        unitfile.load("kubeadm-standalone.service")
        .add("Unit", "ConditionPathExists", f"!{guard}", comment=why)
        .add("Service", "ExecStart", unitfile.Exec(argv))
    )
    return Unit(KUBEADM_UNIT, enabled=True, contents=unit.render())


def calico_installation(spec: StandaloneSpec) -> dict[str, Any]:
    """Calico's Installation resource from the add-ons table's chart values (`installation`
    is the chart's spec of that resource), the pod CIDR filled in."""
    from capi_sysext.features.addons import addon_table

    values = addon_table()["cni"]["calico"].get("values", {}).get("installation", {})

    def fill(v: Any) -> Any:
        if isinstance(v, Mapping):
            return {k: fill(x) for k, x in v.items()}
        if isinstance(v, list):
            return [fill(x) for x in v]
        return spec.pod_cidr if v == "@podCIDR@" else v

    return {
        "apiVersion": "operator.tigera.io/v1",
        "kind": "Installation",
        "metadata": {"name": "default"},
        "spec": fill(values),
    }


def calico_version(minor: str) -> str:
    from capi_sysext.features.addons import addon_table

    pins = addon_table()["cni"]["calico"]["versions"]
    pin = pins.get(minor)
    if pin is None:
        raise InputError(
            [
                Problem(
                    f"no Calico version is pinned for Kubernetes {minor} "
                    f"(pinned: {', '.join(sorted(pins))})",
                    "choose another --k8s, or --cni none",
                )
            ]
        )
    return str(pin["chart"] if isinstance(pin, Mapping) else pin)


def _cni_config(spec: StandaloneSpec, minor: str) -> NodeConfig:
    from capi_sysext import yamlio

    version = calico_version(minor)
    unit = unitfile.load("cni-install.service").add(
        "Unit",
        "ConditionPathExists",
        f"!{CNI_STAMP}",
        comment="Once: the stamp is written after the last step succeeded.",
    )
    steps: tuple[tuple[str, ...], ...] = (
        # Server-side apply: the operator's CRDs are too large for client-side apply's
        # last-applied annotation, and it stays idempotent across retries.
        (
            KUBECTL,
            "apply",
            "--server-side",
            "--force-conflicts",
            "-f",
            CALICO_OPERATOR_URL.format(version=version),
        ),
        (
            KUBECTL,
            "wait",
            "--for",
            "condition=established",
            "--timeout=120s",
            "crd/installations.operator.tigera.io",
        ),
        (KUBECTL, "apply", "--server-side", "--force-conflicts", "-f", CALICO_INSTALLATION),
        ("/usr/bin/touch", CNI_STAMP),
    )
    for argv in steps:
        unit = unit.add("Service", "ExecStart", unitfile.Exec(argv))
    return NodeConfig(
        files=(File(CALICO_INSTALLATION, 0o644, inline=yamlio.dump(calico_installation(spec))),),
        units=(Unit(CNI_UNIT, enabled=True, contents=unit.render()),),
    )


def _hostname(name: str) -> File:
    return File("/etc/hostname", 0o644, inline=name + "\n")


def control_plane_config(
    spec: StandaloneSpec, release: NodeRelease, s: ClusterSecrets
) -> NodeConfig:
    from capi_sysext import yamlio
    from capi_sysext.features.addons import kubernetes_minor

    version = str(release.image.version)
    builder = NodeConfigBuilder()
    builder.add(build_node_config(spec.node, release, "control-plane", None))
    builder.add(
        NodeConfig(
            files=(
                _hostname(spec.control_plane_name),
                # kubeadm init keeps a CA it finds here instead of minting its own.
                File(CA_CERT, 0o644, inline=s.ca_cert_pem),
                File(CA_KEY, 0o600, inline=s.ca_key_pem),
                File(INIT_CONFIG, 0o600, inline=yamlio.dump_all(init_documents(spec, version, s))),
            ),
            units=(
                _kubeadm_unit(
                    "/etc/kubernetes/admin.conf",
                    (KUBEADM, "init", "--config", INIT_CONFIG),
                    "kubeadm init runs once: it writes admin.conf.",
                ),
            ),
        )
    )
    if spec.cni == "calico":
        builder.add(_cni_config(spec, kubernetes_minor(version) or version))
    return builder.build()


def worker_config(
    spec: StandaloneSpec, release: NodeRelease, s: ClusterSecrets, name: str
) -> NodeConfig:
    from capi_sysext import yamlio

    builder = NodeConfigBuilder()
    builder.add(build_node_config(spec.node, release, "worker", None))
    builder.add(
        NodeConfig(
            files=(
                _hostname(name),
                File(JOIN_CONFIG, 0o600, inline=yamlio.dump_all(join_documents(spec, name, s))),
            ),
            units=(
                _kubeadm_unit(
                    "/etc/kubernetes/kubelet.conf",
                    (KUBEADM, "join", "--config", JOIN_CONFIG),
                    "kubeadm join runs once: it writes kubelet.conf.",
                ),
            ),
        )
    )
    return builder.build()


class ClusterRender(NamedTuple):
    files: dict[str, str]  # file name in the output directory -> text, control plane first
    version: str
    warnings: list[str]


def render_cluster(
    spec: StandaloneSpec, fmt: str, catalog: Catalog, s: ClusterSecrets
) -> ClusterRender:
    from capi_sysext.render import NODE_FORMATS

    if spec.node.features["updates"].kured:
        raise NotImplementedYet(
            "render-cluster does not install Kured yet (the control plane would have to apply "
            "its manifests); use --no-kured and apply Kured yourself (values key kured.enabled)"
        )
    node_format = NODE_FORMATS[fmt]
    release = resolve_release(spec.node, catalog)
    configs = {spec.control_plane_name: control_plane_config(spec, release, s)}
    for name in spec.worker_names:
        configs[name] = worker_config(spec, release, s, name)
    ext = node_format.extension
    return ClusterRender(
        files={f"{name}.{ext}": node_format.render(cfg) for name, cfg in configs.items()},
        version=str(release.image.version),
        warnings=pinning_warnings(release),
    )
