"""#15 item 1: machine templates and KubeadmConfigTemplates are named after their content, so
a changed spec is a new template that CAPI rolls onto, and re-applying the same output is a no-op.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from fake_kube_api import FakeKubeAPIServer

from capi_sysext import clouds
from capi_sysext.capi import MAX_NAME, content_name
from capi_sysext.cli import cli, commands  # noqa: F401  (registers the commands)
from capi_sysext.yamlio import load_all

REPO = Path(__file__).resolve().parent.parent

TEMPLATE_KINDS = {"AzureMachineTemplate", "AWSMachineTemplate", "GCPMachineTemplate",
                  "KubeadmConfigTemplate"}  # fmt: skip


@pytest.fixture(autouse=True)
def _in_repo() -> Iterator[None]:
    cwd = Path.cwd()
    os.chdir(REPO)
    try:
        yield
    finally:
        os.chdir(cwd)


def generate(provider: str, *args: str) -> str:
    result = CliRunner().invoke(cli, [
        "generate", "--provider", provider, "--k8s", "1.33", "--name", "demo", "--offline",
        "--values", f"examples/{provider}.yaml", *args])  # fmt: skip
    assert result.exit_code == 0, result.output
    return result.stdout


def docs(text: str) -> list[dict[str, Any]]:
    return load_all(text, "generate")  # type: ignore[no-any-return]


def names(text: str) -> dict[str, str]:
    return {d["kind"] + "/" + ("cp" if "control-plane" in d["metadata"]["name"] else "md"):
            d["metadata"]["name"] for d in docs(text) if d["kind"] in TEMPLATE_KINDS}  # fmt: skip


def refs(text: str) -> set[str]:
    """Every template name a KCP or MachineDeployment points at."""
    out = set()
    for d in docs(text):
        if d["kind"] == "KubeadmControlPlane":
            out.add(d["spec"]["machineTemplate"]["spec"]["infrastructureRef"]["name"])
        if d["kind"] == "MachineDeployment":
            t = d["spec"]["template"]["spec"]
            out |= {t["infrastructureRef"]["name"], t["bootstrap"]["configRef"]["name"]}
    return out


@pytest.mark.parametrize("provider", clouds.NAMES)
def test_template_names_follow_content_and_references_follow_names(provider: str) -> None:
    text = generate(provider)
    found = names(text)
    assert len(found) == 3  # two infrastructure machine templates and the KubeadmConfigTemplate
    for name in found.values():
        assert re.fullmatch(r"demo-(control-plane|md-0)-[0-9a-f]{8}", name), name
    assert refs(text) == set(found.values())
    assert generate(provider) == text  # same inputs, same names
    # The KCP's own kubeadmConfigSpec is rolled by KCP itself: its name stays put.
    assert {d["metadata"]["name"] for d in docs(text) if d["kind"] == "KubeadmControlPlane"} == {
        "demo-control-plane"
    }


def test_a_changed_spec_renames_only_what_changed() -> None:
    before = names(generate("azure"))
    after = names(generate("azure", "--set", "azure.nodeMachineType=Standard_D8s_v5"))
    assert after["AzureMachineTemplate/cp"] == before["AzureMachineTemplate/cp"]
    assert after["AzureMachineTemplate/md"] != before["AzureMachineTemplate/md"]
    # CAPZ names the cloud-config Secret after the machine template, so the workers' kubeadm
    # config (which reads <template>-azure-json) changes and is renamed too.
    assert after["KubeadmConfigTemplate/md"] != before["KubeadmConfigTemplate/md"]
    kct = next(d for d in docs(generate("azure")) if d["kind"] == "KubeadmConfigTemplate")
    secret = kct["spec"]["template"]["spec"]["files"][0]["contentFrom"]["secret"]["name"]
    assert secret == before["AzureMachineTemplate/md"] + "-azure-json"


def test_names_stay_within_63_characters() -> None:
    long = "c" * 50 + "-control-plane"
    name = content_name(long, {"a": 1})
    assert len(name) == MAX_NAME and re.fullmatch(r"c+-con-[0-9a-f]{8}", name)
    assert content_name("x-" * 40, {}).count("--") == 0
    # Two long bases cut to the same prefix still get distinct names.
    assert content_name("d" * 60 + "-md-0", {}) != content_name("d" * 60 + "-control-plane", {})
    assert content_name("demo-md-0", {"a": 1}) != content_name("demo-md-0", {"a": 2})
    assert content_name("demo-md-0", {"a": 1, "b": 2}) == content_name(
        "demo-md-0", {"b": 2, "a": 1}
    )


def apply(text: str, kubeconfig: Path) -> str:
    result = CliRunner().invoke(cli, ["apply", "-f", "-", "--kubeconfig", str(kubeconfig)],
                                input=text)  # fmt: skip
    assert result.exit_code == 0, result.output
    return result.stdout.splitlines()[-1]


def test_regenerate_with_a_new_machine_type_and_apply_twice(
    capi_fake: FakeKubeAPIServer, tmp_path: Path
) -> None:
    kubeconfig = capi_fake.write_kubeconfig(tmp_path / "kubeconfig")
    first = generate("azure")
    assert apply(first, kubeconfig).endswith(" 0 changed, 0 unchanged")
    second = generate("azure", "--set", "azure.nodeMachineType=Standard_D8s_v5")
    old, new = names(first), names(second)
    # New worker templates are created (the old ones stay for the machines still using them),
    # the MachineDeployment's references move; nothing immutable is updated in place.
    summary = apply(second, kubeconfig)
    assert summary.startswith("2 created, 1 changed, "), summary
    infra = "infrastructure.cluster.x-k8s.io/v1beta1"
    boot = "bootstrap.cluster.x-k8s.io/v1beta2"
    assert capi_fake.get(infra, "AzureMachineTemplate", new["AzureMachineTemplate/md"], "default")
    assert capi_fake.get(infra, "AzureMachineTemplate", old["AzureMachineTemplate/md"], "default")
    assert capi_fake.get(boot, "KubeadmConfigTemplate", new["KubeadmConfigTemplate/md"], "default")
    md = capi_fake.get("cluster.x-k8s.io/v1beta2", "MachineDeployment", "demo-md-0", "default")
    t = md["spec"]["template"]["spec"]
    assert t["infrastructureRef"]["name"] == new["AzureMachineTemplate/md"]
    assert t["bootstrap"]["configRef"]["name"] == new["KubeadmConfigTemplate/md"]
    # Re-applying unchanged output changes nothing.
    assert apply(second, kubeconfig).startswith("0 created, 0 changed, ")


@pytest.mark.parametrize("v1beta2", [False, True])
def test_a_new_control_plane_machine_template_is_named_in_either_api_version(
    v1beta2: bool,
) -> None:
    from capi_sysext.rollout import compare

    def kcp(template: str) -> dict[str, Any]:
        ref = {"infrastructureRef": {"kind": "AWSMachineTemplate", "name": template}}
        machine = {"spec": ref} if v1beta2 else ref
        return {
            "kind": "KubeadmControlPlane",
            "metadata": {"name": "cp"},
            "spec": {"machineTemplate": machine},
        }

    assert compare([kcp("t-1")], [kcp("t-2")]) == [
        "rolls control-plane machines: KubeadmControlPlane cp: machine template t-1 -> t-2"
    ]
