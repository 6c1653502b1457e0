"""Node-OS and control-plane contracts: kubeadm's control-plane wait and etcd quota, and the
validate rules of the updates / health-check features, over our output and hand-edited YAML."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from crd_fixtures import crd_args

from capi_sysext import clouds
from capi_sysext.capi import CONTROL_PLANE_TIMEOUT_S, ETCD_QUOTA_BACKEND_BYTES
from capi_sysext.cli import cli, commands  # noqa: F401  (registers the commands)
from capi_sysext.contracts import SKIP_ANNOTATION, DocumentSet, Finding
from capi_sysext.features import healthchecks, kuredscan, updates
from capi_sysext.plugins import registered
from capi_sysext.yamlio import dump_all, load_all

PROVIDERS = clouds.NAMES
REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _in_repo() -> Iterator[None]:
    cwd = Path.cwd()
    os.chdir(REPO)
    try:
        yield
    finally:
        os.chdir(cwd)


def generate(provider: str, *args: str) -> str:
    cmd = ["generate", "--provider", provider, "--name", "demo", "--offline",
           "--values", f"examples/{provider}.yaml", *args]  # fmt: skip
    if "--k8s" not in args:
        cmd += ["--k8s", "1.33"]
    result = CliRunner().invoke(cli, cmd)
    assert result.exit_code == 0, result.output
    return result.stdout


def by_kind(text: str, kind: str) -> dict[str, Any]:
    (doc,) = [d for d in load_all(text, "generate") if d["kind"] == kind]
    return doc


def validate(text: str, provider: str) -> Any:
    args = ["validate", "-", "--no-cache", *crd_args(provider)]
    return CliRunner().invoke(cli, args, input=text)


# ---- kubeadm: control-plane wait and etcd quota -----------------------------------------------


@pytest.mark.parametrize("provider", PROVIDERS)
def test_control_plane_wait_and_etcd_quota_v1beta2(provider: str) -> None:
    spec = by_kind(generate(provider), "KubeadmControlPlane")["spec"]["kubeadmConfigSpec"]
    for phase in ("initConfiguration", "joinConfiguration"):
        assert spec[phase]["timeouts"] == {
            "controlPlaneComponentHealthCheckSeconds": CONTROL_PLANE_TIMEOUT_S
        }
    local = spec["clusterConfiguration"]["etcd"]["local"]
    assert local["extraArgs"] == [
        {"name": "quota-backend-bytes", "value": str(ETCD_QUOTA_BACKEND_BYTES)}
    ]
    assert CONTROL_PLANE_TIMEOUT_S == 1200 and ETCD_QUOTA_BACKEND_BYTES == 8589934592
    if provider == "azure":  # CAPZ's etcd data disk survives the merge
        assert local["dataDir"] == "/var/lib/etcddisk/etcd"


@pytest.mark.parametrize("provider", PROVIDERS)
def test_control_plane_wait_and_etcd_quota_v1beta1(provider: str) -> None:
    text = generate(provider, "--capi-api", "v1beta1")
    spec = by_kind(text, "KubeadmControlPlane")["spec"]["kubeadmConfigSpec"]
    cluster = spec["clusterConfiguration"]
    assert cluster["apiServer"] == {"timeoutForControlPlane": "20m"}
    assert cluster["etcd"]["local"]["extraArgs"] == {"quota-backend-bytes": "8589934592"}
    assert "timeouts" not in spec["initConfiguration"]
    # Workers run no control plane: their template carries neither.
    worker = by_kind(text, "KubeadmConfigTemplate")["spec"]["template"]["spec"]
    assert "clusterConfiguration" not in worker


# ---- every provider's output, in the shapes the issue names, validates with every rule --------


OUTPUT_CASES = [(), ("--cni", "cilium"), ("--k8s", "1.35"), ("--capi-api", "v1beta1"),
                ("--kured", "--sysupdate"), ("--os-updates", "reboot")]  # fmt: skip


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize("args", OUTPUT_CASES, ids=lambda a: " ".join(a) or "defaults")
def test_our_output_validates_strictly_with_all_rules(provider: str, args: tuple[str, ...]) -> None:
    result = validate(generate(provider, *args), provider)
    assert result.exit_code == 0, result.output


# ---- rule: OS updates that reboot nodes undrained ---------------------------------------------


def rule_findings(docs: list[dict[str, Any]], rule: str) -> list[Finding]:
    from capi_sysext import features

    found = [
        f
        for feat in features.all_features()
        for f in feat.check_documents(DocumentSet(docs), registered().owners)
    ]
    return [f for f in found if f.rule == rule]


def _clc_of(doc: dict[str, Any]) -> dict[str, Any]:
    spec = doc["spec"].get("kubeadmConfigSpec") or doc["spec"]["template"]["spec"]
    return spec["ignition"]["containerLinuxConfig"]  # type: ignore[no-any-return]


def unmask(docs: list[dict[str, Any]], *names: str) -> None:
    """Hand-edit every node config so the named units are no longer masked."""
    for doc in docs:
        if doc["kind"] in ("KubeadmControlPlane", "KubeadmConfigTemplate"):
            holder = _clc_of(doc)
            clc = load_all(holder["additionalConfig"], "clc")[0]
            units = clc["systemd"]["units"]
            clc["systemd"]["units"] = [u for u in units if u["name"] not in names]
            holder["additionalConfig"] = dump_all([clc])


def docs_of(provider: str, *args: str) -> list[dict[str, Any]]:
    return load_all(generate(provider, *args), "generate")  # type: ignore[no-any-return]


def test_undrained_os_reboots_are_found_without_kured() -> None:
    docs = docs_of("azure")
    assert not rule_findings(docs, updates.RULE_UNDRAINED)
    unmask(docs, "update-engine.service", "locksmithd.service")
    found = rule_findings(docs, updates.RULE_UNDRAINED)
    kinds = {docs[f.position]["kind"]: f for f in found}
    assert set(kinds) == {"KubeadmControlPlane", "KubeadmConfigTemplate"}
    kcp = kinds["KubeadmControlPlane"]
    assert kcp.path == "$.spec.kubeadmConfigSpec.ignition.containerLinuxConfig.additionalConfig"
    assert "--os-updates off" in kcp.message and "no Kured" in kcp.message
    kct = kinds["KubeadmConfigTemplate"]
    assert kct.path == "$.spec.template.spec.ignition.containerLinuxConfig.additionalConfig"


def test_undrained_os_reboots_with_kured_name_locksmithd() -> None:
    docs = docs_of("aws", "--kured")
    assert not rule_findings(docs, updates.RULE_UNDRAINED)  # update-engine on, locksmithd masked
    unmask(docs, "locksmithd.service")
    (first, *_rest) = rule_findings(docs, updates.RULE_UNDRAINED)
    assert "locksmithd.service is not masked" in first.message


def test_undrained_os_reboots_other_ways_to_stop_them() -> None:
    docs = docs_of("gcp")
    unmask(docs, "update-engine.service", "locksmithd.service")
    for doc in docs:  # Flatcar's documented alternative: SERVER=disabled in update.conf
        if doc["kind"] in ("KubeadmControlPlane", "KubeadmConfigTemplate"):
            holder = _clc_of(doc)
            clc = load_all(holder["additionalConfig"], "clc")[0]
            clc["storage"]["files"].append(
                {
                    "path": "/etc/flatcar/update.conf",
                    "filesystem": "root",
                    "mode": 0o644,
                    "contents": {"inline": "SERVER=disabled\n"},
                }
            )
            holder["additionalConfig"] = dump_all([clc])
    assert not rule_findings(docs, updates.RULE_UNDRAINED)


def test_undrained_os_reboots_can_be_accepted_on_the_cluster() -> None:
    docs = docs_of("azure")
    unmask(docs, "update-engine.service", "locksmithd.service")
    (cluster,) = [d for d in docs if d["kind"] == "Cluster"]
    cluster["metadata"]["annotations"] = {SKIP_ANNOTATION: f"other, {updates.RULE_UNDRAINED}"}
    assert not rule_findings(docs, updates.RULE_UNDRAINED)
    # --os-updates reboot records that choice itself, so its own output validates.
    reboot = docs_of("azure", "--os-updates", "reboot")
    (cluster,) = [d for d in reboot if d["kind"] == "Cluster"]
    assert cluster["metadata"]["annotations"] == {SKIP_ANNOTATION: updates.RULE_UNDRAINED}
    assert not rule_findings(reboot, updates.RULE_UNDRAINED)
    assert "annotations" not in by_kind(generate("azure"), "Cluster")["metadata"]


def test_undrained_os_reboots_reported_by_validate() -> None:
    docs = docs_of("azure")
    unmask(docs, "update-engine.service", "locksmithd.service")
    result = validate(dump_all(docs), "azure")
    assert result.exit_code == 1, result.output
    assert f"[{updates.RULE_UNDRAINED}]" in result.output
    assert "KubeadmControlPlane" in result.output


# ---- rule: MachineHealthChecks shorter than a Kured drain plus a reboot -----------------------


def _set_mhc_timeout(docs: list[dict[str, Any]], value: int | str) -> None:
    for doc in docs:
        if doc["kind"] == "MachineHealthCheck":
            spec = doc["spec"]
            if "checks" in spec:
                for c in spec["checks"]["unhealthyNodeConditions"]:
                    c["timeoutSeconds"] = value
            else:
                for c in spec["unhealthyConditions"]:
                    c["timeout"] = value


def test_short_health_check_with_kured_is_found_v1beta2() -> None:
    docs = docs_of("azure", "--kured")
    assert not rule_findings(docs, healthchecks.RULE_REBOOT_TIMEOUT)  # 1h > 30m + 10m
    _set_mhc_timeout(docs, 1800)
    found = rule_findings(docs, healthchecks.RULE_REBOOT_TIMEOUT)
    assert len(found) == 4  # two MHCs, Ready=False and Ready=Unknown each
    assert found[0].path == "$.spec.checks.unhealthyNodeConditions[0].timeoutSeconds"
    assert "--health-check-node-timeout" in found[0].message and "40m" in found[0].message


def test_short_health_check_with_kured_is_found_v1beta1_and_follows_the_drain() -> None:
    docs = docs_of("gcp", "--kured", "--capi-api", "v1beta1", "--kured-drain-timeout", "2h",
                   "--health-check-node-timeout", "3h")  # fmt: skip
    assert not rule_findings(docs, healthchecks.RULE_REBOOT_TIMEOUT)
    _set_mhc_timeout(docs, "2h")  # longer than our default, shorter than this Kured's drain
    found = rule_findings(docs, healthchecks.RULE_REBOOT_TIMEOUT)
    assert found and found[0].path == "$.spec.unhealthyConditions[0].timeout"


def test_short_health_check_without_kured_or_skipped_is_fine() -> None:
    docs = docs_of("aws")
    _set_mhc_timeout(docs, 600)
    assert not rule_findings(docs, healthchecks.RULE_REBOOT_TIMEOUT)  # nothing reboots nodes
    docs = docs_of("aws", "--kured")
    _set_mhc_timeout(docs, 600)
    (cluster,) = [d for d in docs if d["kind"] == "Cluster"]
    cluster["metadata"]["annotations"] = {SKIP_ANNOTATION: healthchecks.RULE_REBOOT_TIMEOUT}
    assert not rule_findings(docs, healthchecks.RULE_REBOOT_TIMEOUT)


def test_kured_is_found_however_it_is_delivered() -> None:
    assert kuredscan.kured_in(DocumentSet(docs_of("azure"))) == []
    assert kuredscan.kured_in(DocumentSet(docs_of("azure", "--kured"))) == [1800]
    daemonset = {"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "k"},
                 "spec": {"template": {"spec": {"containers": [
                     {"name": "k", "image": "ghcr.io/kubereboot/kured:1.23.0",
                      "env": [{"name": "KURED_DRAIN_TIMEOUT", "value": "1h"}]}]}}}}  # fmt: skip
    hcp = {"apiVersion": "addons.cluster.x-k8s.io/v1alpha1", "kind": "HelmChartProxy",
           "spec": {"chartName": "kured"}}  # fmt: skip
    assert kuredscan.kured_in(DocumentSet([daemonset, hcp])) == [3600, None]
