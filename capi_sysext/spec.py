"""The typed input objects the core works on and the core's own input variables.

A bottom layer: no registry, no plug-in. specbuild.py builds these from raw inputs.
"""

import re
from collections.abc import Mapping
from typing import Any, Generic, NamedTuple, TypeVar

from capi_sysext.catalog import ARCH_ALIASES, ARCHES, DEFAULT_BASE_URL
from capi_sysext.errors import Problem
from capi_sysext.inputs import (
    Variable,
    parse_choice,
    parse_cidr,
    parse_dns_label,
    parse_int,
    parse_lines,
    parse_str,
    parse_url,
)

CHANNELS = ("stable", "beta", "alpha", "lts")
DEFAULT_POD_CIDR = "192.168.0.0/16"
DEFAULT_SERVICE_CIDR = "10.96.0.0/12"
CAPI_APIS = ("v1beta2", "v1beta1")
ROLES = ("control-plane", "worker")


def _parse_flatcar_version(value: Any) -> str:
    text = parse_str(value)
    if text != "latest" and not re.fullmatch(r"[0-9]{1,9}\.[0-9]{1,9}\.[0-9]{1,9}", text):
        raise ValueError(f"must be 'latest' or a Flatcar release like 4459.2.1, got {text!r}")
    return text


def _parse_k8s(value: Any) -> str:
    # Resolution against the catalog happens later; here only the shape is checked.
    if isinstance(value, float):
        # YAML reads an unquoted 1.30 as the number 1.3.
        raise ValueError(f'{value!r} was read as a number; quote it, e.g. "1.30"')
    return parse_str(value)


_SSH_KEY = (
    r"^(?:ssh-(?:rsa|ed25519|dss)|ecdsa-sha2-nistp(?:256|384|521)"
    r"|sk-(?:ssh-ed25519|ecdsa-sha2-nistp256)@openssh\.com) [A-Za-z0-9+/]+={0,3}(?: .*)?$"
)


def _parse_ssh_keys(value: Any) -> tuple[str, ...]:
    keys = parse_lines(value)
    for key in keys:
        if not re.match(_SSH_KEY, key):
            raise ValueError(
                f"not an SSH public key (type, base64 key, optional comment): {key[:40]!r}"
            )
    return keys


def _parse_cp_count(value: Any) -> int:
    count: int = parse_int(1, 9)(value)
    if count % 2 == 0:
        raise ValueError(f"must be odd so etcd keeps quorum (1, 3, 5, ...), got {count}")
    return count


# Inputs that shape the node's first-boot config; shared by `generate` and `render-node`.
NODE_VARIABLES: tuple[Variable, ...] = (
    Variable(
        "kubernetesVersion",
        "Kubernetes version: a minor like 1.33 or a patch like 1.33.2",
        _parse_k8s,
        required=True,
        flag="--k8s",
        env="KUBERNETES_VERSION",
    ),
    Variable(
        "arch",
        "node CPU architecture",
        parse_choice(ARCHES, ARCH_ALIASES),
        default="x86-64",
        flag="--arch",
        env="NODE_ARCH",
        choices=ARCHES,
    ),
    Variable(
        "sysext.baseUrl",
        "where nodes download the Kubernetes sysext (bakery or mirror)",
        parse_url,
        default=DEFAULT_BASE_URL,
        flag="--sysext-base-url",
        env="CAPI_SYSEXT_BASE_URL",
    ),
)

CLUSTER_VARIABLES: tuple[Variable, ...] = (
    Variable(
        "name",
        "cluster name",
        parse_dns_label(40),
        required=True,
        flag="--name",
        env="CLUSTER_NAME",
    ),
    Variable(
        "namespace",
        "namespace of the cluster objects",
        parse_dns_label(63),
        default="default",
        flag="--namespace",
        env="NAMESPACE",
    ),
    Variable(
        "controlPlane.count",
        "control-plane machines (odd)",
        _parse_cp_count,
        default=1,
        flag="--control-plane-count",
        env="CONTROL_PLANE_MACHINE_COUNT",
    ),
    Variable(
        "workers.count",
        "worker machines",
        parse_int(0, 1000),
        default=2,
        flag="--worker-count",
        env="WORKER_MACHINE_COUNT",
    ),
    Variable(
        "flatcar.channel",
        "Flatcar release channel of the stock image",
        parse_choice(CHANNELS),
        default="stable",
        flag="--flatcar-channel",
        env="FLATCAR_CHANNEL",
        choices=CHANNELS,
    ),
    Variable(
        "flatcar.version",
        "Flatcar image version, or latest",
        _parse_flatcar_version,
        default="latest",
        flag="--flatcar-version",
        env="FLATCAR_VERSION",
    ),
    Variable(
        "capiApi",
        "Cluster API version of the core objects",
        parse_choice(CAPI_APIS),
        default="v1beta2",
        flag="--capi-api",
        choices=CAPI_APIS,
    ),
    Variable(
        "network.podCIDR",
        "pod network CIDR (shared by the Cluster and the CNI)",
        parse_cidr,
        default=DEFAULT_POD_CIDR,
        flag="--pod-cidr",
        env="POD_CIDR",
    ),
    Variable(
        "network.serviceCIDR",
        "service network CIDR",
        parse_cidr,
        default=DEFAULT_SERVICE_CIDR,
        flag="--service-cidr",
        env="SERVICE_CIDR",
    ),
    Variable(
        "clusterClass.name",
        "--format clusterclass: name of the ClusterClass (default: sysext-<provider>-<hash of "
        "its content>, the same for every cluster of one flavour); its templates are named "
        "<name>-control-plane and <name>-worker",
        parse_dns_label(40),
        flag="--class-name",
        env="CAPI_SYSEXT_CLASS_NAME",
    ),
    Variable(
        "ssh.authorizedKeys",
        "SSH public keys for the 'core' user (one per line)",
        _parse_ssh_keys,
        default=(),
        env="SSH_AUTHORIZED_KEYS",
    ),
)

# Settings of plug-ins are typed by the plug-in: P is a provider's settings type
# (clouds/base.py Provider[P]); a feature's settings come out of `features` through its
# own typed accessor (features/base.py Feature.of), never by string key at a call site.
P = TypeVar("P")


class NodeSpec(NamedTuple):
    kubernetes: str
    arch: str
    sysext_base_url: str
    # Feature name -> typed settings, of the features that shape the node config (node_scope)
    # only: a cluster-only input (healthChecks.*) cannot break `render-node`.
    features: Mapping[str, object]


class ClusterSpec(NamedTuple, Generic[P]):
    provider: str
    node: NodeSpec
    name: str
    namespace: str
    control_plane_count: int
    worker_count: int
    flatcar_channel: str
    flatcar_version: str
    capi_api: str
    pod_cidr: str
    service_cidr: str
    ssh_authorized_keys: tuple[str, ...]
    provider_settings: P  # the provider's own typed settings object
    # Feature name -> typed settings of every feature (node-scope ones are node.features' own).
    features: Mapping[str, object]
    class_name: str | None = None  # --format clusterclass: the class's name, None: by content


def network_problems(values: Mapping[str, Any]) -> list[Problem]:
    """Overlapping pod and service networks give a cluster whose Services and pods collide."""
    if (values["network.podCIDR"], values["network.serviceCIDR"]) == (
        DEFAULT_POD_CIDR,
        DEFAULT_SERVICE_CIDR,
    ):
        return []  # disjoint (a test checks), and `generate` need not load ipaddress for them
    import ipaddress

    pods = ipaddress.ip_network(values["network.podCIDR"])
    services = ipaddress.ip_network(values["network.serviceCIDR"])
    if pods.version != services.version or not pods.overlaps(services):
        return []
    return [
        Problem(
            f"the pod network {pods} overlaps the service network {services}",
            "choose disjoint ranges with --pod-cidr or --service-cidr (values key "
            "network.podCIDR, network.serviceCIDR)",
        )
    ]


def describe_variables(variables: list[Variable]) -> list[dict[str, Any]]:
    """For --list-variables: required first, then optional with defaults."""
    rows = [
        {
            "key": v.key,
            "flag": v.flag,
            "env": v.env,
            "required": v.required,
            "default": None if v.required else v.default,
            "help": v.help,
            "choices": list(v.choices),
        }
        for v in variables
    ]
    return sorted(rows, key=lambda r: (not r["required"], r["key"]))
