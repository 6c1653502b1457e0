"""`--format clusterclass`: a ClusterClass with its templates (shared) and a topology Cluster (own).

The version a node boots comes from the topology: inline JSON patches replace each node config
(the CLC in `ignition.containerLinuxConfig.additionalConfig`) with a `valueFrom.template` that
names the sysext of `.builtin.controlPlane.version` / `.builtin.machineDeployment.version` (and,
with --sysupdate, that version's minor), and takes its sha256 from the class variable
`sysextSHA256` (version -> hash). A provider may add patches for values the topology controller
names per cluster (Provider.class_patches, e.g. Azure's azure.json Secret). This is the approach
of CAPO's Flatcar sysext ClusterClass (cluster-api-provider-openstack
templates/cluster-template-flatcar-sysext.yaml), made hash-pinned.

How CAPI evaluates the template (cluster-api core/reconcilers/topology/cluster/patches/inline/
json_patch_generator.go:320-350, commit ae7ff047): Go text/template with sprig's hermetic
functions over the variables (builtins nested under `builtin`), and the output is parsed as
YAML. So the template here is one YAML double-quoted scalar: literal CLC text quoted for YAML,
then Go-escaped (a `{{` in it, e.g. from a user value, becomes `{{ "{{" }}`), with the actions
in between. Quoting and escaping happen once, in _template_text.

Machine templates in a class need no content-hash names: the topology controller clones each
class template per cluster and, when a spec changes, rotates the clone (creates a new one, moves
the reference, deletes the old) (cluster-api docs/book/src/tasks/experimental-features/
cluster-class/change-clusterclass.md:51,152-159; core/reconcilers/topology/cluster/
reconcile_state.go:387,698).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from capi_sysext import clouds, clusterapi
from capi_sysext.capi import content_name
from capi_sysext.catalog import Image, Version
from capi_sysext.classvars import (
    CONTROL_PLANE,
    CONTROL_PLANE_MACHINE,
    INFRASTRUCTURE,
    REPLACED,
    TARGETS,
    WORKER_CONFIG,
    WORKER_MACHINE,
    ClassParameters,
    ClassPatch,
    Expr,
)
from capi_sysext.clouds.base import KubeadmPatch
from capi_sysext.context import ClusterContext
from capi_sysext.errors import InputError, NotImplementedYet, Problem, RenderError
from capi_sysext.node import NodeContext, NodeRelease
from capi_sysext.render.clc import render_clc
from capi_sysext.writers.base import Output

if TYPE_CHECKING:
    from capi_sysext.catalog import Catalog
    from capi_sysext.generate import GenerateResult
    from capi_sysext.spec import ClusterSpec

SHA_VARIABLE = "sysextSHA256"
WORKER_CLASS = "default-worker"
# The CLC is rendered for this stand-in release; every place it shows up is where the
# template puts the topology's version, its minor (sysupdate's transfer file and pattern) and
# its hash. A user value that contains one is refused (_check_sentinels), so a replacement
# never lands in user text.
_SENTINEL_VERSION = Version(999, 998, 997)
_SENTINEL_MINOR = f"{_SENTINEL_VERSION.major}.{_SENTINEL_VERSION.minor}"
_SENTINEL_SHA = "5e" * 32
_VERSION_EXPR = {
    "control-plane": ".builtin.controlPlane.version",
    "worker": ".builtin.machineDeployment.version",
}
# The class's kubeadm templates per role, the JSON pointer of their KubeadmConfigSpec, and the
# Container Linux Config's below it.
_TEMPLATE_KINDS = {
    "control-plane": (clusterapi.CONTROLPLANE_GROUP, "KubeadmControlPlaneTemplate"),
    "worker": (clusterapi.BOOTSTRAP_GROUP, "KubeadmConfigTemplate"),
}
_SPEC_PATH = {
    role: "/" + "/".join(clusterapi.KUBEADM_SPECS[kind]) for role, kind in _TEMPLATE_KINDS.items()
}
_CLC_SUBPATH = "/" + "/".join(clusterapi.CLC_FIELD)


def allowed_versions(catalog: Catalog, image: Image) -> list[Image]:
    """The default upgrade range: every published patch of the chosen minor and of the next
    one, for the node arch (a topology may move to any of them without editing the class)."""
    minors = {
        (image.version.major, image.version.minor),
        (image.version.major, image.version.minor + 1),
    }
    published = catalog.images.get(image.arch, {})
    return [
        Image(v, image.arch, published[v])
        for v in sorted(published)
        if (v.major, v.minor) in minors
    ]


def _yaml_quoted(text: str) -> str:
    """The inside of a YAML double-quoted scalar: printable ASCII as is, the rest escaped, so no
    YAML reader folds a line break or rejects a non-printable character."""
    out = []
    for ch in text:
        code = ord(ch)
        if ch in '"\\':
            out.append("\\" + ch)
        elif 0x20 <= code < 0x7F:
            out.append(ch)
        elif code < 0x10000:
            out.append(f"\\u{code:04x}")
        else:
            out.append(f"\\U{code:08x}")
    return "".join(out)


def _go_literal(text: str) -> str:
    """Literal text for Go text/template: only `{{` opens an action. A trailing `{` is escaped
    too, or it would join the `{{` of the action that follows it."""
    escaped = text.replace("{{", '{{ "{{" }}')
    if escaped.endswith("{"):
        escaped = escaped[:-1] + '{{ "{" }}'
    return escaped


def _actions(role: str, pinned: bool) -> list[tuple[str, str]]:
    """Each stand-in and the template action that prints the topology's value for it, the whole
    version before the minor it starts with. The minor comes from sprig's `semver`, whose
    .Major/.Minor are the numbers (https://masterminds.github.io/sprig/semver.html; CAPI's
    template functions are sprig's hermetic ones: json_patch_generator.go:322). It parses with
    Masterminds/semver NewVersion, which takes the topology's leading `v`."""
    version = _VERSION_EXPR[role]
    parsed = f"(semver {version})"
    actions = [(str(_SENTINEL_VERSION), "{{ " + version + " }}")]
    if pinned:
        actions.append((_SENTINEL_SHA, "{{ index ." + SHA_VARIABLE + " " + version + " }}"))
    actions.append((_SENTINEL_MINOR, "{{ " + parsed + ".Major }}.{{ " + parsed + ".Minor }}"))
    return actions


def _substitute(text: str, values: list[tuple[str, str]], literal: Callable[[str], str]) -> str:
    """`text` with each stand-in replaced by its value (in the order given) and the rest passed
    through `literal`."""
    if not values:
        return literal(text)
    (token, value), rest = values[0], values[1:]
    return value.join(_substitute(chunk, rest, literal) for chunk in text.split(token))


def _template_text(clc: str, role: str, pinned: bool) -> str:
    quoted = _substitute(clc, _actions(role, pinned), lambda t: _go_literal(_yaml_quoted(t)))
    return '"' + quoted + '"'


def _sentinel_clc(spec: ClusterSpec[Any], release: Image, role: str) -> str:
    from capi_sysext.generate import node_config

    stand_in = Image(_SENTINEL_VERSION, release.arch, _SENTINEL_SHA if release.sha256 else None)
    node_release = NodeRelease(stand_in, spec.node.sysext_base_url)
    ctx = NodeContext(spec.node, node_release, role, spec.provider_settings)
    return render_clc(node_config(ctx, spec.provider))


def _check_sentinels(real_clc: str, sentinel_clc: str, release: Image, role: str) -> None:
    """The stand-ins must come only from the release, and every version-dependent text must be
    one of them: the stand-in CLC with the release's values put back is the real one."""
    if any(token in real_clc for token in (_SENTINEL_MINOR, _SENTINEL_SHA)):
        raise InputError(
            [
                Problem(
                    f"{role} node config: a value contains {_SENTINEL_MINOR} or the "
                    "stand-in hash capi-sysext reserves for --format clusterclass",
                    "change that value or use --format cluster",
                )
            ]
        )
    v = release.version
    real_values = [(str(_SENTINEL_VERSION), str(v))]
    if release.sha256:
        real_values.append((_SENTINEL_SHA, release.sha256))
    real_values.append((_SENTINEL_MINOR, f"{v.major}.{v.minor}"))
    if _substitute(sentinel_clc, real_values, lambda t: t) != real_clc:
        raise NotImplementedYet(
            [
                Problem(
                    f"--format clusterclass: the {role} node config names the Kubernetes "
                    "version in a form the class does not template yet",
                    "use --format cluster",
                )
            ]
        )


def _pointer(tokens: tuple[str | int, ...]) -> str:
    """JSON pointer text for path tokens (RFC 6901 escapes `~` and `/`)."""
    return "".join("/" + str(t).replace("~", "~0").replace("/", "~1") for t in tokens)


def _json_patches(prefix: str, patches: tuple[KubeadmPatch, ...]) -> list[dict[str, Any]]:
    return [
        {"op": p.op, "path": prefix + _pointer(p.path), "valueFrom": {"template": p.template}}
        for p in patches
    ]


def _clc_of(kubeadm_spec: dict[str, Any]) -> str:
    clc: Any = kubeadm_spec
    for key in clusterapi.CLC_FIELD:
        clc = clc[key]
    return str(clc)


def _template_doc(
    doc: dict[str, Any], kind: str, name: str, body: dict[str, Any]
) -> dict[str, Any]:
    return {
        "apiVersion": doc["apiVersion"],
        "kind": kind,
        "metadata": {"name": name, "namespace": doc["metadata"]["namespace"]},
        "spec": {"template": body},
    }


def _health_checks(result: GenerateResult, v2: bool) -> dict[str, dict[str, Any]]:
    """MachineHealthChecks become the class's health-check fields (the topology controller then
    creates them per cluster with the right selectors); keyed by 'control-plane' / 'worker'."""
    out: dict[str, dict[str, Any]] = {}
    for _, docs in result.parts.features:
        for doc in docs:
            if doc["kind"] != "MachineHealthCheck":
                continue
            labels = doc["spec"]["selector"]["matchLabels"]
            role = "control-plane" if clusterapi.CONTROL_PLANE_NAME_LABEL in labels else "worker"
            fields = {k: v for k, v in doc["spec"].items() if k not in ("clusterName", "selector")}
            out[role] = fields
    return out


def class_parameters(result: GenerateResult) -> ClassParameters:
    """The provider's per-cluster variables and patches for this cluster (clouds/base.py)."""
    spec = result.spec
    if spec is None:
        raise NotImplementedYet("--format clusterclass needs the generate inputs")
    release = NodeRelease(result.release, spec.node.sysext_base_url)
    ctx = ClusterContext(spec, clusterapi.Shape(spec.capi_api), release, {})
    return clouds.get(spec.provider).class_parameters(ctx)


def _tokens(path: str) -> list[str]:
    """JSON pointer text -> its tokens (the inverse of _pointer)."""
    return [k.replace("~1", "/").replace("~0", "~") for k in path.lstrip("/").split("/")]


def _neutralize(doc: dict[str, Any], patch: ClassPatch) -> str:
    """Take this cluster's value out of a class template at the patch's path (a placeholder
    where the CRD requires the field, else nothing); the JSON patch op that puts it back."""
    keys = _tokens(patch.path)
    node: Any = doc
    for key in keys[:-1]:
        node = node[int(key)] if isinstance(node, list) else node[key]
    last: Any = int(keys[-1]) if isinstance(node, list) else keys[-1]
    if isinstance(node, dict) and last not in node:
        raise RenderError(f"class patch {patch.path}: no such field in the {patch.target} template")
    if patch.placeholder is None:
        del node[last]
        return "add"
    node[last] = patch.placeholder
    return "replace"


def _value_template(pieces: tuple[str | Expr, ...]) -> str:
    """valueFrom.template for a string: one YAML double-quoted scalar (as _template_text). An
    Expr's value goes in unquoted, so each names a builtin or a variable whose schema pattern
    admits no quote, backslash or brace (tests/test_clusterclass.py checks)."""
    body = "".join(
        "{{ " + p.path + " }}" if isinstance(p, Expr) else _go_literal(_yaml_quoted(p))
        for p in pieces
    )
    return '"' + body + '"'


class ClusterClassWriter:
    name = "clusterclass"

    def write(self, result: GenerateResult) -> Output:
        spec, catalog = result.spec, result.catalog
        if spec is None or catalog is None:
            raise NotImplementedYet("--format clusterclass needs the generate inputs")
        parts = result.parts
        pinned = result.release.sha256 is not None

        templated: dict[str, str] = {}
        real = {
            "control-plane": _clc_of(parts.control_plane["spec"]["kubeadmConfigSpec"]),
            "worker": _clc_of(parts.workers[0].config_template["spec"]["template"]["spec"]),
        }
        for role, real_clc in real.items():
            sentinel = _sentinel_clc(spec, result.release, role)
            _check_sentinels(real_clc, sentinel, result.release, role)
            templated[role] = _template_text(sentinel, role, pinned)

        allowed = allowed_versions(catalog, result.release)
        if pinned:
            allowed = [i for i in allowed if i.sha256]
        params = class_parameters(result)
        build = _ClassBuild(result, templated, allowed, params)
        # Named after its content (as the machine templates, capi.content_name): clusters of one
        # flavour share the class, and a fleet writes it once; clusterClass.name overrides.
        class_name = spec.class_name or content_name(
            f"sysext-{spec.provider}", build.documents(_NEUTRAL_NAME)
        )
        shared = tuple(build.documents(class_name))
        own = [topology_cluster(result, spec, class_name, params), *_addons(result)]
        header = (
            f"ClusterClass {class_name}: spec.topology.version may be any of "
            + ", ".join(str(i.version) for i in allowed),
        )
        return Output(own=own, shared=shared, header=header)


_NEUTRAL_NAME = "class"
# matchResources per patch target (CAPI's selector: controlPlane matches the control plane's
# template and its machineInfrastructure template; machineDeploymentClass a worker class's
# bootstrap and infrastructure templates; cluster-api core/reconcilers/topology/cluster/patches/
# inline/json_patch_generator.go:127-226 at ae7ff04).
_MATCH: dict[str, dict[str, Any]] = {
    INFRASTRUCTURE: {"infrastructureCluster": True},
    CONTROL_PLANE_MACHINE: {"controlPlane": True},
    CONTROL_PLANE: {"controlPlane": True},
    WORKER_MACHINE: {"machineDeploymentClass": {"names": [WORKER_CLASS]}},
    WORKER_CONFIG: {"machineDeploymentClass": {"names": [WORKER_CLASS]}},
}


class _ClassBuild:
    """The class and its templates for any class name: built once under a neutral name to hash
    the content, then under the real one."""

    def __init__(
        self,
        result: GenerateResult,
        templated: dict[str, str],
        allowed: list[Image],
        params: ClassParameters,
    ) -> None:
        self.result, self.templated, self.allowed, self.params = result, templated, allowed, params

    def documents(self, class_name: str) -> list[dict[str, Any]]:
        result, params = self.result, self.params
        spec, parts = result.spec, result.parts
        assert spec is not None
        shape = clusterapi.Shape(spec.capi_api)
        v2 = shape.v2
        ns = spec.namespace
        # The object the Cluster's infrastructureRef names becomes the class's template; the
        # rest (e.g. CAPZ's AzureClusterIdentity, which that template names) is shared with the
        # class as is, as CAPZ's ClusterClass flavour ships the identity with the class
        # (templates/flavors/clusterclass/kustomization.yaml:11).
        infra_ref = parts.cluster["spec"]["infrastructureRef"]
        (infra_cluster,) = [
            d
            for d in parts.infrastructure
            if (d["kind"], d["metadata"]["name"]) == (infra_ref["kind"], infra_ref["name"])
        ]
        infra_extras = [d for d in parts.infrastructure if d is not infra_cluster]
        infra_spec = copy.deepcopy(infra_cluster["spec"])
        provider = clouds.get(spec.provider)
        infra_tpl = _template_doc(
            infra_cluster, f"{infra_cluster['kind']}Template", class_name, {"spec": infra_spec}
        )
        cp_tpl = {
            **copy.deepcopy(parts.control_plane_machine),
            "metadata": {"name": f"{class_name}-control-plane", "namespace": ns},
        }
        worker = parts.workers[0]
        md_tpl = {
            **copy.deepcopy(worker.machine_template),
            "metadata": {"name": f"{class_name}-worker", "namespace": ns},
        }
        kcp = parts.control_plane
        kcp_tpl = _template_doc(
            kcp,
            "KubeadmControlPlaneTemplate",
            f"{class_name}-control-plane",
            {"spec": {"kubeadmConfigSpec": copy.deepcopy(kcp["spec"]["kubeadmConfigSpec"])}},
        )
        kct_tpl = {
            **copy.deepcopy(worker.config_template),
            "metadata": {"name": f"{class_name}-worker", "namespace": ns},
        }
        by_target = {
            INFRASTRUCTURE: infra_tpl,
            CONTROL_PLANE_MACHINE: cp_tpl,
            WORKER_MACHINE: md_tpl,
            CONTROL_PLANE: kcp_tpl,
            WORKER_CONFIG: kct_tpl,
        }
        value_patches: dict[str, list[dict[str, Any]]] = {}
        for p in params.patches:
            op = _neutralize(by_target[p.target], p)
            value_from: dict[str, str] = (
                {"variable": p.variable}
                if p.variable
                else {"template": _value_template(p.template)}
            )
            value_patches.setdefault(p.target, []).append(
                {"op": op, "path": p.path, "valueFrom": value_from}
            )

        def ref(doc: dict[str, Any]) -> dict[str, str]:
            if v2:
                return {
                    "apiVersion": doc["apiVersion"],
                    "kind": doc["kind"],
                    "name": doc["metadata"]["name"],
                }
            return {
                "apiVersion": doc["apiVersion"],
                "kind": doc["kind"],
                "name": doc["metadata"]["name"],
                "namespace": ns,
            }

        key = "templateRef" if v2 else "ref"
        checks = _health_checks(result, v2)
        control_plane: dict[str, Any] = {
            key: ref(kcp_tpl),
            "machineInfrastructure": {key: ref(cp_tpl)},
        }
        md_class: dict[str, Any] = {"class": WORKER_CLASS}
        if v2:
            md_class["bootstrap"] = {"templateRef": ref(kct_tpl)}
            md_class["infrastructure"] = {"templateRef": ref(md_tpl)}
        else:
            md_class["template"] = {
                "bootstrap": {"ref": ref(kct_tpl)},
                "infrastructure": {"ref": ref(md_tpl)},
            }
        hc_key = "healthCheck" if v2 else "machineHealthCheck"
        if "control-plane" in checks:
            control_plane[hc_key] = checks["control-plane"]
        if "worker" in checks:
            md_class[hc_key] = checks["worker"]

        variables: list[dict[str, Any]] = []
        if result.release.sha256 is not None:
            schema = {
                "type": "object",
                "description": "sha256 of each allowed Kubernetes sysext image, by version",
                "additionalProperties": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
                "default": {str(i.version): i.sha256 for i in self.allowed},
            }
            variables.append(
                {"name": SHA_VARIABLE, "required": False, "schema": {"openAPIV3Schema": schema}}
            )
        variables += [
            {"name": v.name, "required": v.required, "schema": {"openAPIV3Schema": dict(v.schema)}}
            for v in params.variables
        ]

        kubeadm_specs = {
            "control-plane": kcp_tpl["spec"]["template"]["spec"]["kubeadmConfigSpec"],
            "worker": kct_tpl["spec"]["template"]["spec"],
        }

        kubeadm_patches = {
            role: provider.class_patches(role, kubeadm_spec)
            for role, kubeadm_spec in kubeadm_specs.items()
        }
        for role, patches in kubeadm_patches.items():
            for kp in patches:
                # The patch always sets it: the class keeps no one cluster's value (the name of
                # a template of --format cluster), so every cluster's class is the same.
                node: Any = kubeadm_specs[role]
                for token in kp.path[:-1]:
                    node = node[token]
                node[kp.path[-1]] = REPLACED

        def patch(role: str, doc: dict[str, Any], match: dict[str, Any]) -> dict[str, Any]:
            json_patches = [
                {
                    "op": "replace",
                    "path": _SPEC_PATH[role] + _CLC_SUBPATH,
                    "valueFrom": {"template": self.templated[role]},
                }
            ]
            json_patches += _json_patches(_SPEC_PATH[role], kubeadm_patches[role])
            return {
                "name": f"sysext-{role}",
                "description": f"{role} nodes boot the sysext of the topology's version",
                "definitions": [
                    {
                        "selector": {
                            "apiVersion": doc["apiVersion"],
                            "kind": doc["kind"],
                            "matchResources": match,
                        },
                        "jsonPatches": json_patches,
                    }
                ],
            }

        cc_spec: dict[str, Any] = {
            "infrastructure": {key: ref(infra_tpl)},
            "controlPlane": control_plane,
            "workers": {"machineDeployments": [md_class]},
            "kubernetesVersions": [str(i.version) for i in self.allowed],
        }
        if variables:
            cc_spec["variables"] = variables
        cc_spec["patches"] = [
            patch("control-plane", kcp_tpl, {"controlPlane": True}),
            patch("worker", kct_tpl, {"machineDeploymentClass": {"names": [WORKER_CLASS]}}),
            *(
                {
                    "name": f"cluster-values-{target}",
                    "description": f"this cluster's values in the {target} template",
                    "definitions": [
                        {
                            "selector": {
                                "apiVersion": by_target[target]["apiVersion"],
                                "kind": by_target[target]["kind"],
                                "matchResources": _MATCH[target],
                            },
                            "jsonPatches": value_patches[target],
                        }
                    ],
                }
                for target in TARGETS
                if target in value_patches
            ),
        ]
        cluster_class = {
            "apiVersion": shape.api(clusterapi.CAPI_GROUP),
            "kind": "ClusterClass",
            "metadata": {"name": class_name, "namespace": ns},
            "spec": cc_spec,
        }
        return [*infra_extras, infra_tpl, cp_tpl, md_tpl, kcp_tpl, kct_tpl, cluster_class]


def topology_only(result: GenerateResult, class_name: str) -> Output:
    """`generate --class NAME`: only the topology Cluster and its add-on selection, for a class
    that is already on the management cluster."""
    if result.spec is None:
        raise NotImplementedYet("--class needs the generate inputs")
    params = class_parameters(result)
    return Output(own=[topology_cluster(result, result.spec, class_name, params), *_addons(result)])


class TopologyWriter:
    """`generate --class NAME [--class-file FILE]`: the topology Cluster for an existing class,
    checked against that class when its file is given (writers/classfile.py)."""

    name = "topology"

    def __init__(
        self, class_name: str, cluster_class: Mapping[str, Any] | None = None, source: str = ""
    ) -> None:
        self.class_name, self.cluster_class, self.source = class_name, cluster_class, source

    def write(self, result: GenerateResult) -> Output:
        out = topology_only(result, self.class_name)
        if self.cluster_class is not None:
            from capi_sysext.writers.classfile import class_problems

            (cluster,) = [d for d in out.own if d["kind"] == "Cluster"]
            params = class_parameters(result)
            problems = class_problems(cluster, self.cluster_class, params, self.source)
            if problems:
                raise InputError(problems)
        return out


def topology_cluster(
    result: GenerateResult, spec: ClusterSpec[Any], class_name: str, params: ClassParameters
) -> dict[str, Any]:
    cluster = copy.deepcopy(result.parts.cluster)
    v2 = clusterapi.Shape(spec.capi_api).v2
    body = cluster["spec"]
    del body["controlPlaneRef"], body["infrastructureRef"]
    topology: dict[str, Any] = {"classRef": {"name": class_name}} if v2 else {"class": class_name}
    topology["version"] = str(result.release.version)
    topology["controlPlane"] = {"replicas": spec.control_plane_count}
    topology["workers"] = {
        "machineDeployments": [
            {"class": WORKER_CLASS, "name": "md-0", "replicas": spec.worker_count}
        ]
    }
    values = [{"name": v.name, "value": v.value} for v in params.variables if v.value is not None]
    if values:
        topology["variables"] = values
    body["topology"] = topology
    return cluster


def _addons(result: GenerateResult) -> list[dict[str, Any]]:
    """Add-ons keep selecting the Cluster by its labels; health checks moved into the class."""
    return [
        d for _, docs in result.parts.features for d in docs if d["kind"] != "MachineHealthCheck"
    ]


WRITER = ClusterClassWriter()
