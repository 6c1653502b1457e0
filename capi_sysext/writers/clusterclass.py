"""`--format clusterclass`: a ClusterClass with its templates (shared) and a topology Cluster (own).

The version a node boots comes from the topology: inline JSON patches replace each node config
(the CLC in `ignition.containerLinuxConfig.additionalConfig`) with a `valueFrom.template` that
names the sysext of `.builtin.controlPlane.version` / `.builtin.machineDeployment.version`, and
takes its sha256 from the class variable `sysextSHA256` (version -> hash). This is the approach
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
from typing import TYPE_CHECKING, Any

from capi_sysext import clouds, clusterapi
from capi_sysext.catalog import Image, Version
from capi_sysext.errors import InputError, NotImplementedYet, Problem
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
# template puts the topology's version (and its hash). A user value that contains one is
# refused (_check_sentinels), so a replacement never lands in user text.
_SENTINEL_VERSION = Version(999, 998, 997)
_SENTINEL_SHA = "5e" * 32
_VERSION_EXPR = {
    "control-plane": ".builtin.controlPlane.version",
    "worker": ".builtin.machineDeployment.version",
}
# The class's kubeadm templates per role, and the JSON patch path of their Container Linux Config.
_TEMPLATE_KINDS = {
    "control-plane": (clusterapi.CONTROLPLANE_GROUP, "KubeadmControlPlaneTemplate"),
    "worker": (clusterapi.BOOTSTRAP_GROUP, "KubeadmConfigTemplate"),
}
_CLC_PATH = {
    role: "/" + "/".join((*clusterapi.KUBEADM_SPECS[kind], *clusterapi.CLC_FIELD))
    for role, kind in _TEMPLATE_KINDS.items()
}


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


def _template_text(clc: str, role: str, pinned: bool) -> str:
    version = "{{ " + _VERSION_EXPR[role] + " }}"
    sha = "{{ index ." + SHA_VARIABLE + " " + _VERSION_EXPR[role] + " }}"
    pieces = []
    for i, chunk in enumerate(clc.split(str(_SENTINEL_VERSION))):
        if i:
            pieces.append(version)
        sha_chunks = chunk.split(_SENTINEL_SHA) if pinned else [chunk]
        for j, literal in enumerate(sha_chunks):
            if j:
                pieces.append(sha)
            pieces.append(_go_literal(_yaml_quoted(literal)))
    return '"' + "".join(pieces) + '"'


def _sentinel_clc(spec: ClusterSpec[Any], release: Image, role: str) -> str:
    from capi_sysext.generate import node_config

    stand_in = Image(_SENTINEL_VERSION, release.arch, _SENTINEL_SHA if release.sha256 else None)
    node_release = NodeRelease(stand_in, spec.node.sysext_base_url)
    ctx = NodeContext(spec.node, node_release, role, spec.provider_settings)
    return render_clc(node_config(ctx, spec.provider))


def _check_sentinels(real_clc: str, templated: str, role: str) -> None:
    """The stand-ins must come only from the release, and every version-dependent text must be
    one of them (a minor alone, as the sysupdate transfer has, is not templated yet)."""
    sentinel_minor = f"{_SENTINEL_VERSION.major}.{_SENTINEL_VERSION.minor}"
    if str(_SENTINEL_VERSION) in real_clc or _SENTINEL_SHA in real_clc:
        raise InputError(
            [
                Problem(
                    f"{role} node config: a value contains {_SENTINEL_VERSION} or the "
                    "stand-in hash capi-sysext reserves for --format clusterclass",
                    "change that value or use --format cluster",
                )
            ]
        )
    rest = templated.replace(str(_SENTINEL_VERSION), "").replace(_SENTINEL_SHA, "")
    if sentinel_minor in rest:
        raise NotImplementedYet(
            [
                Problem(
                    "--format clusterclass: a node config that names the Kubernetes minor "
                    "(sysupdate's transfer file) is not templated yet",
                    "drop --sysupdate / updates.* or use --format cluster",
                )
            ]
        )


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


class ClusterClassWriter:
    name = "clusterclass"

    def write(self, result: GenerateResult) -> Output:
        spec, catalog = result.spec, result.catalog
        if spec is None or catalog is None:
            raise NotImplementedYet("--format clusterclass needs the generate inputs")
        blocker = clouds.get(spec.provider).clusterclass_unsupported
        if blocker:
            others = [n for n in clouds.NAMES if not clouds.get(n).clusterclass_unsupported]
            raise NotImplementedYet(
                [
                    Problem(
                        f"--format clusterclass for --provider {spec.provider} is not built yet "
                        f"({blocker})",
                        f"use --provider {' or '.join(others)}, or --format cluster",
                    )
                ]
            )
        parts = result.parts
        shape = clusterapi.Shape(spec.capi_api)
        v2 = shape.v2
        pinned = result.release.sha256 is not None
        class_name = f"{spec.name}-sysext"
        ns = spec.namespace

        templated: dict[str, str] = {}
        real = {
            "control-plane": _clc_of(parts.control_plane["spec"]["kubeadmConfigSpec"]),
            "worker": _clc_of(parts.workers[0].config_template["spec"]["template"]["spec"]),
        }
        for role, real_clc in real.items():
            sentinel = _sentinel_clc(spec, result.release, role)
            _check_sentinels(real_clc, sentinel, role)
            templated[role] = _template_text(sentinel, role, pinned)

        allowed = allowed_versions(catalog, result.release)
        if pinned:
            allowed = [i for i in allowed if i.sha256]

        infra_cluster = parts.infrastructure[0]
        if len(parts.infrastructure) > 1:
            raise NotImplementedYet(
                [
                    Problem(
                        "--format clusterclass: infrastructure objects besides the cluster's "
                        "are not built yet",
                        "use --format cluster",
                    )
                ]
            )
        infra_tpl = _template_doc(
            infra_cluster,
            f"{infra_cluster['kind']}Template",
            class_name,
            {"spec": copy.deepcopy(infra_cluster["spec"])},
        )
        cp_machine = parts.control_plane_machine
        cp_tpl = {
            **cp_machine,
            "metadata": {"name": f"{class_name}-control-plane", "namespace": ns},
        }
        worker = parts.workers[0]
        md_tpl = {
            **worker.machine_template,
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
            **worker.config_template,
            "metadata": {"name": f"{class_name}-worker", "namespace": ns},
        }

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
        if pinned:
            schema = {
                "type": "object",
                "description": "sha256 of each allowed Kubernetes sysext image, by version",
                "additionalProperties": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
                "default": {str(i.version): i.sha256 for i in allowed},
            }
            variables.append(
                {"name": SHA_VARIABLE, "required": False, "schema": {"openAPIV3Schema": schema}}
            )

        def patch(role: str, doc: dict[str, Any], match: dict[str, Any]) -> dict[str, Any]:
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
                        "jsonPatches": [
                            {
                                "op": "replace",
                                "path": _CLC_PATH[role],
                                "valueFrom": {"template": templated[role]},
                            }
                        ],
                    }
                ],
            }

        cc_spec: dict[str, Any] = {
            "infrastructure": {key: ref(infra_tpl)},
            "controlPlane": control_plane,
            "workers": {"machineDeployments": [md_class]},
            "kubernetesVersions": [str(i.version) for i in allowed],
        }
        if variables:
            cc_spec["variables"] = variables
        cc_spec["patches"] = [
            patch("control-plane", kcp_tpl, {"controlPlane": True}),
            patch("worker", kct_tpl, {"machineDeploymentClass": {"names": [WORKER_CLASS]}}),
        ]
        cluster_class = {
            "apiVersion": shape.api(clusterapi.CAPI_GROUP),
            "kind": "ClusterClass",
            "metadata": {"name": class_name, "namespace": ns},
            "spec": cc_spec,
        }
        shared = (infra_tpl, cp_tpl, md_tpl, kcp_tpl, kct_tpl, cluster_class)
        own = [topology_cluster(result, spec, class_name), *_addons(result)]
        header = (
            f"ClusterClass {class_name}: spec.topology.version may be any of "
            + ", ".join(str(i.version) for i in allowed),
        )
        return Output(own=own, shared=shared, header=header)


def topology_only(result: GenerateResult, class_name: str) -> Output:
    """`generate --class NAME`: only the topology Cluster and its add-on selection, for a class
    that is already on the management cluster."""
    if result.spec is None:
        raise NotImplementedYet("--class needs the generate inputs")
    return Output(own=[topology_cluster(result, result.spec, class_name), *_addons(result)])


def topology_cluster(
    result: GenerateResult, spec: ClusterSpec[Any], class_name: str
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
    body["topology"] = topology
    return cluster


def _addons(result: GenerateResult) -> list[dict[str, Any]]:
    """Add-ons keep selecting the Cluster by its labels; health checks moved into the class."""
    return [
        d for _, docs in result.parts.features for d in docs if d["kind"] != "MachineHealthCheck"
    ]


WRITER = ClusterClassWriter()
