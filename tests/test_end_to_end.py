"""The user's whole flow through the real CLI: generate | validate, and generate | apply against
the fake Kubernetes API server (tests/fake_kube_api.py: a test double on 127.0.0.1, not a
cluster)."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner
from crd_fixtures import crd_args
from fake_kube_api import FakeKubeAPIServer

from capi_sysext.cli import cli

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = str(REPO / "examples" / "azure.yaml")
GENERATE = ["generate", "--provider", "azure", "--k8s", "1.33", "--name", "demo",
            "--values", EXAMPLE, "--sysupdate", "--kured"]  # fmt: skip


def generated() -> str:
    result = CliRunner().invoke(cli, GENERATE)
    assert result.exit_code == 0, result.output
    return result.stdout


def test_generate_then_validate_against_the_real_crds() -> None:
    args = ["validate", "-", "--no-cache", *crd_args("azure")]
    result = CliRunner().invoke(cli, args, input=generated())
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[-1].startswith("valid: ")


def test_generate_then_apply_is_idempotent(capi_fake: FakeKubeAPIServer, tmp_path: Path) -> None:
    kubeconfig = capi_fake.write_kubeconfig(tmp_path / "kubeconfig")
    text = generated()
    first = CliRunner().invoke(cli, ["apply", "-f", "-", "--kubeconfig", str(kubeconfig)],
                               input=text)  # fmt: skip
    assert first.exit_code == 0, first.output
    assert first.stdout.splitlines()[-1].endswith(" 0 changed, 0 unchanged")
    assert capi_fake.get("cluster.x-k8s.io/v1beta2", "Cluster", "demo", "default") is not None
    again = CliRunner().invoke(cli, ["apply", "-f", "-", "--kubeconfig", str(kubeconfig)],
                               input=text)  # fmt: skip
    assert again.exit_code == 0, again.output
    assert again.stdout.splitlines()[-1].startswith("0 created, 0 changed, ")
