"""`render-cluster`: a whole kubeadm cluster without a management cluster, one config per node.

Each node gets the same sysext wiring as `render-node` (generate.node_config: download, hash
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
from capi_sysext.errors import InputError, Problem
from capi_sysext.features import updates
from capi_sysext.generate import node_config, pinning_warnings, resolve_release
from capi_sysext.inputs import (
    Layered,
    RawInputs,
    StrPath,
    Variable,
    layer,
    parse_int,
    parse_lines,
    parse_str,
    parse_str_list,
    resolve,
    unknown_keys,
)
from capi_sysext.model import File, NodeConfig, NodeConfigBuilder, Unit, User
from capi_sysext.node import KUBEADM_UNIT, NodeContext, NodeRelease
from capi_sysext.pki import ClusterSecrets
from capi_sysext.spec import CLUSTER_VARIABLES, NODE_VARIABLES, NodeSpec, network_problems
from capi_sysext.specbuild import all_known_keys, feature_settings, feature_variables, node_spec

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
# Sorts before Flatcar's zz-default.network (DHCP on every interface), so it wins for the
# interfaces it matches: networkd applies the first file in lexical order that matches
# (systemd.network(5), https://www.freedesktop.org/software/systemd/man/latest/systemd.network.html;
# Flatcar: https://www.flatcar.org/docs/latest/setup/customization/network-config-with-networkd/).
STATIC_NETWORK = "/etc/systemd/network/00-capi-sysext-static.network"
KURED_UNIT = "capi-sysext-kured.service"
KURED_STAMP = "/etc/capi-sysext/kured-installed"
KURED_MANIFEST = "/etc/capi-sysext/kured/kured.yaml"
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


class NodeEntry(NamedTuple):
    name: str
    address: str | None  # IP with prefix, e.g. 10.0.0.11/24; None: the network's DHCP


_LABEL_RE = re.compile(rf"^{_LABEL}$")


def _node_entry(item: Any) -> NodeEntry:
    if isinstance(item, Mapping):
        extra = set(item) - {"name", "address"}
        if extra or "name" not in item:
            raise ValueError(f"a node is {{name, address}}, got keys {sorted(map(str, item))}")
        name, address = parse_str(item["name"]), item.get("address")
        address = None if address is None else parse_str(address)
    else:
        name, sep, addr = parse_str(item).partition("=")
        name, address = name.strip(), (addr.strip() if sep else None)
    if len(name) > 63 or not _LABEL_RE.match(name):
        raise ValueError(
            f"{name!r} is not a DNS-1123 label (lower-case letters, digits and '-', at most 63, "
            "starting and ending with a letter or digit): a Kubernetes node name"
        )
    if address is None:
        return NodeEntry(name, None)
    try:
        iface = ipaddress.ip_interface(address)
    except ValueError:
        raise ValueError(f"{name}: {address!r} is not an IP address with prefix") from None
    if "/" not in address:
        raise ValueError(f"{name}: {address!r} needs its prefix length, e.g. {address}/24")
    net = iface.network
    # The network's own address (and IPv4's broadcast) cannot be a host's.
    if net.num_addresses > 2 and iface.ip in (net.network_address, net.broadcast_address):
        raise ValueError(f"{name}: {address} is the network or broadcast address of {net}")
    return NodeEntry(name, str(iface))


def parse_nodes(value: Any) -> tuple[NodeEntry, ...]:
    """`NAME[=ADDRESS/PREFIX]` items (flag: repeatable; values: list of such strings or of
    {name, address} mappings). Every bad item is reported, not only the first."""
    items = list(value) if isinstance(value, list | tuple) else [value]
    entries, errors = [], []
    for item in items:
        try:
            entries.append(_node_entry(item))
        except ValueError as exc:
            errors.append(str(exc))
    names = [e.name for e in entries]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        errors.append(f"node names must be unique: {', '.join(dupes)} given twice")
    ips = [str(ipaddress.ip_interface(e.address).ip) for e in entries if e.address]
    dupe_ips = sorted({ip for ip in ips if ips.count(ip) > 1})
    if dupe_ips:
        errors.append(f"node addresses must be unique: {', '.join(dupe_ips)} given twice")
    if errors:
        raise ValueError("; ".join(errors))
    return tuple(entries)


def parse_ip(value: Any) -> str:
    text = parse_str(value)
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        raise ValueError(f"{text!r} is not an IP address") from None


def parse_ips(value: Any) -> tuple[str, ...]:
    return tuple(parse_ip(v) for v in parse_str_list(value))


# networkd's [Match] Name= takes space-separated shell globs of interface names.
_IFNAME_GLOB = re.compile(r"^!?[A-Za-z0-9_.:*?\[\]-]{1,15}$")


def parse_interface_match(value: Any) -> str:
    words = parse_str(value).split()
    for word in words:
        if not _IFNAME_GLOB.match(word):
            raise ValueError(f"{word!r} is not an interface name or glob (e.g. eth0, en*)")
    return " ".join(words)


_PRIVATE_KEY = re.compile(r"PRIVATE KEY|^PuTTY-User-Key-File")


def parse_ssh_public_keys(value: Any) -> tuple[str, ...]:
    """OpenSSH public-key lines, like `generate`'s ssh.authorizedKeys, but a private key is
    named as such (and never quoted back); duplicates are dropped (Ignition wants them unique)."""
    lines = parse_lines(value)
    if any(_PRIVATE_KEY.search(line) for line in lines):
        raise ValueError(
            "this is a PRIVATE key: give the public one (the .pub file next to it, or "
            "ssh-keygen -y -f KEY), and keep the private key off the node configs"
        )
    return tuple(dict.fromkeys(_SSH_KEYS.parse(lines)))


_SSH_KEYS = next(v for v in CLUSTER_VARIABLES if v.key == "ssh.authorizedKeys")
SSH_KEYS_VARIABLE = _SSH_KEYS._replace(
    help="SSH public key for the 'core' user on every node: a key line or a .pub FILE "
    "(repeatable; values key: a list of key lines)",
    parse=parse_ssh_public_keys,
    flag="--ssh-key",
)
NODES_VARIABLE = Variable(
    "nodes.list",
    "a node NAME[=ADDRESS/PREFIX], control plane first then the workers (repeatable; default "
    "<name>-control-plane, <name>-worker-<i>, DHCP); an address becomes a static network "
    "config",
    parse_nodes,
    default=(),
    flag="--node",
)
# Flag -> values key of the inputs given more than once on the command line (the CLI collects
# them into a list; every other flag takes one value).
REPEATABLE = (SSH_KEYS_VARIABLE, NODES_VARIABLE)
DEFAULT_INTERFACES = "en* eth*"

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
    NODES_VARIABLE,
    Variable(
        "nodes.gateway",
        "default gateway of the nodes given an --node address (required then)",
        parse_ip,
        default=None,
        flag="--node-gateway",
    ),
    Variable(
        "nodes.dns",
        "DNS servers of the nodes given an --node address (comma-separated; required then)",
        parse_ips,
        default=(),
        flag="--node-dns",
    ),
    Variable(
        "nodes.interface",
        "interfaces a static --node address goes on: networkd [Match] Name= globs, "
        "space-separated (set it on machines with more than one NIC)",
        parse_interface_match,
        default=DEFAULT_INTERFACES,
        flag="--node-interface",
    ),
    SSH_KEYS_VARIABLE,
)
# ssh.authorizedKeys is shared too, but with a flag of its own (SSH_KEYS_VARIABLE).
_SHARED_KEYS = ("name", "network.podCIDR", "network.serviceCIDR")
SHARED_VARIABLES = tuple(v for v in CLUSTER_VARIABLES if v.key in _SHARED_KEYS)


def _cni_variable() -> Variable:
    return next(v for v in feature_variables() if v.key == "addons.cni")


def _kured_variables() -> tuple[Variable, ...]:
    from capi_sysext.features.kured import FEATURE as KURED

    return KURED.variables


def cli_variables() -> tuple[Variable, ...]:
    """Every input `render-cluster` offers as a flag."""
    return (
        *NODE_VARIABLES,
        *feature_variables(node_scope_only=True),
        _cni_variable(),
        *_kured_variables(),
        *SHARED_VARIABLES,
        *STANDALONE_VARIABLES,
    )


# What render-cluster does instead of honouring a `generate` key, by key or key prefix (the first
# match wins); every key of all_known_keys() outside cli_variables() is refused with one of these.
_INSTEAD = (
    ("controlPlane.count", "it renders exactly one control-plane node (the first --node)"),
    (
        "addons.",
        "it installs only the CNI (--cni), from the control plane: no cloud controller "
        "manager, CSI driver or HelmChartProxy",
    ),
    ("healthChecks.", "it writes no MachineHealthCheck: nothing replaces an unhealthy node"),
    ("flatcar.", "it selects no Flatcar image: boot the machines from a Flatcar release yourself"),
    ("namespace", "it writes no Cluster API objects, only node configs"),
    ("capiApi", "it writes no Cluster API objects, only node configs"),
)
_INSTEAD_DEFAULT = "it renders node configs for machines you provision, with no cloud provider"


def _instead(key: str) -> str:
    return next(
        (why for k, why in _INSTEAD if key == k or (k.endswith(".") and key.startswith(k))),
        _INSTEAD_DEFAULT,
    )


def ignored_key_problems(layered: Layered) -> list[Problem]:
    """A `generate` key render-cluster cannot honour (controlPlane.count: 3, a cloud's keys, ...)
    is refused, not dropped. Only values files and --set count: an exported environment variable
    is ambient, not a request to this command."""
    honoured = {v.key for v in cli_variables()}
    ignored = set(all_known_keys()) - honoured
    given = [(key, "--set") for key in layered.sets]
    given += [(key, f"values file {f}") for key, (v, f) in layered.files.items() if v is not None]
    return [
        Problem(
            f"{where}: render-cluster cannot honour {key}: {_instead(key)}",
            f"drop {key}, or use `capi-sysext generate` for a Cluster API cluster",
        )
        for key, where in given
        if key in ignored
    ]


class StandaloneSpec(NamedTuple):
    node: NodeSpec
    features: Mapping[str, object]  # every feature's settings (ClusterSpec.features' shape)
    name: str
    endpoint: Endpoint
    pod_cidr: str
    service_cidr: str
    cni: str
    control_plane: NodeEntry
    workers: tuple[NodeEntry, ...]
    gateway: str | None
    dns: tuple[str, ...]
    interface: str  # networkd [Match] Name= of the static address
    ssh_authorized_keys: tuple[str, ...]

    @property
    def control_plane_name(self) -> str:
        return self.control_plane.name


def _address_problems(
    nodes: tuple[NodeEntry, ...], values: Mapping[str, Any], endpoint: Endpoint | None
) -> list[Problem]:
    """Static addresses against the gateway, DNS, cluster networks and the API endpoint."""
    addressed = [(n.name, ipaddress.ip_interface(n.address)) for n in nodes if n.address]
    if not addressed:
        return []
    problems = []
    gateway = values["nodes.gateway"]
    if gateway is None:
        problems.append(
            Problem(
                "nodes with a static address need a default gateway (the sysext, images and "
                "the CNI are downloaded)",
                "set --node-gateway (values key nodes.gateway)",
            )
        )
    else:
        outside = [n for n, i in addressed if ipaddress.ip_address(gateway) not in i.network]
        if outside:
            problems.append(
                Problem(
                    f"gateway {gateway} is outside the network of {', '.join(outside)}",
                    "fix --node-gateway (values key nodes.gateway) or the prefix in --node "
                    "(values key nodes.list)",
                )
            )
    if not values["nodes.dns"]:
        problems.append(
            Problem(
                "nodes with a static address need DNS servers (registry.k8s.io, the sysext "
                "download)",
                "set --node-dns (values key nodes.dns)",
            )
        )
    for key in ("network.podCIDR", "network.serviceCIDR"):
        net = ipaddress.ip_network(values[key])
        inside = [n for n, i in addressed if i.version == net.version and i.ip in net]
        if inside:
            problems.append(
                Problem(
                    f"the address of {', '.join(inside)} lies in {key} {net}: the cluster "
                    "would route it into its own network",
                    f"choose another address in --node (values key nodes.list) or another {key}",
                )
            )
    if endpoint is None:
        return problems
    try:
        endpoint_ip = ipaddress.ip_address(endpoint.host)
    except ValueError:
        return problems  # a DNS name: it resolves on the nodes, not here
    cp = nodes[0]
    if cp.address and ipaddress.ip_interface(cp.address).ip != endpoint_ip:
        problems.append(
            Problem(
                f"--control-plane-endpoint {endpoint.host} is not the control plane's address "
                f"{cp.address} (with one control-plane node the endpoint is that node; behind "
                "NAT or a port forward, give the endpoint as a DNS name)",
                "make --control-plane-endpoint and the first --node address agree "
                "(values keys controlPlane.endpoint, nodes.list)",
            )
        )
    on_worker = [n for n, i in addressed[1 if cp.address else 0 :] if i.ip == endpoint_ip]
    if on_worker:
        problems.append(
            Problem(
                f"--control-plane-endpoint {endpoint.host} is the address of worker "
                f"{', '.join(on_worker)}",
                "the first --node is the control plane: reorder --node or fix the endpoint",
            )
        )
    return problems


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
    problems += unknown_keys([*all_known_keys(), *(v.key for v in STANDALONE_VARIABLES)], layered)
    problems += ignored_key_problems(layered)
    if not problems:
        problems += network_problems(values)
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
    nodes: tuple[NodeEntry, ...] = values["nodes.list"] or ()
    if nodes and len(nodes) != 1 + workers:
        problems.append(
            Problem(
                f"--node is given {len(nodes)} times for 1 control-plane node and {workers} "
                "workers",
                f"give exactly {1 + workers} nodes (values key nodes.list) or change --workers",
            )
        )
    if not problems:
        problems += _address_problems(nodes, values, values["controlPlane.endpoint"])
    if problems:
        raise InputError(problems)
    node, problems = node_spec(values)
    # Kured is cluster-scope in CAPI terms (a CRS); here the control plane applies it, so
    # render-cluster keeps every feature's settings, checked as generate checks them.
    settings, feature_problems = feature_settings(values)
    problems += [p for p in feature_problems if p not in problems]
    if problems:
        raise InputError(problems)
    name: str = values["name"]
    if not nodes:
        nodes = tuple(
            NodeEntry(n, None)
            for n in (f"{name}-control-plane", *(f"{name}-worker-{i}" for i in range(workers)))
        )
    return StandaloneSpec(
        node=node,
        features=settings,
        name=name,
        endpoint=values["controlPlane.endpoint"],
        pod_cidr=values["network.podCIDR"],
        service_cidr=values["network.serviceCIDR"],
        cni=cni,
        control_plane=nodes[0],
        workers=nodes[1:],
        gateway=values["nodes.gateway"],
        dns=tuple(values["nodes.dns"]),
        interface=values["nodes.interface"],
        ssh_authorized_keys=tuple(values["ssh.authorizedKeys"]),
    )


# ---- kubeadm configuration, as data ----


def _ip(entry: NodeEntry) -> str | None:
    return str(ipaddress.ip_interface(entry.address).ip) if entry.address else None


def _node_registration(entry: NodeEntry) -> dict[str, Any]:
    out: dict[str, Any] = {"name": entry.name, "criSocket": CRI_SOCKET}
    ip = _ip(entry)
    if ip:
        # The kubelet would pick the address of the default route's interface; with a static
        # address given, report that one (v1beta4 extraArgs are a list of {name, value}).
        out["kubeletExtraArgs"] = [{"name": "node-ip", "value": ip}]
    return out


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
        "nodeRegistration": _node_registration(spec.control_plane),
        # The endpoint is this node (one control-plane node): serve on its port.
        "localAPIEndpoint": {"bindPort": spec.endpoint.port},
    }
    cp_ip = _ip(spec.control_plane)
    if cp_ip:
        init["localAPIEndpoint"] = {"advertiseAddress": cp_ip, **init["localAPIEndpoint"]}
    sans = list(dict.fromkeys([spec.endpoint.host, *([cp_ip] if cp_ip else [])]))
    cluster: dict[str, Any] = {
        "apiVersion": KUBEADM_API,
        "kind": "ClusterConfiguration",
        "clusterName": spec.name,
        "kubernetesVersion": version,
        "controlPlaneEndpoint": str(spec.endpoint),
        "networking": {"podSubnet": spec.pod_cidr, "serviceSubnet": spec.service_cidr},
        "apiServer": {"certSANs": sans},
        # v1beta4 extraArgs are a list of {name, value}.
        "controllerManager": {"extraArgs": [{"name": "flex-volume-plugin-dir", "value": FLEX_DIR}]},
    }
    return [init, cluster, kubelet_configuration()]


def join_documents(
    spec: StandaloneSpec, entry: NodeEntry, s: ClusterSecrets
) -> list[dict[str, Any]]:
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
            "nodeRegistration": _node_registration(entry),
            # Workers usually boot with the control plane, which first downloads the sysext and
            # its images: wait for it longer than kubeadm's 5-minute default. A failed join is
            # not retried (its leftovers fail the next preflight). v1beta4 `timeouts`:
            # kubernetes/kubernetes#122529.
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
        _server_side_apply(CALICO_OPERATOR_URL.format(version=version)),
        (
            KUBECTL,
            "wait",
            "--for",
            "condition=established",
            "--timeout=120s",
            "crd/installations.operator.tigera.io",
        ),
        _server_side_apply(CALICO_INSTALLATION),
        ("/usr/bin/touch", CNI_STAMP),
    )
    for argv in steps:
        unit = unit.add("Service", "ExecStart", unitfile.Exec(argv))
    return NodeConfig(
        files=(File(CALICO_INSTALLATION, 0o644, inline=yamlio.dump(calico_installation(spec))),),
        units=(Unit(CNI_UNIT, enabled=True, contents=unit.render()),),
    )


def _server_side_apply(path_or_url: str) -> tuple[str, ...]:
    # Server-side apply: idempotent across retries, and no last-applied annotation (the Calico
    # operator's CRDs are too large for client-side apply's).
    return (KUBECTL, "apply", "--server-side", "--force-conflicts", "-f", path_or_url)


def _kured_config(spec: StandaloneSpec) -> NodeConfig:
    """Kured's manifests, built by the same function the CAPI path puts into its
    ClusterResourceSet (features/kured.py), applied once by the control plane after init."""
    from capi_sysext import yamlio
    from capi_sysext.features.kured import FEATURE as KURED
    from capi_sysext.features.kured import manifests

    unit = (
        unitfile.load("kured-install.service")
        .add(
            "Unit",
            "ConditionPathExists",
            f"!{KURED_STAMP}",
            comment="Once: the stamp is written after the manifests were applied.",
        )
        .add("Service", "ExecStart", unitfile.Exec(_server_side_apply(KURED_MANIFEST)))
        .add("Service", "ExecStart", unitfile.Exec(("/usr/bin/touch", KURED_STAMP)))
    )
    text = yamlio.dump_all(manifests(KURED.of(spec.features)))
    return NodeConfig(
        files=(File(KURED_MANIFEST, 0o644, inline=text),),
        units=(Unit(KURED_UNIT, enabled=True, contents=unit.render()),),
    )


def _hostname(name: str) -> File:
    return File("/etc/hostname", 0o644, inline=name + "\n")


def _node_identity(spec: StandaloneSpec, entry: NodeEntry) -> NodeConfig:
    """What differs per node besides kubeadm: hostname, static address, SSH keys for core."""
    files = [_hostname(entry.name)]
    if entry.address:
        unit = unitfile.load("static.network").add("Match", "Name", spec.interface)
        unit = unit.add("Network", "Address", entry.address)
        if spec.gateway:
            unit = unit.add("Network", "Gateway", spec.gateway)
        for server in spec.dns:
            unit = unit.add("Network", "DNS", server)
        files.append(File(STATIC_NETWORK, 0o644, inline=unit.render()))
    users = (User("core", spec.ssh_authorized_keys),) if spec.ssh_authorized_keys else ()
    return NodeConfig(files=tuple(files), users=users)


def control_plane_config(
    spec: StandaloneSpec, release: NodeRelease, s: ClusterSecrets
) -> NodeConfig:
    from capi_sysext import yamlio
    from capi_sysext.features.addons import kubernetes_minor

    version = str(release.image.version)
    builder = NodeConfigBuilder()
    builder.add(node_config(NodeContext(spec.node, release, "control-plane"), None))
    builder.add(_node_identity(spec, spec.control_plane))
    builder.add(
        NodeConfig(
            files=(
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
    if updates.FEATURE.of(spec.node.features).kured:
        builder.add(_kured_config(spec))
    return builder.build()


def worker_config(
    spec: StandaloneSpec, release: NodeRelease, s: ClusterSecrets, entry: NodeEntry
) -> NodeConfig:
    from capi_sysext import yamlio

    builder = NodeConfigBuilder()
    builder.add(node_config(NodeContext(spec.node, release, "worker"), None))
    builder.add(_node_identity(spec, entry))
    join = yamlio.dump_all(join_documents(spec, entry, s))
    builder.add(
        NodeConfig(
            files=(File(JOIN_CONFIG, 0o600, inline=join),),
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

    node_format = NODE_FORMATS[fmt]
    release = resolve_release(spec.node, catalog)
    configs = {spec.control_plane_name: control_plane_config(spec, release, s)}
    for entry in spec.workers:
        configs[entry.name] = worker_config(spec, release, s, entry)
    ext = node_format.extension
    return ClusterRender(
        files={f"{name}.{ext}": node_format.render(cfg) for name, cfg in configs.items()},
        version=str(release.image.version),
        warnings=pinning_warnings(release),
    )
