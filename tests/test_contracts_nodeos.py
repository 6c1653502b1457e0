"""Node-OS and control-plane contracts: kubeadm's control-plane wait and etcd quota, and the
validate rules of the updates / health-check features, over our output and hand-edited YAML."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from conftest import REPO, shared_reference

from capi_sysext.capi import CONTROL_PLANE_TIMEOUT_S, ETCD_QUOTA_BACKEND_BYTES
from capi_sysext.cli import cli, commands  # noqa: F401  (registers the commands)
from capi_sysext.yamlio import load_all

PROVIDERS = ("azure", "aws", "gcp")
CRD_DIRS = {
    "azure": "cluster-api-provider-azure",
    "aws": "cluster-api-provider-aws",
    "gcp": "cluster-api-provider-gcp",
}


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
    crds = shared_reference() / "crds"
    if not crds.is_dir():
        pytest.skip(f"shared reference CRDs not found at {crds}")
    args = ["validate", "-", "--no-cache"]
    for d in ("cluster-api", CRD_DIRS[provider], "cluster-api-addon-provider-helm"):
        args += ["--crds", str(crds / d)]
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
