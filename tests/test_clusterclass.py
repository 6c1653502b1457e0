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
        node = node[key]
    assert op in ("replace", "add")
    if op == "replace":
        last = keys[-1]
        present = last < len(node) if isinstance(last, int) else last in node
        assert present, f"replace of a missing path {path}"
    node[keys[-1]] = value


# The names the topology controller gives its clones of the class's machine templates.
CLONED_CP_TEMPLATE = "demo-hx7kq"
CLONED_MD_TEMPLATE = "demo-md-0-zt4wd"


def topology_apply(
    shared: tuple[dict[str, Any], ...], version: str, variables: dict[str, Any] | None = None
) -> dict[str, dict[str, Any]]:
    """Templates by kind after the class's patches, for a topology at `version` whose class
    variables take their defaults unless `variables` overrides them (builtins: cluster-api
    api/runtime/hooks/v1alpha1/topologymutation_variable_types.go)."""
    (cc,) = [d for d in shared if d["kind"] == "ClusterClass"]
    values = {
        v["name"]: v["schema"]["openAPIV3Schema"]["default"]
        for v in cc["spec"].get("variables", [])
    }
    values.update(variables or {})
    values["builtin"] = {
        "cluster": {"name": "demo"},
        "controlPlane": {
            "version": version,
            "machineTemplate": {"infrastructureRef": {"name": CLONED_CP_TEMPLATE}},
        },
        "machineDeployment": {
            "version": version,
            "class": clusterclass.WORKER_CLASS,
            "infrastructureRef": {"name": CLONED_MD_TEMPLATE},
        },
    }
    out = {d["kind"]: copy.deepcopy(d) for d in shared if d["kind"] != "ClusterClass"}
    for patch in cc["spec"]["patches"]:
        for definition in patch["definitions"]:
            sel = definition["selector"]
            (target,) = [
                d
                for d in out.values()
                if (d["apiVersion"], d["kind"]) == (sel["apiVersion"], sel["kind"])
            ]
            match = sel["matchResources"]
            assert (
                match.get("controlPlane")
                or match.get("infrastructureCluster")
                or clusterclass.WORKER_CLASS in match["machineDeploymentClass"]["names"]
            )
            for jp in definition["jsonPatches"]:
                value = yaml.safe_load(evaluate(jp["valueFrom"]["template"], values))
                _pointer_set(target, jp["path"], value, jp["op"])
    return out


def clc_by_role(templates_or_docs: dict[str, dict[str, Any]]) -> dict[str, str]:
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
    patched = clc_by_role(topology_apply(out.shared, version))
    # The same cluster generated the old way for that version: the node configs are equal.
    docs = generate(spec_for(provider, version, capi_api, arch, base, sysupdate), cat).documents
    expected = clc_by_role({d["kind"]: d for d in docs})
    assert patched == expected
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
    patched = topology_apply(out.shared, CHOSEN)
    cp = _files(
        patched["KubeadmControlPlaneTemplate"]["spec"]["template"]["spec"]["kubeadmConfigSpec"]
    )
    md = _files(patched["KubeadmConfigTemplate"]["spec"]["template"]["spec"])
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
    azure_cluster = patched["AzureClusterTemplate"]["spec"]["template"]["spec"]
    assert azure_cluster == docs["AzureCluster"]["spec"]
    assert azure_cluster["resourceGroup"] == "demo"


def test_azure_class_refuses_a_fixed_resource_group() -> None:
    raw = spec_for("azure", CHOSEN, "v1beta2", "x86-64", "https://m.example/x")
    s = raw.provider_settings._replace(resource_group="shared-rg")
    result = generate(raw._replace(provider_settings=s), catalog("x86-64"))
    with pytest.raises(NotImplementedYet, match=r"azure\.resourceGroup"):
        clusterclass.WRITER.write(result)


def test_class_allows_every_patch_of_the_minor_and_the_next() -> None:
    out = write_class("gcp", "v1beta2", "x86-64", "https://m.example/x", catalog("x86-64"))
    (cc,) = [d for d in out.shared if d["kind"] == "ClusterClass"]
    assert cc["spec"]["kubernetesVersions"] == list(VERSIONS)
    (var,) = cc["spec"]["variables"]
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
    patched = clc_by_role(topology_apply(out.shared, "v1.35.0"))
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
        patched = clc_by_role(topology_apply(out.shared, version))
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


@pytest.mark.parametrize("capi_api", ["v1beta2", "v1beta1"])
def test_validate_checks_the_topology_class(capi_api: str) -> None:
    text = (GOLDEN / f"clusterclass-gcp-pinned-{capi_api}.out").read_text()
    assert _validate(text) == []
    key = "classRef:\n      name: demo-sysext" if capi_api == "v1beta2" else "class: demo-sysext"
    assert key in text
    lines = _validate(text.replace(key, key.replace("demo-sysext", "other")))
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
        "KubeadmConfigTemplate/demo-sysext-worker, which is not in the input" in line
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
