"""`generate`: the whole pipeline for one cluster, as data.

inputs (ClusterSpec) -> resolved release -> node model per role -> CLC -> CAPI objects.
Serializing, validating and applying happen downstream; this module never prints or writes.
"""

from collections.abc import Mapping
from typing import Any, NamedTuple

from capi_sysext import capi, clouds, clusterapi, features
from capi_sysext.capi import Ref
from capi_sysext.catalog import Catalog, Image
from capi_sysext.context import ClusterContext
from capi_sysext.errors import InputError, RenderError
from capi_sysext.model import NodeConfig
from capi_sysext.node import NodeContext, NodeContributor, NodeRelease, build_node_config
from capi_sysext.render.clc import render_clc
from capi_sysext.spec import ROLES, ClusterSpec, NodeSpec


class WorkerPool(NamedTuple):
    """One MachineDeployment with the two templates it references."""

    name: str
    machine_template: dict[str, Any]
    config_template: dict[str, Any]  # KubeadmConfigTemplate
    machine_deployment: dict[str, Any]


class ClusterParts(NamedTuple):
    """A generated cluster by role, so each output mode (capi_sysext.writers) picks what it
    needs instead of sorting a flat document list by kind."""

    # The provider's cluster object and its extras (e.g. identities), in apply order.
    infrastructure: list[dict[str, Any]]
    control_plane_machine: dict[str, Any]  # the control plane's machine template
    control_plane: dict[str, Any]  # KubeadmControlPlane
    workers: tuple[WorkerPool, ...]
    cluster: dict[str, Any]
    features: tuple[tuple[str, list[dict[str, Any]]], ...]  # (feature name, its documents)

    @property
    def documents(self) -> list[dict[str, Any]]:
        """Apply order: what others reference comes first, the Cluster (which starts
        reconciling everything) after its parts, add-ons and health checks last."""
        return [
            *self.infrastructure,
            self.control_plane_machine,
            *(w.machine_template for w in self.workers),
            *(w.config_template for w in self.workers),
            self.control_plane,
            *(w.machine_deployment for w in self.workers),
            self.cluster,
            *(d for _, docs in self.features for d in docs),
        ]


class GenerateResult(NamedTuple):
    parts: ClusterParts
    release: Image
    warnings: list[str]  # stderr: something is not as it should be
    notes: list[str]  # stderr: what the user must know or do
    # What a writer needs to re-render node configs for another version (ClusterClass mode).
    spec: ClusterSpec[Any] | None = None
    catalog: Catalog | None = None

    @property
    def documents(self) -> list[dict[str, Any]]:
        return self.parts.documents


def resolve_release(node: NodeSpec, catalog: Catalog) -> NodeRelease:
    image = catalog.resolve(node.kubernetes, node.arch)
    return NodeRelease(image, node.sysext_base_url)


def pinning_warnings(release: NodeRelease) -> list[str]:
    if release.image.sha256:
        return []
    return [
        f"the download of {release.image.filename} is not pinned: the catalog has no sha256 for "
        "it. Pin it by refreshing the catalog from the index (capi-sysext versions --refresh)."
    ]


def _named_by_content(template: dict[str, Any]) -> dict[str, Any]:
    meta = template["metadata"]
    return {
        **template,
        "metadata": {**meta, "name": capi.content_name(meta["name"], template["spec"])},
    }


def feature_warnings(settings: Mapping[str, object], *, node_scope_only: bool) -> list[str]:
    chosen = features.node_features() if node_scope_only else features.all_features()
    return [w for f in chosen for w in f.warnings(settings)]


def node_config(ctx: NodeContext[Any], provider_name: str | None) -> NodeConfig:
    """One role's node model: core sysext wiring, node-scope features, the provider's wiring."""
    contributors: list[NodeContributor] = list(features.node_features())
    if provider_name is not None:
        contributors.append(clouds.get(provider_name))
    return build_node_config(ctx, contributors)


def _merged_labels(ctx: ClusterContext[Any]) -> dict[str, str]:
    """Every feature's Cluster labels; two features may share a label only with one value, so
    each feature's selector (built from its own labels) matches the Cluster."""
    labels: dict[str, str] = {}
    for feature in features.all_features():
        for key, value in feature.cluster_labels(ctx).items():
            if labels.setdefault(key, value) != value:
                raise ValueError(f"features disagree on the Cluster label {key}")
    return labels


def generate(spec: ClusterSpec[Any], catalog: Catalog) -> GenerateResult:
    provider = clouds.get(spec.provider)
    release = resolve_release(spec.node, catalog)
    shape = clusterapi.Shape(spec.capi_api)
    ctx = ClusterContext(spec=spec, shape=shape, release=release, resolved={})
    # After the release: checks that depend on the Kubernetes minor (pinned add-on charts) only
    # make sense for a version that exists.
    problems = [p for f in features.all_features() for p in f.check_cluster(ctx)]
    if problems:
        raise InputError(problems)
    version = str(release.image.version)
    names = capi.Names(spec.name)
    configs = {
        role: node_config(
            NodeContext(spec.node, release, role, spec.provider_settings), spec.provider
        )
        for role in ROLES
    }
    clc_by_role: dict[str, str] = {}
    for role in ROLES:
        try:
            clc_by_role[role] = render_clc(configs[role])
        except RenderError as exc:
            raise RenderError(f"{role} nodes: {exc}") from None
    problems = provider.check_node_configs(ctx, configs)
    if problems:
        raise InputError(problems)

    def kubeadm(role: str, name: str) -> dict[str, Any]:
        return capi.kubeadm_config_spec(
            spec,
            shape,
            role,
            clc_by_role[role],
            provider.node_name_commands(),
            provider.kubeadm_extras(ctx, role, name),
        )

    infra = provider.infrastructure(ctx)
    # Machine templates are named after their content (capi.content_name), so a changed spec
    # is a new template that CAPI rolls onto. The provider builds each under its base name;
    # the final name is set here, and everything that refers to it (KCP and MachineDeployment
    # refs, the kubeadm config's provider files such as CAPZ's <template>-azure-json Secret,
    # cluster-api-provider-azure controllers/azurejson_machinetemplate_controller.go:203-209
    # and controllers/helpers.go:173) follows.
    cp_machine = _named_by_content(
        provider.machine_template(ctx, "control-plane", names.control_plane)
    )
    md_machine = _named_by_content(provider.machine_template(ctx, "worker", names.workers))
    cp_name, md_name = cp_machine["metadata"]["name"], md_machine["metadata"]["name"]
    cp_ref = provider.ref(cp_machine["kind"], cp_name)
    md_ref = provider.ref(md_machine["kind"], md_name)
    kcp = capi.control_plane(spec, shape, version, cp_ref, kubeadm("control-plane", cp_name))
    kct = capi.config_template(spec, shape, kubeadm("worker", md_name))
    md = capi.machine_deployment(
        spec,
        shape,
        version,
        md_ref,
        Ref(
            shape.api(clusterapi.BOOTSTRAP_GROUP), "KubeadmConfigTemplate", kct["metadata"]["name"]
        ),
    )
    labels = _merged_labels(ctx)
    cluster = capi.cluster(
        spec,
        shape,
        infra.ref,
        Ref(shape.api(clusterapi.CONTROLPLANE_GROUP), "KubeadmControlPlane", names.control_plane),
        labels=labels,
        skipped_rules=[
            *provider.skipped_rules(ctx),
            *(r for f in features.all_features() for r in f.skipped_rules(ctx)),
        ],
    )
    parts = ClusterParts(
        infrastructure=list(infra.documents),
        control_plane_machine=cp_machine,
        control_plane=kcp,
        workers=(WorkerPool(names.workers, md_machine, kct, md),),
        cluster=cluster,
        features=tuple((f.name, f.documents(ctx)) for f in features.all_features()),
    )
    notes = [
        *provider.notes(ctx),
        *(n for f in features.all_features() for n in f.notes(ctx)),
    ]
    return GenerateResult(
        parts=parts,
        release=release.image,
        warnings=[
            *pinning_warnings(release),
            *feature_warnings(spec.features, node_scope_only=False),
        ],
        notes=notes,
        spec=spec,
        catalog=catalog,
    )


class NodeRenderResult(NamedTuple):
    text: str
    release: Image
    warnings: list[str]


def render_node(
    node: NodeSpec, role: str, fmt: str, catalog: Catalog, provider_name: str | None = None
) -> NodeRenderResult:
    """One node's first-boot config, outside CAPI (bare metal, Terraform, a local VM)."""
    from capi_sysext.render import NODE_FORMATS

    if provider_name:
        clouds.get(provider_name)  # an unknown name is bad input before any download
    release = resolve_release(node, catalog)
    # No provider inputs here: the provider's node wiring gets provider_settings None.
    text = NODE_FORMATS[fmt].render(
        node_config(NodeContext(node, release, role), provider_name or None)
    )
    return NodeRenderResult(
        text=text,
        release=release.image,
        warnings=[
            *pinning_warnings(release),
            *feature_warnings(node.features, node_scope_only=True),
        ],
    )
