"""CNI and CCM add-ons: HelmChartProxy objects that select the Cluster and share its pod CIDR."""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner, Result
from crd_fixtures import store

from capi_sysext.cli import cli, commands  # noqa: F401  (importing commands registers them)
from capi_sysext.features import addons
from capi_sysext.features.addons import AddonSettings, addon_table, resolve_charts

REPO = Path(__file__).resolve().parent.parent
AZURE = ["generate", "--provider", "azure", "--name", "demo", "--values", "examples/azure.yaml"]


def run(
    args: list[str], monkeypatch: pytest.MonkeyPatch, env: dict[str, str] | None = None
) -> Result:
    monkeypatch.chdir(REPO)
    return CliRunner().invoke(cli, args, env=env or {})


def generate(args: list[str], monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    result = run([*AZURE, *args], monkeypatch)
    assert result.exit_code == 0, result.output
    return [d for d in yaml.safe_load_all(result.stdout) if d]


def by_kind(docs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [d for d in docs if d["kind"] == kind]


# ---- validation against the HelmChartProxy CRD ----


def hcp_errors(doc: Mapping[str, Any]) -> list[str]:
    """Strict validation against the pinned CAAPH CRD (closed objects: a typo is an error)."""
    assert doc["apiVersion"] == "addons.cluster.x-k8s.io/v1alpha1"
    assert store().schema_checked(doc["apiVersion"], doc["kind"])
    return [str(issue) for issue in store().validate(doc)]


# ---- a small stand-in for CAAPH's template evaluation ----

_TEMPLATE = re.compile(
    r"\{\{\s*(?:index\s+\.Cluster((?:\.\w+)+)\s+(\d+)|\.Cluster((?:\.\w+)+))\s*\}\}"
)


def render_values(template: str, cluster: Mapping[str, Any]) -> Any:
    """Evaluate the two template forms we emit against a Cluster; anything else fails."""

    def walk(path: str) -> Any:
        node: Any = cluster
        for part in path.strip(".").split("."):
            node = node[part]
        return node

    def sub(m: re.Match[str]) -> str:
        if m.group(1):
            return str(walk(m.group(1))[int(m.group(2))])
        return str(walk(m.group(3)))

    text = _TEMPLATE.sub(sub, template)
    assert "{{" not in text, f"unevaluated template left: {text}"
    return yaml.safe_load(text)


def selects(hcp: Mapping[str, Any], cluster: Mapping[str, Any]) -> bool:
    wanted = hcp["spec"]["clusterSelector"].get("matchLabels") or {}
    labels = cluster["metadata"].get("labels") or {}
    same_namespace = hcp["metadata"]["namespace"] == cluster["metadata"]["namespace"]
    # An empty selector would match every cluster in the namespace: never what we emit.
    return bool(wanted) and same_namespace and all(labels.get(k) == v for k, v in wanted.items())


# ---- tests ----


def test_default_addons_are_calico_and_ccm_via_helm(monkeypatch: pytest.MonkeyPatch) -> None:
    docs = generate(["--k8s", "1.33"], monkeypatch)
    hcps = by_kind(docs, "HelmChartProxy")
    assert [h["spec"]["chartName"] for h in hcps] == ["tigera-operator", "cloud-provider-azure"]
    # Add-ons come after the Cluster they select.
    kinds = [d["kind"] for d in docs]
    assert kinds.index("Cluster") < kinds.index("HelmChartProxy")


@pytest.mark.parametrize("capi_api", ["v1beta2", "v1beta1"])
@pytest.mark.parametrize("cni", ["calico", "cilium"])
@pytest.mark.parametrize("k8s", ["1.30", "1.33", "1.36"])
def test_helm_chart_proxies_validate_and_select_the_cluster(
    cni: str, k8s: str, capi_api: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    docs = generate(
        ["--k8s", k8s, "--cni", cni, "--capi-api", capi_api, "--pod-cidr", "10.40.0.0/16"],
        monkeypatch,
    )
    (cluster,) = by_kind(docs, "Cluster")
    hcps = by_kind(docs, "HelmChartProxy")
    assert len(hcps) == 2
    for hcp in hcps:
        assert hcp_errors(hcp) == []
        assert selects(hcp, cluster), f"{hcp['metadata']['name']} selects no cluster"
        assert hcp["spec"]["version"], "every chart is pinned"
    assert len({h["metadata"]["name"] for h in hcps}) == 2


def test_pod_cidr_of_cluster_and_cni_agree(monkeypatch: pytest.MonkeyPatch) -> None:
    for cni, path in (
        ("calico", ("installation", "calicoNetwork", "ipPools", 0, "cidr")),
        ("cilium", ("ipam", "operator", "clusterPoolIPv4PodCIDRList", 0)),
    ):
        docs = generate(["--k8s", "1.33", "--cni", cni, "--pod-cidr", "172.20.0.0/14"], monkeypatch)
        (cluster,) = by_kind(docs, "Cluster")
        assert cluster["spec"]["clusterNetwork"]["pods"]["cidrBlocks"] == ["172.20.0.0/14"]
        (cni_hcp,) = [
            h for h in by_kind(docs, "HelmChartProxy") if h["metadata"]["name"].endswith("-cni")
        ]
        node: Any = render_values(cni_hcp["spec"]["valuesTemplate"], cluster)
        for part in path:
            node = node[part]
        assert node == "172.20.0.0/14", cni


def test_azure_ccm_values_for_flatcar(monkeypatch: pytest.MonkeyPatch) -> None:
    docs = generate(["--k8s", "1.34", "--name", "edge-7"], monkeypatch)
    (cluster,) = by_kind(docs, "Cluster")
    (ccm,) = [h for h in by_kind(docs, "HelmChartProxy") if h["metadata"]["name"].endswith("-ccm")]
    values = render_values(ccm["spec"]["valuesTemplate"], cluster)
    assert values["infra"]["clusterName"] == "edge-7"
    assert values["cloudControllerManager"]["caCertDir"] == "/usr/share/ca-certificates"
    assert values["cloudControllerManager"]["clusterCIDR"] == "192.168.0.0/16"
    assert values["cloudControllerManager"]["configureCloudRoutes"] == "false"
    # The CCM tracks the Kubernetes minor.
    assert ccm["spec"]["version"].startswith("1.34.")


def test_selector_check_is_not_vacuous(monkeypatch: pytest.MonkeyPatch) -> None:
    docs = generate(["--k8s", "1.33"], monkeypatch)
    (cluster,) = by_kind(docs, "Cluster")
    other = copy.deepcopy(cluster)
    other["metadata"]["labels"]["capi-sysext.io/cni"] = "cilium"
    (cni_hcp, ccm_hcp) = by_kind(docs, "HelmChartProxy")
    assert not selects(cni_hcp, other)
    assert selects(ccm_hcp, other)  # one label per add-on: the CCM is unaffected
    del other["metadata"]["labels"]
    assert not selects(ccm_hcp, other)


def test_crd_validation_is_not_vacuous(monkeypatch: pytest.MonkeyPatch) -> None:
    docs = generate(["--k8s", "1.33"], monkeypatch)
    hcp = by_kind(docs, "HelmChartProxy")[0]
    broken = copy.deepcopy(hcp)
    del broken["spec"]["repoURL"]
    broken["spec"]["relaseName"] = "typo"
    errors = hcp_errors(broken)
    assert any("repoURL" in e for e in errors)
    assert any("relaseName" in e for e in errors)


def test_bring_your_own_has_no_addon_documents(monkeypatch: pytest.MonkeyPatch) -> None:
    for extra in ([], ["--addons-via", "crs"]):
        docs = generate(["--k8s", "1.33", "--cni", "none", "--no-ccm", *extra], monkeypatch)
        assert by_kind(docs, "HelmChartProxy") == []
        (cluster,) = by_kind(docs, "Cluster")
        assert not any(
            k.startswith("capi-sysext.io/") for k in cluster["metadata"].get("labels", {})
        )


def test_only_cni_or_only_ccm(monkeypatch: pytest.MonkeyPatch) -> None:
    docs = generate(["--k8s", "1.33", "--no-ccm"], monkeypatch)
    assert [h["metadata"]["name"] for h in by_kind(docs, "HelmChartProxy")] == ["demo-cni"]
    docs = generate(["--k8s", "1.33", "--cni", "none"], monkeypatch)
    assert [h["metadata"]["name"] for h in by_kind(docs, "HelmChartProxy")] == ["demo-ccm"]
    (cluster,) = by_kind(docs, "Cluster")
    assert "capi-sysext.io/cni" not in cluster["metadata"]["labels"]


def test_values_key_and_env_select_the_cni(monkeypatch: pytest.MonkeyPatch) -> None:
    result = run([*AZURE, "--k8s", "1.33"], monkeypatch, env={"CAPI_SYSEXT_CNI": "cilium"})
    assert result.exit_code == 0, result.output
    assert "chartName: cilium" in result.stdout
    result = run(
        [*AZURE, "--k8s", "1.33", "--set", "addons.ccm=false", "--set", "addons.cni=none"],
        monkeypatch,
    )
    assert result.exit_code == 0, result.output
    assert "HelmChartProxy" not in result.stdout


def test_crs_refuses_third_party_addons_naming_the_fixes(monkeypatch: pytest.MonkeyPatch) -> None:
    result = run([*AZURE, "--k8s", "1.33", "--addons-via", "crs", "--ccm"], monkeypatch)
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    assert "2 problems" in result.stderr
    assert "--cni calico" in result.stderr
    assert "cloud controller manager" in result.stderr
    assert "--addons-via helm" in result.stderr
    assert "--cni none --no-ccm" in result.stderr
    result = run([*AZURE, "--k8s", "1.33", "--addons-via", "crs"], monkeypatch)
    assert result.exit_code == 2
    assert "--cni calico" in result.stderr
    assert "cloud controller manager" not in result.stderr  # --ccm unset: not asked for


def test_bad_addon_inputs_name_their_knobs(monkeypatch: pytest.MonkeyPatch) -> None:
    result = run([*AZURE, "--k8s", "1.33", "--cni", "flannel", "--addons-via", "ftp"], monkeypatch)
    assert result.exit_code == 2
    assert "--cni" in result.stderr and "calico, cilium, none" in result.stderr
    assert "--addons-via" in result.stderr and "helm, crs" in result.stderr
    result = run([*AZURE, "--k8s", "1.33"], monkeypatch, env={"CAPI_SYSEXT_CCM": "maybe"})
    assert result.exit_code == 2
    assert "CAPI_SYSEXT_CCM" in result.stderr


def test_unpinned_kubernetes_minor_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    charts, problems = resolve_charts(AddonSettings("calico", True, "helm"), "azure", "1.29.4")
    assert charts == []
    assert len(problems) == 2
    assert "Kubernetes 1.29" in problems[0].message and "--cni none" in problems[0].fix
    assert "--no-ccm" in problems[1].fix


def test_provider_rows_are_looked_up_by_name() -> None:
    wanted = AddonSettings("none", True, "helm")
    # AWS: chart pinned per minor with the CCM image of that minor.
    (chart,), problems = resolve_charts(wanted, "aws", "1.33")
    assert problems == []
    assert chart.chart_name == "aws-cloud-controller-manager"
    assert chart.values["image"] == {"tag": "v1.33.0"}
    assert "--configure-cloud-routes=false" in chart.values["args"]
    # AWS has no chart for 1.35 yet: say so instead of guessing.
    _, problems = resolve_charts(wanted, "aws", "1.35")
    assert "no pinned aws-cloud-controller-manager chart for Kubernetes 1.35" in problems[0].message
    # GCP publishes no chart: the reason, and the fix.
    _, problems = resolve_charts(wanted, "gcp", "1.33")
    assert "no maintained Helm chart" in problems[0].message
    assert "--no-ccm" in problems[0].fix
    # A provider the table does not know.
    _, problems = resolve_charts(wanted, "openstack", "1.33")
    assert "no cloud controller manager for provider openstack" in problems[0].message
    # ... which does not matter when the CCM is off.
    assert resolve_charts(AddonSettings("calico", False, "helm"), "openstack", "1.33")[1] == []


def test_provider_values_override_the_cni_defaults() -> None:
    (azure,), _ = resolve_charts(AddonSettings("calico", False, "helm"), "azure", "1.33")
    (aws,), _ = resolve_charts(AddonSettings("calico", False, "helm"), "aws", "1.33")
    assert azure.values["installation"]["calicoNetwork"]["bgp"] == "Disabled"
    assert azure.values["installation"]["calicoNetwork"]["ipPools"][0]["encapsulation"] == "VXLAN"
    assert aws.values["installation"]["calicoNetwork"]["ipPools"][0]["encapsulation"] == "IPIP"
    # Both still read the pod CIDR from the Cluster.
    for chart in (azure, aws):
        assert (
            chart.values["installation"]["calicoNetwork"]["ipPools"][0]["cidr"]
            == (addons.CLUSTER_FIELDS["@podCIDR@"])
        )
        # Flatcar: /usr is read-only.
        assert chart.values["installation"]["flexVolumePath"] == "None"


def test_table_is_complete_and_well_formed() -> None:
    table = addon_table()
    text = (REPO / "providers" / "addons.yaml").read_text()
    assert "$" not in text
    rows = [*table["cni"].values(), *(r for r in table["ccm"].values() if "unavailable" not in r)]
    assert set(table["cni"]) == {"calico", "cilium"}
    for row in rows:
        assert {"repoURL", "chartName", "namespace", "releaseName", "versions"} <= set(row)
        assert row["repoURL"].startswith("https://")
        for minor, pin in row["versions"].items():
            assert re.fullmatch(r"1\.\d+", minor), minor
            version = pin["chart"] if isinstance(pin, dict) else pin
            assert re.fullmatch(r"v?\d+\.\d+\.\d+", str(version)), version
            # Every placeholder in every combination is one we know how to fill.
            for provider in table["ccm"]:
                addons._resolve("x", "x", row, provider, minor)
    # Every CNI covers every minor the Azure CCM covers (the default add-ons of the golden files).
    for cni in table["cni"].values():
        assert set(table["ccm"]["azure"]["versions"]) <= set(cni["versions"])


def test_unknown_placeholder_is_a_table_bug() -> None:
    with pytest.raises(ValueError, match="@nodeName@"):
        addons._fill({"a": ["@nodeName@"]})


def test_no_envsubst_sequences_in_addon_documents(monkeypatch: pytest.MonkeyPatch) -> None:
    result = run([*AZURE, "--k8s", "1.33", "--cni", "cilium"], monkeypatch)
    assert result.exit_code == 0
    assert not re.search(r"\$\{|\$[A-Za-z_]", result.stdout)


def test_list_variables_names_the_helm_addon_provider(monkeypatch: pytest.MonkeyPatch) -> None:
    base = ["generate", "--provider", "azure", "--list-variables"]
    result = run(base, monkeypatch)
    assert result.exit_code == 0, result.output
    assert "clusterctl init --addon helm" in result.stdout
    assert "KubeadmBootstrapFormatIgnition" in result.stdout
    for extra in (["--cni", "none", "--no-ccm"], ["--addons-via", "crs"]):
        result = run([*base, *extra], monkeypatch)
        assert result.exit_code == 0, result.output
        assert "--addon helm" not in result.stdout


def test_generate_notes_the_helm_addon_provider(monkeypatch: pytest.MonkeyPatch) -> None:
    result = run([*AZURE, "--k8s", "1.33"], monkeypatch)
    assert "clusterctl init --addon helm" in result.stderr
    result = run([*AZURE, "--k8s", "1.33", "--cni", "none", "--no-ccm"], monkeypatch)
    assert "--addon helm" not in result.stderr


def test_render_node_ignores_addon_delivery(monkeypatch: pytest.MonkeyPatch) -> None:
    result = run(
        ["render-node", "--k8s", "1.33", "--role", "worker"],
        monkeypatch,
        env={"CAPI_SYSEXT_ADDONS_VIA": "crs"},
    )
    assert result.exit_code == 0, result.output


def test_gcp_gets_no_ccm_by_default_with_a_note_and_an_error_when_asked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    gcp = ["generate", "--provider", "gcp", "--k8s", "1.33", "--name", "demo",
           "--values", str(REPO / "examples" / "gcp.yaml")]  # fmt: skip
    result = run(gcp, monkeypatch)
    assert result.exit_code == 0, result.output
    import yaml

    proxies = [d["metadata"]["name"] for d in yaml.safe_load_all(result.stdout)
               if d and d["kind"] == "HelmChartProxy"]  # fmt: skip
    assert proxies == ["demo-cni"]
    assert "no cloud controller manager add-on" in result.stderr
    explicit = run([*gcp, "--ccm"], monkeypatch)
    assert explicit.exit_code == 2
    assert "--ccm is not available for provider gcp" in explicit.stderr
