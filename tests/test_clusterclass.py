"""`--format clusterclass`: the class's patches, applied the way the topology controller applies
them, give every allowed version the node config `--format cluster` gives that version, and
those node configs boot in the real engines.

The topology controller renders each inline patch's `valueFrom.template` over the variables
(builtins nested under `builtin`), parses the output as YAML and applies the JSON patches to the
templates its selector matches (cluster-api core/reconcilers/topology/cluster/patches/inline/
json_patch_generator.go:57-120, 252-350). tests/gotemplate.py evaluates the template subset.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import enginelib
import pytest
import yaml
from gotemplate import evaluate
from hypothesis import given
from hypothesis import strategies as st

from capi_sysext import clouds, yamlio
from capi_sysext.catalog import Catalog, Image, Version
from capi_sysext.errors import NotImplementedYet
from capi_sysext.generate import generate
from capi_sysext.inputs import RawInputs
from capi_sysext.plugins import registered
from capi_sysext.render.clc_parse import parse_clc
from capi_sysext.render.ignition import render_ignition
from capi_sysext.specbuild import build_cluster_spec
from capi_sysext.writers import clusterclass

REPO = Path(__file__).resolve().parent.parent
# Two published patches of the chosen minor and the next minor.
VERSIONS = ("v1.33.12", "v1.33.13", "v1.34.9")
CHOSEN = "v1.33.13"


def fake_sha(version: str, arch: str) -> str:
    import hashlib

    return hashlib.sha256(f"{version}/{arch}".encode()).hexdigest()


def catalog(arch: str, shas: dict[str, str] | None = None) -> Catalog:
    images = [
        Image(Version.parse(v), arch, (shas or {}).get(v) or fake_sha(v, arch)) for v in VERSIONS
    ]
    return Catalog.from_images(images, source="test")


def spec_for(
    provider: str, version: str, capi_api: str, arch: str, base_url: str, sysupdate: bool = False
) -> Any:
    raw = RawInputs(
        flags={
            "provider": provider,
            "kubernetesVersion": version,
            "arch": arch,
            "sysext.baseUrl": base_url,
            "capiApi": capi_api,
            "sysupdate.enabled": sysupdate,
        },
        values_files=[REPO / "examples" / f"{provider}.yaml"],
    )
    return build_cluster_spec(raw, yamlio.load_file)


def _pointer_set(doc: dict[str, Any], path: str, value: Any, op: str) -> None:
    tokens = [k.replace("~1", "/").replace("~0", "~") for k in path.lstrip("/").split("/")]
    keys: list[str | int] = [int(k) if k.isdigit() else k for k in tokens]
    node: Any = doc
    for key in keys[:-1]:
        node = node[int(key)] if isinstance(node, list) else node[key]
    assert op in ("replace", "add")
    last: Any = int(keys[-1]) if isinstance(node, list) else keys[-1]
    if op == "replace":
        last = keys[-1]
        present = last < len(node) if isinstance(last, int) else last in node
        assert present, f"replace of a missing path {path}"
    node[keys[-1]] = value


def _variable(values: dict[str, Any], name: str) -> Any:
    # valueFrom.variable: a top-level name, or a dotted path into a builtin.
    value: Any = values
    for key in name.split("."):
        assert isinstance(value, dict) and key in value, f"variable {name} is not set"
        value = value[key]
    return value


def _template_roles(cc: dict[str, Any]) -> dict[str, tuple[str, str]]:
    """role -> (kind, name) of the template the class references for it."""
    spec = cc["spec"]
    key = "templateRef" if "templateRef" in spec["infrastructure"] else "ref"
    (md,) = spec["workers"]["machineDeployments"]
    md_refs = md if key == "templateRef" else md["template"]
    roles = {
        "infrastructure": spec["infrastructure"][key],
        "control-plane": spec["controlPlane"][key],
        "control-plane-machine": spec["controlPlane"]["machineInfrastructure"][key],
        "worker-machine": md_refs["infrastructure"][key],
        "worker-config": md_refs["bootstrap"][key],
    }
    return {role: (ref["kind"], ref["name"]) for role, ref in roles.items()}


def _selected(selector: dict[str, Any], role: str) -> bool:
    """CAPI's matchResources (json_patch_generator.go:127-226): infrastructureCluster the
    infrastructure cluster template; controlPlane the control plane's template and its
    machineInfrastructure template; machineDeploymentClass a worker class's templates."""
    match = selector["matchResources"]
    if role == "infrastructure":
        return bool(match.get("infrastructureCluster"))
    if role.startswith("control-plane"):
        return bool(match.get("controlPlane"))
    names = match.get("machineDeploymentClass", {}).get("names", [])
    return clusterclass.WORKER_CLASS in names


# The names the topology controller gives its clones of the class's machine templates.
CLONED_CP_TEMPLATE = "demo-hx7kq"
CLONED_MD_TEMPLATE = "demo-md-0-zt4wd"
CLONED = (CLONED_CP_TEMPLATE, CLONED_MD_TEMPLATE)


def topology_apply(
    shared: tuple[dict[str, Any], ...] | list[dict[str, Any]],
    version: str,
    variables: dict[str, Any] | None = None,
    cluster: dict[str, Any] | None = None,
    cloned: tuple[str, str] = CLONED,
) -> dict[str, dict[str, Any]]:
    """Templates by role after the class's patches, for a topology at `version`: the class's
    defaults, then the topology Cluster's spec.topology.variables, then `variables`; `cloned`
    names the machine templates the topology controller cloned (builtins: cluster-api
    api/runtime/hooks/v1alpha1/topologymutation_variable_types.go)."""
    (cc,) = [d for d in shared if d["kind"] == "ClusterClass"]
    values = {
        v["name"]: v["schema"]["openAPIV3Schema"]["default"]
        for v in cc["spec"].get("variables", [])
        if "default" in v["schema"]["openAPIV3Schema"]
    }
    if cluster is not None:
        values.update(
            {v["name"]: v["value"] for v in cluster["spec"]["topology"].get("variables", [])}
        )
    values.update(variables or {})
    name = cluster["metadata"]["name"] if cluster else "demo"
    values["builtin"] = {
        "cluster": {"name": name},
        "controlPlane": {
            "version": version,
            "machineTemplate": {"infrastructureRef": {"name": cloned[0]}},
        },
        "machineDeployment": {
            "version": version,
            "class": clusterclass.WORKER_CLASS,
            "infrastructureRef": {"name": cloned[1]},
        },
    }
    for v in cc["spec"].get("variables", []):
        if v["required"]:
            assert v["name"] in values, f"required variable {v['name']} is not set"
    by_id = {(d["kind"], d["metadata"]["name"]): d for d in shared if d["kind"] != "ClusterClass"}
    out = {role: copy.deepcopy(by_id[ref]) for role, ref in _template_roles(cc).items()}
    for patch in cc["spec"]["patches"]:
        for definition in patch["definitions"]:
            sel = definition["selector"]
            targets = [
                role
                for role, d in out.items()
                if (d["apiVersion"], d["kind"]) == (sel["apiVersion"], sel["kind"])
                and _selected(sel, role)
            ]
            assert targets, f"patch {patch['name']} selects nothing"
            for role in targets:
                for jp in definition["jsonPatches"]:
                    source = jp["valueFrom"]
                    if "variable" in source:
                        value = copy.deepcopy(_variable(values, source["variable"]))
                    else:
                        value = yaml.safe_load(evaluate(source["template"], values))
                    _pointer_set(out[role], jp["path"], value, jp["op"])
    return out


def topology_of(out: Any) -> dict[str, Any]:
    (cluster,) = [d for d in out.own if d["kind"] == "Cluster"]
    return dict(cluster)


def cluster_mode_specs(docs: list[dict[str, Any]]) -> dict[str, Any]:
    """What each class template must equal after the patches: the `--format cluster` objects'
    specs by role (the machine templates told apart by who references them)."""
    by_kind: dict[str, list[dict[str, Any]]] = {}
    for d in docs:
        by_kind.setdefault(d["kind"], []).append(d)
    (kcp,) = by_kind["KubeadmControlPlane"]
    (md,) = by_kind["MachineDeployment"]
    (kct,) = by_kind["KubeadmConfigTemplate"]
    (cluster,) = by_kind["Cluster"]
    infra_kind = cluster["spec"]["infrastructureRef"]["kind"]
    (infra,) = by_kind[infra_kind]
    kcp_spec = kcp["spec"]
    cp_ref = (kcp_spec.get("machineTemplate", {}).get("spec") or kcp_spec["machineTemplate"])[
        "infrastructureRef"
    ]["name"]
    md_ref = md["spec"]["template"]["spec"]["infrastructureRef"]["name"]
    machines = {d["metadata"]["name"]: d for d in by_kind[cluster_infra_machine_kind(docs)]}
    return {
        "infrastructure": infra["spec"],
        "control-plane-machine": {**machines[cp_ref]["spec"]["template"], "_name": cp_ref},
        "worker-machine": {**machines[md_ref]["spec"]["template"], "_name": md_ref},
        "control-plane": {"kubeadmConfigSpec": kcp_spec["kubeadmConfigSpec"]},
        "worker-config": kct["spec"]["template"],
    }


def _without_names(specs: dict[str, Any]) -> dict[str, Any]:
    return {role: {k: v for k, v in d.items() if k != "_name"} for role, d in specs.items()}


def cluster_infra_machine_kind(docs: list[dict[str, Any]]) -> str:
    (kind,) = {d["kind"] for d in docs if d["kind"].endswith("MachineTemplate")}
    return kind


def class_specs(templates: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The class templates' bodies, comparable with cluster_mode_specs."""
    # Cluster and control plane templates hold the object's spec; the others a whole template.
    inner = ("infrastructure", "control-plane")
    return {
        role: d["spec"]["template"]["spec"] if role in inner else d["spec"]["template"]
        for role, d in templates.items()
    }


def clc_by_role(templates_or_docs: dict[str, dict[str, Any]]) -> dict[str, str]:
    if "worker-config" in templates_or_docs:  # templates by role (topology_apply)
        templates_or_docs = {
            "KubeadmControlPlaneTemplate": templates_or_docs["control-plane"],
            "KubeadmConfigTemplate": templates_or_docs["worker-config"],
        }
    cp = templates_or_docs.get("KubeadmControlPlaneTemplate")
    cp_spec = (
        cp["spec"]["template"]["spec"] if cp else templates_or_docs["KubeadmControlPlane"]["spec"]
    )
    kct = templates_or_docs["KubeadmConfigTemplate"]["spec"]["template"]["spec"]
    return {
        "control-plane": cp_spec["kubeadmConfigSpec"]["ignition"]["containerLinuxConfig"][
            "additionalConfig"
        ],
        "worker": kct["ignition"]["containerLinuxConfig"]["additionalConfig"],
    }


def write_class(
    provider: str, capi_api: str, arch: str, base_url: str, cat: Catalog, sysupdate: bool = False
) -> Any:
    result = generate(spec_for(provider, CHOSEN, capi_api, arch, base_url, sysupdate), cat)
    return clusterclass.WRITER.write(result)


@pytest.mark.parametrize("sysupdate", [False, True])
@pytest.mark.parametrize("capi_api", ["v1beta2", "v1beta1"])
@pytest.mark.parametrize("provider", clouds.NAMES)
@pytest.mark.parametrize("version", VERSIONS)
def test_patched_templates_carry_the_cluster_mode_node_config(
    provider: str, capi_api: str, version: str, sysupdate: bool
) -> None:
    arch, base = "x86-64", "https://mirror.example.org/extensions"
    cat = catalog(arch)
    out = write_class(provider, capi_api, arch, base, cat, sysupdate)
    docs = generate(spec_for(provider, version, capi_api, arch, base, sysupdate), cat).documents
    expected = cluster_mode_specs(docs)
    # Cloned under the names cluster mode gives its machine templates (Azure's kubeadm files name
    # them), every template (node configs, infrastructure specs with the cluster's values)
    # equals its object of the same cluster generated the old way for that version.
    names = (expected["control-plane-machine"]["_name"], expected["worker-machine"]["_name"])
    templates = topology_apply(out.shared, version, cluster=topology_of(out), cloned=names)
    patched = clc_by_role(templates)
    assert class_specs(templates) == _without_names(expected)
    v = Version.parse(version)
    for clc in patched.values():
        model = parse_clc(clc)
        name = f"kubernetes-{version}-{arch}.raw"
        assert any(f.remote and f.remote.url == f"{base}/{name}" for f in model.files)
        assert fake_sha(version, arch) in clc
        others = [o for o in VERSIONS if o != version]
        assert not any(f"kubernetes-{o}-" in clc for o in others)
        transfers = [f for f in model.files if f.path.startswith("/etc/sysupdate.kubernetes.d/")]
        if sysupdate:
            # sysupdate stays inside the topology version's minor: its transfer and pattern.
            (transfer,) = transfers
            minor = f"v{v.major}.{v.minor}"
            assert transfer.path == f"/etc/sysupdate.kubernetes.d/kubernetes-{minor}.conf"
            assert f"MatchPattern=kubernetes-{minor}.@v-%a.raw" in (transfer.inline or "")
        else:
            assert transfers == []


def _files(kubeadm_spec: dict[str, Any]) -> list[dict[str, Any]]:
    files: list[dict[str, Any]] = kubeadm_spec["files"]
    return files


@pytest.mark.parametrize("capi_api", ["v1beta2", "v1beta1"])
def test_azure_class_names_the_azure_json_secret_of_the_cloned_template(capi_api: str) -> None:
    # CAPZ writes <machine template name>-azure-json; in a class the topology names the clone.
    arch, base = "x86-64", "https://mirror.example.org/extensions"
    cat = catalog(arch)
    out = write_class("azure", capi_api, arch, base, cat)
    patched = topology_apply(out.shared, CHOSEN, cluster=topology_of(out))
    cp = _files(patched["control-plane"]["spec"]["template"]["spec"]["kubeadmConfigSpec"])
    md = _files(patched["worker-config"]["spec"]["template"]["spec"])
    docs = {
        d["kind"]: d
        for d in generate(spec_for("azure", CHOSEN, capi_api, arch, base), cat).documents
    }
    cluster_cp = _files(docs["KubeadmControlPlane"]["spec"]["kubeadmConfigSpec"])
    cluster_md = _files(docs["KubeadmConfigTemplate"]["spec"]["template"]["spec"])
    for files, cluster_files, clone in (
        (cp, cluster_cp, CLONED_CP_TEMPLATE),
        (md, cluster_md, CLONED_MD_TEMPLATE),
    ):
        (azure_json,) = [f for f in files if f["path"] == "/etc/kubernetes/azure.json"]
        assert azure_json["contentFrom"]["secret"]["name"] == f"{clone}-azure-json"
        # Everything else is what --format cluster writes.
        azure_json["contentFrom"]["secret"]["name"] = "x"
        for f in cluster_files:
            if f["path"] == "/etc/kubernetes/azure.json":
                f["contentFrom"]["secret"]["name"] = "x"
        assert files == cluster_files
    # The AzureClusterTemplate, patched for cluster "demo", is the AzureCluster of cluster mode.
    azure_cluster = patched["infrastructure"]["spec"]["template"]["spec"]
    assert azure_cluster == docs["AzureCluster"]["spec"]
    assert azure_cluster["resourceGroup"] == "demo"


def test_azure_fixed_resource_group_and_vnet_are_class_variables() -> None:
    raw = spec_for("azure", CHOSEN, "v1beta2", "x86-64", "https://m.example/x")
    s = raw.provider_settings._replace(resource_group="shared-rg", vnet_name="shared-vnet")
    spec = raw._replace(provider_settings=s)
    result = generate(spec, catalog("x86-64"))
    out = clusterclass.WRITER.write(result)
    cluster = topology_of(out)
    values = {v["name"]: v["value"] for v in cluster["spec"]["topology"]["variables"]}
    assert values["resourceGroup"] == "shared-rg" and values["vnetName"] == "shared-vnet"
    patched = topology_apply(out.shared, CHOSEN, cluster=cluster)
    expected = cluster_mode_specs(result.documents)["infrastructure"]
    assert patched["infrastructure"]["spec"]["template"]["spec"] == expected
    # Another cluster of the same flavour in another resource group shares the class.
    other = spec._replace(
        name="other", provider_settings=s._replace(resource_group="rg-2", vnet_name="vnet-2")
    )
    again = clusterclass.WRITER.write(generate(other, catalog("x86-64")))
    assert again.shared == out.shared


def test_class_allows_every_patch_of_the_minor_and_the_next() -> None:
    out = write_class("gcp", "v1beta2", "x86-64", "https://m.example/x", catalog("x86-64"))
    (cc,) = [d for d in out.shared if d["kind"] == "ClusterClass"]
    assert cc["spec"]["kubernetesVersions"] == list(VERSIONS)
    (var,) = [v for v in cc["spec"]["variables"] if v["name"] == clusterclass.SHA_VARIABLE]
    assert var["schema"]["openAPIV3Schema"]["default"] == {
        v: fake_sha(v, "x86-64") for v in VERSIONS
    }
    (cluster,) = [d for d in out.own if d["kind"] == "Cluster"]
    assert cluster["spec"]["topology"]["version"] == CHOSEN
    assert cluster["spec"]["topology"]["classRef"] == {"name": cc["metadata"]["name"]}
    # Per-cluster objects never land in the shared set; health checks moved into the class.
    assert {d["kind"] for d in out.shared} >= {"ClusterClass", "GCPClusterTemplate"}
    assert "MachineHealthCheck" not in {d["kind"] for d in [*out.shared, *out.own]}
    assert "healthCheck" in cc["spec"]["controlPlane"]


def test_a_version_without_a_hash_fails_closed() -> None:
    # Not in the map: Go prints <no value>, which is no sha256: Ignition and the guard refuse it.
    out = write_class("aws", "v1beta2", "x86-64", "https://m.example/x", catalog("x86-64"))
    patched = clc_by_role(topology_apply(out.shared, "v1.35.0", cluster=topology_of(out)))
    assert all("<no value>" in clc for clc in patched.values())


def test_a_version_form_the_class_does_not_template_says_not_implemented(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Were a node config to print the version some other way (here: the patch number alone),
    # the stand-in CLC would not give back the real one: refused, never half-templated.
    real_render = clusterclass.render_clc

    def with_patch_number(config: Any) -> str:
        return real_render(config) + "# patch 997\n"

    monkeypatch.setattr(clusterclass, "render_clc", with_patch_number)
    cat = catalog("x86-64")
    result = generate(spec_for("gcp", CHOSEN, "v1beta2", "x86-64", "https://m.example/x"), cat)
    with pytest.raises(NotImplementedYet, match="does not template"):
        clusterclass.WRITER.write(result)


def test_a_value_holding_the_stand_in_is_refused() -> None:
    from capi_sysext.errors import InputError

    with pytest.raises(InputError, match=r"999\.998"):
        clusterclass._check_sentinels(
            "x 999.998 y", "x", Image(Version(1, 33, 13), "x86-64", None), "worker"
        )


@given(st.text())
def test_template_text_round_trips_any_literal(text: str) -> None:
    # A `{{`, quotes, backslashes, line breaks or non-ASCII in a value stay literal text.
    for role in ("control-plane", "worker"):
        rendered = evaluate(clusterclass._template_text(text, role, pinned=True), {})
        assert yaml.safe_load(rendered) == text


def test_template_text_fills_version_minor_and_hash() -> None:
    v, minor = str(clusterclass._SENTINEL_VERSION), clusterclass._SENTINEL_MINOR
    text = f'{{{{x}}}} "k-{v}.raw" {clusterclass._SENTINEL_SHA} k-v{minor}.conf\n{{'
    tpl = clusterclass._template_text(text, "worker", pinned=True)
    data = {
        "builtin": {"machineDeployment": {"version": "v1.34.9"}},
        clusterclass.SHA_VARIABLE: {"v1.34.9": "ab" * 32},
    }
    expected = f'{{{{x}}}} "k-v1.34.9.raw" {"ab" * 32} k-v1.34.conf\n{{'
    assert yaml.safe_load(evaluate(tpl, data)) == expected


@pytest.mark.engine
@pytest.mark.parametrize("version", ["v1.33.12", "v1.34.9"])
def test_patched_node_config_boots_that_version(tmp_path: Path, version: str) -> None:
    enginelib.require_engines()
    arch = enginelib.host_sysext_arch()
    served = tmp_path / "served"
    shas = {
        v: enginelib.sha256_file(enginelib.build_sysext(served / "good", v, arch)) for v in VERSIONS
    }
    with enginelib.serve_directory(served) as server:
        base = server.url("good")
        out = write_class("gcp", "v1beta2", arch, base, catalog(arch, shas))
        patched = clc_by_role(topology_apply(out.shared, version, cluster=topology_of(out)))
        for role, clc in patched.items():
            assert shas[version] in clc, role
            root = enginelib.make_scratch_root(tmp_path / role)
            run = enginelib.run_ignition(render_ignition(parse_clc(clc)), root, timeout=40)
            assert run.ok, run.log
            image = root / "opt/extensions/kubernetes" / enginelib.sysext_file_name(version, arch)
            assert enginelib.sha256_file(image) == shas[version], role
            merge = enginelib.merge_sysext(root)
            assert merge.ok and merge.merged, merge.log
            assert merge.kubelet is not None and version in merge.kubelet, merge.log


# --- validate / apply understand the class ----------------------------------------------------

GOLDEN = Path(__file__).resolve().parent / "golden"


def _validate(text: str) -> list[str]:
    from crd_fixtures import store

    from capi_sysext.validate import validate_documents

    return validate_documents([("c.yaml", text)], store(), registered()).lines()


def _class_name(text: str) -> str:
    (cc,) = [d for d in yaml.safe_load_all(text) if d["kind"] == "ClusterClass"]
    name: str = cc["metadata"]["name"]
    return name


@pytest.mark.parametrize("capi_api", ["v1beta2", "v1beta1"])
def test_validate_checks_the_topology_class(capi_api: str) -> None:
    text = (GOLDEN / f"clusterclass-gcp-pinned-{capi_api}.out").read_text()
    assert _validate(text) == []
    name = _class_name(text)
    key = f"classRef:\n      name: {name}" if capi_api == "v1beta2" else f"class: {name}"
    assert key in text
    lines = _validate(text.replace(key, key.replace(name, "other")))
    assert len(lines) == 1 and "uses ClusterClass/other, which is not in the input" in lines[0]


def test_validate_checks_the_class_templates() -> None:
    text = (GOLDEN / "clusterclass-aws-pinned-v1beta2.out").read_text()
    docs = list(yaml.safe_load_all(text))
    for d in docs:
        if d["kind"] == "KubeadmConfigTemplate":
            d["metadata"]["name"] = "gone"
    broken = yamlio.dump_all(docs)
    lines = _validate(broken)
    assert any(
        "$.spec.workers.machineDeployments[0].bootstrap.templateRef: refers to "
        f"KubeadmConfigTemplate/{_class_name(text)}-worker, which is not in the input" in line
        for line in lines
    ), lines


def test_apply_orders_class_before_cluster_and_needs_the_topology_gate() -> None:
    from capi_sysext.apply import order_documents
    from capi_sysext.prerequisites import CAPI_CLUSTER_TOPOLOGY, requirements_for

    docs = list(yaml.safe_load_all((GOLDEN / "clusterclass-gcp-pinned-v1beta2.out").read_text()))
    kinds = [d["kind"] for d in order_documents(list(reversed(docs)))]
    assert kinds.index("ClusterClass") < kinds.index("Cluster")
    for template in ("GCPClusterTemplate", "KubeadmControlPlaneTemplate", "KubeadmConfigTemplate"):
        assert kinds.index(template) < kinds.index("ClusterClass")
    assert CAPI_CLUSTER_TOPOLOGY in requirements_for(docs, registered().providers)
    (cluster,) = [d for d in docs if d["kind"] == "Cluster"]
    assert requirements_for([cluster], registered().providers) == [CAPI_CLUSTER_TOPOLOGY]
    plain = list(yaml.safe_load_all((GOLDEN / "gcp-x86-64-v1beta2.out").read_text()))
    assert CAPI_CLUSTER_TOPOLOGY not in requirements_for(plain, registered().providers)


def _cli(*args: str) -> Any:
    from click.testing import CliRunner

    from capi_sysext.cli import cli
    from capi_sysext.cli import commands as _commands  # noqa: F401  (registers the commands)

    aws = ["--provider", "aws", "--values", str(REPO / "examples" / "aws.yaml"), "--offline"]
    return CliRunner().invoke(cli, ["generate", *aws, *args])


def _class_file(tmp_path: Path, edit: Any = None) -> tuple[Path, str]:
    result = _cli("--k8s", "1.33", "--format", "clusterclass", "--name", "src")
    assert result.exit_code == 0, result.output
    docs = list(yaml.safe_load_all(result.stdout))
    (cc,) = [d for d in docs if d["kind"] == "ClusterClass"]
    if edit is not None:
        edit(cc)
    path = tmp_path / "class.yaml"
    path.write_text(yamlio.dump_all(docs))
    return path, cc["metadata"]["name"]


def _refused(result: Any, *needles: str) -> None:
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and result.stdout == ""
    for needle in needles:
        assert needle in result.stderr, f"{needle!r} not in:\n{result.stderr}"


def test_class_file_accepts_a_cluster_of_its_flavour(tmp_path: Path) -> None:
    path, name = _class_file(tmp_path)
    result = _cli(
        "--k8s", "1.33", "--name", "other", "--set", "aws.region=us-west-2",
        "--set", "aws.s3Bucket.name=cluster-api-provider-aws-other",
        "--class", name, "--class-file", str(path),
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert next(d["kind"] for d in yaml.safe_load_all(result.stdout)) == "Cluster"
    assert _validate(path.read_text() + "---\n" + result.stdout) == []


def test_class_file_names_every_mismatch_at_once(tmp_path: Path) -> None:
    def edit(cc: dict[str, Any]) -> None:
        cc["spec"]["variables"] = [v for v in cc["spec"]["variables"] if v["name"] != "region"]
        cc["spec"]["variables"].append(
            {"name": "extra", "required": True, "schema": {"openAPIV3Schema": {"type": "string"}}}
        )
        cc["spec"]["workers"]["machineDeployments"][0]["class"] = "big"

    path, name = _class_file(tmp_path, edit)
    result = _cli(
        "--k8s", "1.32", "--name", "other", "--set", "aws.s3Bucket.iamNamePrefix=*",
        "--set", "aws.s3Bucket.name=mybucket", "--class", name, "--class-file", str(path),
    )  # fmt: skip
    _refused(
        result,
        f"aws.region: ClusterClass {name} (--class-file {path}) has no variable 'region'",
        "aws.s3Bucket.name: \"mybucket\" does not fit variable 's3BucketName'",
        "must match the pattern",
        "requires variable 'extra'",
        "--k8s: ",
        "not v1.32.",
        "has no worker class 'default-worker' (it has: big)",
    )


def test_class_file_refusals(tmp_path: Path) -> None:
    path, name = _class_file(tmp_path)
    _refused(
        _cli("--k8s", "1.33", "--name", "x", "--class", "nope", "--class-file", str(path)),
        "no ClusterClass named 'nope'",
        f"use --class {name}",
    )
    _refused(_cli("--k8s", "1.33", "--name", "x", "--class-file", str(path)), "needs --class")
    _refused(
        _cli("--k8s", "1.33", "--name", "x", "--class", name, "--format", "clusterclass"),
        "--class does not go with --format clusterclass",
    )
    (tmp_path / "bad.yaml").write_text("a: [\n")
    for file, needle in (("bad.yaml", "not valid YAML"), ("none.yaml", "cannot read")):
        args = ("--k8s", "1.33", "--name", "x", "--class", name)
        _refused(_cli(*args, "--class-file", str(tmp_path / file)), needle)


def test_fleet_of_topology_clusters_against_a_class_file(tmp_path: Path) -> None:
    path, name = _class_file(tmp_path)
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    out.mkdir()
    for stem in ("a", "b"):
        (src / f"{stem}.yaml").write_text(
            f"aws:\n  s3Bucket:\n    name: cluster-api-provider-aws-{stem}\n"
        )
    (src / "c.yaml").write_text("aws:\n  s3Bucket:\n    iamNamePrefix: '*'\n    name: c\n")
    args = ("--k8s", "1.33", "--class", name, "--class-file", str(path), "--fleet", str(src))
    _refused(_cli(*args, "-o", f"{out}/"), f'{src / "c.yaml"}: aws.s3Bucket.name: "c"')
    assert list(out.iterdir()) == []
    (src / "c.yaml").unlink()
    result = _cli(*args, "-o", f"{out}/")
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == ["a.yaml", "b.yaml"]
    for stem in ("a", "b"):
        (cluster,) = [
            d
            for d in yaml.safe_load_all((out / f"{stem}.yaml").read_text())
            if d["kind"] == "Cluster"
        ]
        assert cluster["spec"]["topology"]["classRef"]["name"] == name


@pytest.mark.parametrize("provider", clouds.NAMES)
def test_template_expressions_are_builtins_or_variables_that_cannot_break_the_quoting(
    provider: str,
) -> None:
    """A value patch puts an expression's value unquoted into a YAML double-quoted scalar
    (clusterclass._value_template): each must be a builtin (a Kubernetes name) or a variable
    whose schema pattern admits no quote, backslash or brace."""
    import re

    out = write_class(provider, "v1beta2", "x86-64", "https://m.example/x", catalog("x86-64"))
    (cc,) = [d for d in out.shared if d["kind"] == "ClusterClass"]
    schemas = {v["name"]: v["schema"]["openAPIV3Schema"] for v in cc["spec"]["variables"]}
    for patch in cc["spec"]["patches"]:
        if not patch["name"].startswith("cluster-values-"):
            continue
        for definition in patch["definitions"]:
            for jp in definition["jsonPatches"]:
                template = jp["valueFrom"].get("template")
                if template is None:
                    assert jp["valueFrom"]["variable"] in schemas
                    continue
                for expr in re.findall(r"\{\{ ([^}]*) \}\}", template):
                    if expr.startswith(".builtin."):
                        continue
                    pattern = schemas[expr.lstrip(".")]["pattern"]
                    assert pattern.startswith("^") and pattern.endswith("$"), pattern
                    for bad in ('"', "\\", "{", "}"):
                        assert re.search(pattern, f"a{bad}b") is None, (expr, pattern, bad)
