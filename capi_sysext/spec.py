"""The typed input objects the core works on, and how they are built from raw inputs."""

import re
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

from capi_sysext import features, providers
from capi_sysext.catalog import ARCH_ALIASES, ARCHES, DEFAULT_BASE_URL
from capi_sysext.errors import InputError, Problem
from capi_sysext.inputs import (
    Layered,
    RawInputs,
    StrPath,
    Variable,
    layer,
    parse_choice,
    parse_cidr,
    parse_dns_label,
    parse_int,
    parse_lines,
    parse_str,
    parse_url,
    resolve,
    unknown_keys,
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
        "ssh.authorizedKeys",
        "SSH public keys for the 'core' user (one per line)",
        _parse_ssh_keys,
        default=(),
        env="SSH_AUTHORIZED_KEYS",
    ),
)

PROVIDER_VARIABLE = Variable(
    "provider",
    "infrastructure provider",
    parse_choice(providers.NAMES),
    required=True,
    flag="--provider",
    env="CAPI_SYSEXT_PROVIDER",
    choices=providers.NAMES,
)


class NodeSpec(NamedTuple):
    kubernetes: str
    arch: str
    sysext_base_url: str
    # Feature name -> that feature's typed settings (features/); the same for every renderer.
    features: Mapping[str, Any]


class ClusterSpec(NamedTuple):
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
    provider_settings: Any  # the provider module's own typed settings object


def feature_variables(*, node_scope_only: bool = False) -> list[Variable]:
    return [
        v
        for f in features.all_features()
        if f.node_scope or not node_scope_only
        for v in f.variables
    ]


def _node_spec(v: Mapping[str, Any]) -> tuple[NodeSpec, list[Problem]]:
    settings = {f.name: f.settings(v) for f in features.all_features()}
    problems = [p for f in features.all_features() for p in f.check(settings[f.name])]
    spec = NodeSpec(
        kubernetes=v["kubernetesVersion"],
        arch=v["arch"],
        sysext_base_url=v["sysext.baseUrl"],
        features=settings,
    )
    return spec, problems


def _all_known_keys() -> list[str]:
    keys = [
        v.key
        for v in (*NODE_VARIABLES, *CLUSTER_VARIABLES, PROVIDER_VARIABLE, *feature_variables())
    ]
    for name in providers.NAMES:
        keys += [v.key for v in providers.get(name).variables]
    return keys


def _network_problems(values: Mapping[str, Any]) -> list[Problem]:
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
            "choose disjoint ranges with --pod-cidr or --service-cidr (values keys "
            "network.podCIDR, network.serviceCIDR)",
        )
    ]


def build_cluster_spec(raw: RawInputs, load_yaml: Callable[[StrPath], Any]) -> ClusterSpec:
    """All problems in all sources are collected and raised together."""
    layered = layer(raw, load_yaml)
    problems = list(layered.problems)
    (provider_values, p) = resolve([PROVIDER_VARIABLE], layered)
    problems += p
    provider_name = provider_values["provider"]
    provider = providers.get(provider_name) if provider_name else None
    variables = [
        *NODE_VARIABLES,
        *CLUSTER_VARIABLES,
        *feature_variables(),
        *(provider.variables if provider else ()),
    ]
    values, p = resolve(variables, layered)
    problems += p
    problems += _network_problems(values)
    problems += unknown_keys(_all_known_keys(), layered)
    if provider is not None:
        used = {v.key for v in (*variables, PROVIDER_VARIABLE)}
        problems += [
            Problem(f"{key} does not apply to provider {provider_name}", "drop it")
            for key in layered.flags
            if key not in used
        ]
    if problems or provider is None:
        raise InputError(problems)
    settings = provider.settings(values)
    node, problems = _node_spec(values)
    if problems:
        raise InputError(problems)
    spec = ClusterSpec(
        provider=provider_name,
        node=node,
        name=values["name"],
        namespace=values["namespace"],
        control_plane_count=values["controlPlane.count"],
        worker_count=values["workers.count"],
        flatcar_channel=values["flatcar.channel"],
        flatcar_version=values["flatcar.version"],
        capi_api=values["capiApi"],
        pod_cidr=values["network.podCIDR"],
        service_cidr=values["network.serviceCIDR"],
        ssh_authorized_keys=tuple(values["ssh.authorizedKeys"]),
        provider_settings=settings,
    )
    problems = provider.check(spec)
    if problems:
        raise InputError(problems)
    return spec


def build_node_spec(
    raw: RawInputs, load_yaml: Callable[[StrPath], Any]
) -> tuple[NodeSpec, Layered]:
    layered = layer(raw, load_yaml)
    values, problems = resolve([*NODE_VARIABLES, *feature_variables()], layered)
    problems = [*layered.problems, *problems, *unknown_keys(_all_known_keys(), layered)]
    if problems:
        raise InputError(problems)
    node, problems = _node_spec(values)
    if problems:
        raise InputError(problems)
    return node, layered


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


def cluster_variables(provider_name: str) -> list[Variable]:
    return [
        PROVIDER_VARIABLE,
        *NODE_VARIABLES,
        *CLUSTER_VARIABLES,
        *feature_variables(),
        *providers.get(provider_name).variables,
    ]
