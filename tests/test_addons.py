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
from crd_fixtures import crd_errors, store

from capi_sysext.cli import cli, commands  # noqa: F401  (importing commands registers them)
from capi_sysext.errors import Problem
from capi_sysext.features import addons
from capi_sysext.features.addons import AddonSettings, Chart, Target, addon_table, plan

REPO = Path(__file__).resolve().parent.parent
AZURE = ["generate", "--provider", "azure", "--name", "demo", "--values", "examples/azure.yaml"]


def resolve_charts(
    settings: AddonSettings, provider: str, kubernetes: str
) -> tuple[list[Chart], list[Problem]]:
    """The charts one cluster gets, or every reason it cannot get them."""
    p = plan(settings, Target(provider, kubernetes, "demo", "192.168.0.0/16"))
    return p.charts, p.problems


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
    return crd_errors(doc)


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
    assert [h["spec"]["chartName"] for h in hcps] == [
        "tigera-operator",
        "cloud-provider-azure",
        "azuredisk-csi-driver",
    ]
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
    assert len(hcps) == 3  # CNI, CCM, CSI
    for hcp in hcps:
        assert hcp_errors(hcp) == []
        assert selects(hcp, cluster), f"{hcp['metadata']['name']} selects no cluster"
        assert hcp["spec"]["version"], "every chart is pinned"
    assert len({h["metadata"]["name"] for h in hcps}) == 3


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
    (cni_hcp, ccm_hcp, _csi) = by_kind(docs, "HelmChartProxy")
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
        docs = generate(
            ["--k8s", "1.33", "--cni", "none", "--no-ccm", "--no-csi", *extra], monkeypatch
        )
        assert by_kind(docs, "HelmChartProxy") == []
        (cluster,) = by_kind(docs, "Cluster")
        assert not any(
            k.startswith("capi-sysext.io/") for k in cluster["metadata"].get("labels", {})
        )


def test_only_cni_or_only_ccm(monkeypatch: pytest.MonkeyPatch) -> None:
    docs = generate(["--k8s", "1.33", "--no-ccm", "--no-csi"], monkeypatch)
    assert [h["metadata"]["name"] for h in by_kind(docs, "HelmChartProxy")] == ["demo-cni"]
    docs = generate(["--k8s", "1.33", "--cni", "none", "--no-csi"], monkeypatch)
    assert [h["metadata"]["name"] for h in by_kind(docs, "HelmChartProxy")] == ["demo-ccm"]
    (cluster,) = by_kind(docs, "Cluster")
    assert "capi-sysext.io/cni" not in cluster["metadata"]["labels"]


def test_values_key_and_env_select_the_cni(monkeypatch: pytest.MonkeyPatch) -> None:
    result = run([*AZURE, "--k8s", "1.33"], monkeypatch, env={"CAPI_SYSEXT_CNI": "cilium"})
    assert result.exit_code == 0, result.output
    assert "chartName: cilium" in result.stdout
    result = run(
        [
            *AZURE,
            "--k8s",
            "1.33",
            "--set",
            "addons.ccm=false",
            "--set",
            "addons.cni=none",
            "--set",
            "addons.csi=false",
        ],
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
    assert "--cni none" in result.stderr and "--no-ccm" in result.stderr
    # The CCM is on by default: crs cannot carry its chart either, and says so.
    result = run([*AZURE, "--k8s", "1.33", "--addons-via", "crs", "--cni", "none"], monkeypatch)
    assert result.exit_code == 2
    assert "cloud controller manager" in result.stderr and "--no-ccm" in result.stderr


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
    wanted = AddonSettings("none", True, "helm", False)
    # AWS: chart pinned per minor with the CCM image of that minor.
    (chart,), problems = resolve_charts(wanted, "aws", "1.33")
    assert problems == []
    assert chart.chart_name == "aws-cloud-controller-manager"
    assert chart.values["image"] == {"tag": "v1.33.4"}
    assert "--configure-cloud-routes=false" in chart.values["args"]
    # 1.35 and 1.36: the newer chart with the image of that minor.
    for minor, tag in (("1.35", "v1.35.2"), ("1.36", "v1.36.1")):
        (chart,), problems = resolve_charts(wanted, "aws", minor)
        assert problems == [] and chart.version == "0.0.11"
        assert chart.values["image"] == {"tag": tag}
    # A minor without a pin is an error naming --no-ccm.
    _, problems = resolve_charts(wanted, "aws", "1.31")
    assert "pinned for Kubernetes 1.31" in problems[0].message
    assert "--no-ccm" in problems[0].fix
    # GCP publishes no chart: manifests of our own, no HelmChartProxy.
    charts, problems = resolve_charts(wanted, "gcp", "1.33")
    assert charts == [] and problems == []
    # A provider the table does not know.
    _, problems = resolve_charts(wanted, "openstack", "1.33")
    assert "no cloud controller manager for provider openstack" in problems[0].message
    # ... which does not matter when the CCM is off.
    assert resolve_charts(AddonSettings("calico", False, "helm"), "openstack", "1.33")[1] == []


def test_provider_values_override_the_cni_defaults() -> None:
    (azure,), _ = resolve_charts(AddonSettings("calico", False, "helm", False), "azure", "1.33")
    (aws,), _ = resolve_charts(AddonSettings("calico", False, "helm", False), "aws", "1.33")
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
    rows = [
        *table["cni"].values(),
        *(r for r in table["ccm"].values() if "versions" in r),
        *(r for r in table["csi"].values() if "versions" in r),
    ]
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
    for extra in (["--cni", "none", "--no-ccm", "--no-csi"], ["--addons-via", "crs"]):
        result = run([*base, *extra], monkeypatch)
        assert result.exit_code == 0, result.output
        assert "--addon helm" not in result.stdout


def test_generate_notes_the_helm_addon_provider(monkeypatch: pytest.MonkeyPatch) -> None:
    result = run([*AZURE, "--k8s", "1.33"], monkeypatch)
    assert "clusterctl init --addon helm" in result.stderr
    result = run([*AZURE, "--k8s", "1.33", "--cni", "none", "--no-ccm", "--no-csi"], monkeypatch)
    assert "--addon helm" not in result.stderr


def test_render_node_ignores_addon_delivery(monkeypatch: pytest.MonkeyPatch) -> None:
    result = run(
        ["render-node", "--k8s", "1.33", "--role", "worker"],
        monkeypatch,
        env={"CAPI_SYSEXT_ADDONS_VIA": "crs"},
    )
    assert result.exit_code == 0, result.output


def test_gcp_gets_the_ccm_from_a_cluster_resource_set(monkeypatch: pytest.MonkeyPatch) -> None:
    gcp = ["generate", "--provider", "gcp", "--k8s", "1.33", "--name", "demo",
           "--values", str(REPO / "examples" / "gcp.yaml")]  # fmt: skip
    result = run(gcp, monkeypatch)
    assert result.exit_code == 0, result.output
    docs = [d for d in yaml.safe_load_all(result.stdout) if d]
    assert [d["metadata"]["name"] for d in by_kind(docs, "HelmChartProxy")] == ["demo-cni"]
    (cluster,) = by_kind(docs, "Cluster")
    (crs,) = [c for c in by_kind(docs, "ClusterResourceSet") if c["metadata"]["name"] == "demo-ccm"]
    assert selects(crs, cluster)
    assert crs["spec"]["resources"] == [{"kind": "ConfigMap", "name": "demo-ccm"}]
    (cm,) = [d for d in by_kind(docs, "ConfigMap") if d["metadata"]["name"] == "demo-ccm"]
    manifests = list(yaml.safe_load_all(cm["data"]["ccm.yaml"]))
    (ds,) = [m for m in manifests if m["kind"] == "DaemonSet"]
    pod = ds["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert (
        container["image"] == "registry.k8s.io/cloud-provider-gcp/cloud-controller-manager:v33.4.0"
    )
    for arg in ("--cloud-provider=gce", "--cluster-name=demo", "--allocate-node-cidrs=false",
                "--configure-cloud-routes=false", "--leader-elect=true"):  # fmt: skip
        assert arg in container["args"], arg
    assert pod["hostNetwork"] is True
    assert pod["nodeSelector"] == {"node-role.kubernetes.io/control-plane": ""}
    keys = {t["key"] for t in pod["tolerations"]}
    assert "node.cloudprovider.kubernetes.io/uninitialized" in keys
    assert "node-role.kubernetes.io/control-plane" in keys
    # The cloud config it mounts is written on control-plane nodes only.
    (kcp,) = by_kind(docs, "KubeadmControlPlane")
    (file,) = [f for f in kcp["spec"]["kubeadmConfigSpec"]["files"]
               if f["path"] == "/etc/kubernetes/cloud.config"]  # fmt: skip
    assert 'project-id = "' in file["content"] and "multizone = true" in file["content"]
    (kct,) = by_kind(docs, "KubeadmConfigTemplate")
    assert "cloud.config" not in yaml.safe_dump(kct)
    assert "no CSI driver add-on" not in result.stderr
    assert {m["kind"] for m in manifests} == {
        "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "RoleBinding", "DaemonSet"
    }  # fmt: skip


def test_missing_ccm_for_a_minor_is_an_error_unless_no_ccm(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Before: exit 0 with a note. Now: exit 2 naming --no-ccm, and --no-ccm lets it through.
    aws = ["generate", "--provider", "aws", "--k8s", "1.31", "--name", "demo",
           "--values", str(REPO / "examples" / "aws.yaml")]  # fmt: skip
    result = run(aws, monkeypatch)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert "--no-ccm" in result.stderr and "Kubernetes 1.31" in result.stderr
    result = run([*aws, "--no-ccm"], monkeypatch)
    assert result.exit_code == 0, result.output
    docs = [d for d in yaml.safe_load_all(result.stdout) if d]
    (cluster,) = by_kind(docs, "Cluster")
    # The opt-out is recorded, so `validate` does not flag the missing CCM.
    assert cluster["metadata"]["annotations"] == {"validate.capi-sysext.io/skip": "addons-ccm"}


def test_aws_135_and_136_get_a_ccm(monkeypatch: pytest.MonkeyPatch) -> None:
    for minor in ("1.35", "1.36"):
        aws = ["generate", "--provider", "aws", "--k8s", minor, "--name", "demo",
               "--values", str(REPO / "examples" / "aws.yaml")]  # fmt: skip
        result = run(aws, monkeypatch)
        assert result.exit_code == 0, result.output
        assert "chartName: aws-cloud-controller-manager" in result.stdout


def test_csi_drivers_per_provider(monkeypatch: pytest.MonkeyPatch) -> None:
    docs = generate(["--k8s", "1.34"], monkeypatch)
    (cluster,) = by_kind(docs, "Cluster")
    (csi,) = [h for h in by_kind(docs, "HelmChartProxy") if h["metadata"]["name"] == "demo-csi"]
    assert csi["spec"]["chartName"] == "azuredisk-csi-driver"
    assert hcp_errors(csi) == [] and selects(csi, cluster)
    # The Azure Disk chart creates no StorageClass: ours comes in a ClusterResourceSet.
    (crs,) = by_kind(docs, "ClusterResourceSet")
    assert crs["metadata"]["name"] == "demo-storageclass" and selects(crs, cluster)
    (cm,) = [d for d in by_kind(docs, "ConfigMap") if d["metadata"]["name"] == "demo-storageclass"]
    (sc,) = yaml.safe_load_all(cm["data"]["storageclass.yaml"])
    assert sc["provisioner"] == "disk.csi.azure.com"
    assert sc["metadata"]["annotations"] == {"storageclass.kubernetes.io/is-default-class": "true"}
    assert sc["volumeBindingMode"] == "WaitForFirstConsumer"
    # AWS: the EBS chart creates the default class from its values.
    (chart,), _ = resolve_charts(AddonSettings("none", False, "helm", True), "aws", "1.34")
    assert chart.chart_name == "aws-ebs-csi-driver"
    (sc_value,) = chart.values["storageClasses"]
    assert sc_value["annotations"] == {"storageclass.kubernetes.io/is-default-class": "true"}
    assert chart.values["controller"]["nodeSelector"] == {
        "node-role.kubernetes.io/control-plane": ""
    }
    # --no-csi turns it off; --csi where no driver exists is an error naming --no-csi.
    docs = generate(["--k8s", "1.34", "--no-csi"], monkeypatch)
    assert "demo-csi" not in {h["metadata"]["name"] for h in by_kind(docs, "HelmChartProxy")}
    assert by_kind(docs, "ClusterResourceSet") == []
    # A provider without a driver row: --csi is an error naming --no-csi, the default a note.
    table = copy.deepcopy(addon_table())
    del table["csi"]["gcp"]
    monkeypatch.setattr(addons, "addon_table", lambda: table)
    target = Target("gcp", "1.34.1", "demo", "192.168.0.0/16")
    problems = plan(AddonSettings("none", False, "helm", True), target).problems
    assert "no CSI driver add-on for provider gcp" in problems[0].message
    assert "--no-csi" in problems[0].fix
    notes = plan(AddonSettings("none", False, "helm", None), target).notes
    assert any("no CSI driver add-on for provider gcp" in n for n in notes)
    monkeypatch.undo()
    result = run([*AZURE, "--k8s", "1.34"], monkeypatch, env={"CAPI_SYSEXT_CSI": "false"})
    assert result.exit_code == 0 and "azuredisk-csi-driver" not in result.stdout


def test_gcp_cloud_config_is_escaped() -> None:
    from capi_sysext.features.gce_ccm import cloud_config

    text = cloud_config('p"x', "net")
    assert 'project-id = "p\\"x"' in text
    with pytest.raises(ValueError, match="one line"):
        cloud_config("p\nx", "n")


def test_notes_state_the_credential_model(monkeypatch: pytest.MonkeyPatch) -> None:
    for provider, words in (
        ("aws", "enableCSIPolicy"),
        ("gcp", "default compute service account"),
        ("azure", "/etc/kubernetes/azure.json"),
    ):
        args = ["generate", "--provider", provider, "--k8s", "1.34", "--name", "demo",
                "--values", str(REPO / "examples" / f"{provider}.yaml")]  # fmt: skip
        result = run(args, monkeypatch)
        assert result.exit_code == 0, result.output
        assert words in result.stderr, provider


def test_a_lock_pins_the_charts_the_release_resolves_and_names_the_ones_it_lacks() -> None:
    from capi_sysext.features.addons import LockedCharts

    (table_chart,), _ = resolve_charts(AddonSettings("calico", False, "helm", False), "aws", "1.33")
    key = f"{table_chart.role}/{table_chart.label_value}"
    lock = LockedCharts("my.lock", "re-pin it", ((key, table_chart.chart_name, "0.0.1"),))
    locked = AddonSettings("calico", True, "helm", False, lock=lock)
    charts, problems = resolve_charts(locked, "aws", "1.33")
    assert next(c for c in charts if c.role == "cni").version == "0.0.1"
    # The CCM chart is in the release's plan but not in the lock: one problem, with the fix.
    ccm = next(c for c in charts if c.role == "ccm")
    assert [(p.message, p.fix) for p in problems] == [
        (
            f"the lock my.lock pins no version of the {ccm.chart_name} chart "
            f"(ccm/{ccm.label_value})",
            "re-pin it",
        )
    ]


def test_gcp_gets_the_pd_csi_driver_from_a_cluster_resource_set(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    gcp = ["generate", "--provider", "gcp", "--k8s", "1.33", "--name", "demo",
           "--values", str(REPO / "examples" / "gcp.yaml")]  # fmt: skip
    for via in ("helm", "crs"):
        result = run([*gcp, "--addons-via", via, "--cni", "none" if via == "crs" else "calico"],
                     monkeypatch)  # fmt: skip
        assert result.exit_code == 0, result.output
        docs = [d for d in yaml.safe_load_all(result.stdout) if d]
        (cluster,) = by_kind(docs, "Cluster")
        crs = {c["metadata"]["name"]: c for c in by_kind(docs, "ClusterResourceSet")}
        assert {"demo-csi", "demo-storageclass"} <= set(crs)
        assert all(selects(c, cluster) for c in crs.values())
        assert "roles/compute.storageAdmin" in " ".join(result.stderr.split())
    maps = {d["metadata"]["name"]: d for d in by_kind(docs, "ConfigMap")}
    manifests = list(yaml.safe_load_all(maps["demo-csi"]["data"]["csi.yaml"]))
    (sc,) = yaml.safe_load_all(maps["demo-storageclass"]["data"]["storageclass.yaml"])
    (driver,) = [m for m in manifests if m["kind"] == "CSIDriver"]
    assert sc["provisioner"] == driver["metadata"]["name"] == "pd.csi.storage.gke.io"
    assert sc["parameters"] == {"type": "pd-balanced"}
    assert sc["metadata"]["annotations"] == {"storageclass.kubernetes.io/is-default-class": "true"}
    # No key Secret: the instance's service account through the metadata server (noauth).
    text = maps["demo-csi"]["data"]["csi.yaml"]
    assert "GOOGLE_APPLICATION_CREDENTIALS" not in text and "secret" not in text.lower()
    accounts = {m["metadata"]["name"] for m in manifests if m["kind"] == "ServiceAccount"}
    roles = {(m["kind"], m["metadata"]["name"]) for m in manifests if m["kind"].endswith("Role")}
    for binding in (m for m in manifests if m["kind"].endswith("RoleBinding")):
        ref = binding["roleRef"]
        assert (ref["kind"], ref["name"]) in roles, ref
        assert {s["name"] for s in binding["subjects"]} <= accounts
    workloads = [m for m in manifests if m["kind"] in ("Deployment", "DaemonSet")]
    assert {w["kind"] for w in workloads} == {"Deployment", "DaemonSet"}
    for workload in workloads:
        pod = workload["spec"]["template"]["spec"]
        assert workload["spec"]["selector"]["matchLabels"].items() <= (
            workload["spec"]["template"]["metadata"]["labels"].items()
        )
        assert pod["serviceAccountName"] in accounts
        volumes = {v["name"] for v in pod["volumes"]}
        ports = []
        for container in pod["containers"]:
            assert {m["name"] for m in container["volumeMounts"]} <= volumes, container["name"]
            # Every container speaks to the driver on the one socket of the pod.
            endpoint = [a for a in container["args"] if a.startswith(("--csi-address=",
                        "--endpoint="))]  # fmt: skip
            assert endpoint and endpoint[0].endswith("/csi/csi.sock"), container["name"]
            assert container["image"].startswith("registry.k8s.io/"), container["image"]
            ports += [p["containerPort"] for p in container.get("ports", [])]
        assert len(ports) == len(set(ports)), "host-network pod with a port twice"
    (node,) = [w for w in workloads if w["kind"] == "DaemonSet"]
    pod = node["spec"]["template"]["spec"]
    plugin = {v["name"]: v for v in pod["volumes"]}["plugin-dir"]["hostPath"]["path"]
    (registrar,) = [c for c in pod["containers"] if c["name"] == "csi-driver-registrar"]
    assert f"--kubelet-registration-path={plugin}csi.sock" in registrar["args"]
    assert pod["tolerations"] == [{"operator": "Exists"}]
