"""Builds the typed specs (spec.py) from raw inputs: the one module of the spec stage that asks
both plug-in registries (which variables exist, whose settings they make)."""

from collections.abc import Callable, Mapping
from typing import Any

from capi_sysext import clouds, features
from capi_sysext.errors import InputError, Problem
from capi_sysext.inputs import (
    Layered,
    RawInputs,
    StrPath,
    Variable,
    layer,
    parse_choice,
    resolve,
    unknown_keys,
)
from capi_sysext.spec import (
    CLUSTER_VARIABLES,
    NODE_VARIABLES,
    ClusterSpec,
    NodeSpec,
    network_problems,
)

PROVIDER_VARIABLE = Variable(
    "provider",
    "infrastructure provider",
    parse_choice(clouds.NAMES),
    required=True,
    flag="--provider",
    env="CAPI_SYSEXT_PROVIDER",
    choices=clouds.NAMES,
)


def feature_variables(*, node_scope_only: bool = False) -> list[Variable]:
    chosen = features.node_features() if node_scope_only else features.all_features()
    return [v for f in chosen for v in f.variables]


def cluster_variables(provider_name: str) -> list[Variable]:
    return [
        PROVIDER_VARIABLE,
        *NODE_VARIABLES,
        *CLUSTER_VARIABLES,
        *feature_variables(),
        *clouds.get(provider_name).variables,
    ]


def all_known_keys() -> list[str]:
    """Every values key of any command's inputs: a key outside it is a typo."""
    keys = [
        v.key
        for v in (*NODE_VARIABLES, *CLUSTER_VARIABLES, PROVIDER_VARIABLE, *feature_variables())
    ]
    for name in clouds.NAMES:
        keys += [v.key for v in clouds.get(name).variables]
    return keys


def feature_settings(
    values: Mapping[str, Any], *, node_scope_only: bool = False
) -> tuple[dict[str, object], list[Problem]]:
    """Feature name -> typed settings, and every feature's problems with them."""
    chosen = features.node_features() if node_scope_only else features.all_features()
    settings: dict[str, object] = {f.name: f.settings(values) for f in chosen}
    problems = [p for f in chosen for p in f.check(settings)]
    return settings, problems


def node_spec(values: Mapping[str, Any]) -> tuple[NodeSpec, list[Problem]]:
    """The node spec from resolved values (node and node-scope feature variables)."""
    settings, problems = feature_settings(values, node_scope_only=True)
    return _node(values, settings), problems


def _node(values: Mapping[str, Any], settings: Mapping[str, object]) -> NodeSpec:
    node_names = {f.name for f in features.node_features()}
    return NodeSpec(
        kubernetes=values["kubernetesVersion"],
        arch=values["arch"],
        sysext_base_url=values["sysext.baseUrl"],
        features={name: s for name, s in settings.items() if name in node_names},
    )


def chosen_provider(layered: Layered) -> str | None:
    """The provider the inputs name, from whichever source sets it (flag, --set, values file,
    env); None when none does or the name is not a provider (build_cluster_spec says why)."""
    values, problems = resolve([PROVIDER_VARIABLE], layered)
    name = values["provider"]
    return None if problems or not isinstance(name, str) else name


def build_cluster_spec(raw: RawInputs, load_yaml: Callable[[StrPath], Any]) -> ClusterSpec[Any]:
    """All problems in all sources are collected and raised together."""
    layered = layer(raw, load_yaml)
    problems = list(layered.problems)
    (provider_values, p) = resolve([PROVIDER_VARIABLE], layered)
    problems += p
    provider_name = provider_values["provider"]
    provider = clouds.get(provider_name) if provider_name else None
    variables = [
        *NODE_VARIABLES,
        *CLUSTER_VARIABLES,
        *feature_variables(),
        *(provider.variables if provider else ()),
    ]
    values, p = resolve(variables, layered)
    problems += p
    problems += network_problems(values)
    problems += unknown_keys(all_known_keys(), layered)
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
    feature_values, problems = feature_settings(values)
    if problems:
        raise InputError(problems)
    spec = ClusterSpec(
        provider=provider_name,
        node=_node(values, feature_values),
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
        features=feature_values,
        class_name=values["clusterClass.name"],
    )
    problems = provider.check(spec)
    if problems:
        raise InputError(problems)
    return spec


def build_node_spec(
    raw: RawInputs, load_yaml: Callable[[StrPath], Any]
) -> tuple[NodeSpec, Layered]:
    """`render-node`'s spec: node and node-scope feature inputs only. Keys of other commands
    (healthChecks.*, a provider's) are known and ignored, so one values file serves all."""
    layered = layer(raw, load_yaml)
    values, problems = resolve([*NODE_VARIABLES, *feature_variables(node_scope_only=True)], layered)
    problems = [*layered.problems, *problems, *unknown_keys(all_known_keys(), layered)]
    if problems:
        raise InputError(problems)
    node, problems = node_spec(values)
    if problems:
        raise InputError(problems)
    return node, layered
