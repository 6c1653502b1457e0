"""validate's add-on contracts: a CNI is delivered, a CCM is delivered, selectors match."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner
from crd_fixtures import crds_root

from capi_sysext import clouds, yamlio
from capi_sysext.cli import cli, commands  # noqa: F401  (importing commands registers them)
from capi_sysext.contracts import SKIP_ANNOTATION, DocumentSet
from capi_sysext.features.addons import check_addon_documents
from capi_sysext.plugins import registered

REPO = Path(__file__).resolve().parent.parent


def generate(provider: str, *extra: str, monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    monkeypatch.chdir(REPO)
    args = ["generate", "--provider", provider, "--name", "demo", "--offline",
            "--values", f"examples/{provider}.yaml", *extra]  # fmt: skip
    if "--k8s" not in extra:
        args += ["--k8s", "1.34"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    return [d for d in yaml.safe_load_all(result.stdout) if d]


def rules(docs: list[dict[str, Any]]) -> list[str]:
    return [f.rule for f in check_addon_documents(DocumentSet(docs), registered().owners)]


def without(docs: list[dict[str, Any]], kind: str, suffix: str) -> list[dict[str, Any]]:
    return [d for d in docs if not (d["kind"] == kind and d["metadata"]["name"].endswith(suffix))]


def cluster_of(docs: list[dict[str, Any]]) -> dict[str, Any]:
    (cluster,) = [d for d in docs if d["kind"] == "Cluster"]
    return cluster


@pytest.mark.parametrize("provider", clouds.NAMES)
@pytest.mark.parametrize("extra", [(), ("--cni", "cilium"), ("--k8s", "1.35")])
def test_our_output_passes_the_addon_rules(
    provider: str, extra: tuple[str, ...], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert rules(generate(provider, *extra, monkeypatch=monkeypatch)) == []


@pytest.mark.parametrize("provider", clouds.NAMES)
@pytest.mark.parametrize("extra", [(), ("--cni", "cilium"), ("--k8s", "1.35")])
def test_our_output_validates_strictly_with_every_rule(
    provider: str, extra: tuple[str, ...], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The whole `validate` run: CRD schemas (unknown fields are errors) plus every provider and
    # feature rule, over what `generate` writes.
    from crd_fixtures import store

    from capi_sysext.validate import validate_documents

    text = yamlio.dump_all(generate(provider, *extra, monkeypatch=monkeypatch))
    report = validate_documents([("c.yaml", text)], store(), registered())
    assert report.lines() == []


def test_opting_out_is_recorded_and_honoured(monkeypatch: pytest.MonkeyPatch) -> None:
    docs = generate("azure", "--cni", "none", "--no-ccm", monkeypatch=monkeypatch)
    assert cluster_of(docs)["metadata"]["annotations"] == {SKIP_ANNOTATION: "addons-ccm,addons-cni"}
    assert rules(docs) == []
    del cluster_of(docs)["metadata"]["annotations"]
    assert rules(docs) == ["addons-cni", "addons-ccm"]


# ---- addons-cni ----


def test_cluster_without_cni_is_flagged(monkeypatch: pytest.MonkeyPatch) -> None:
    docs = without(generate("aws", monkeypatch=monkeypatch), "HelmChartProxy", "-cni")
    (finding,) = check_addon_documents(DocumentSet(docs), registered().owners)
    assert finding.rule == "addons-cni"
    assert docs[finding.position]["kind"] == "Cluster"
    assert finding.path == "$.metadata.labels"
    assert "--cni calico|cilium" in finding.message and SKIP_ANNOTATION in finding.message


def test_cni_from_a_cluster_resource_set_counts(monkeypatch: pytest.MonkeyPatch) -> None:
    docs = without(generate("aws", monkeypatch=monkeypatch), "HelmChartProxy", "-cni")
    cluster = cluster_of(docs)
    cluster["metadata"]["labels"]["cni"] = "mine"
    docs += [
        {"apiVersion": "v1", "kind": "ConfigMap",
         "metadata": {"name": "cni", "namespace": "default"},
         "data": {"cni.yaml": "kind: DaemonSet\nmetadata:\n  name: kube-flannel-ds\n"}},
        {"apiVersion": "addons.cluster.x-k8s.io/v1beta2", "kind": "ClusterResourceSet",
         "metadata": {"name": "cni", "namespace": "default"},
         "spec": {"clusterSelector": {"matchExpressions": [
             {"key": "cni", "operator": "In", "values": ["mine"]}]},
             "resources": [{"kind": "ConfigMap", "name": "cni"}]}},
    ]  # fmt: skip
    assert rules(docs) == []


# ---- addons-ccm ----


def test_gcp_cluster_without_ccm_is_flagged(monkeypatch: pytest.MonkeyPatch) -> None:
    # What `generate` produced for GCP before: no CCM ConfigMap/ClusterResourceSet.
    docs = generate("gcp", monkeypatch=monkeypatch)
    old = without(without(docs, "ClusterResourceSet", "-ccm"), "ConfigMap", "-ccm")
    (finding,) = check_addon_documents(DocumentSet(old), registered().owners)
    assert finding.rule == "addons-ccm"
    assert "gcp Cluster demo gets no cloud controller manager" in finding.message
    assert "uninitialized" in finding.message and "nodeRef" in finding.message
    cluster_of(old)["metadata"]["annotations"] = {SKIP_ANNOTATION: "addons-ccm"}
    assert rules(old) == []


def test_ccm_rule_applies_to_every_provider(monkeypatch: pytest.MonkeyPatch) -> None:
    docs = without(generate("azure", monkeypatch=monkeypatch), "HelmChartProxy", "-ccm")
    assert rules(docs) == ["addons-ccm"]


# ---- addons-selector ----


def test_selector_not_matching_its_cluster_is_flagged(monkeypatch: pytest.MonkeyPatch) -> None:
    docs = generate("azure", monkeypatch=monkeypatch)
    cluster = cluster_of(docs)
    del cluster["metadata"]["labels"]["capi-sysext.io/cni"]
    found = check_addon_documents(DocumentSet(docs), registered().owners)
    assert sorted(f.rule for f in found) == ["addons-cni", "addons-selector"]
    (sel,) = [f for f in found if f.rule == "addons-selector"]
    assert docs[sel.position]["metadata"]["name"] == "demo-cni"
    assert sel.path == "$.spec.clusterSelector"
    assert "missing labels capi-sysext.io/cni=calico" in sel.message
    cluster.setdefault("metadata", {})["annotations"] = {
        SKIP_ANNOTATION: "addons-selector, addons-cni"
    }
    assert rules(docs) == []


def test_selector_of_another_cluster_is_not_flagged(monkeypatch: pytest.MonkeyPatch) -> None:
    docs = generate("azure", monkeypatch=monkeypatch)
    other = copy.deepcopy(next(d for d in docs if d["kind"] == "HelmChartProxy"))
    other["metadata"]["name"] = "other-cni"
    other["spec"]["clusterSelector"]["matchLabels"]["capi-sysext.io/cluster-name"] = "other"
    assert rules([*docs, other]) == []


def test_validate_cli_reports_the_rule(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    docs = without(generate("gcp", monkeypatch=monkeypatch), "ClusterResourceSet", "-ccm")
    path = tmp_path / "c.yaml"
    path.write_text(yamlio.dump_all(docs))
    result = CliRunner().invoke(cli, ["validate", str(path), "--crds", str(crds_root())])
    assert result.exit_code == 1, result.output
    assert "[addons-ccm]" in result.output
