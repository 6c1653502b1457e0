"""`generate --format clusterctl-template`: the template, run through clusterctl's rules
(tests/envsubst.py) with sample values, is a cluster that validates strictly."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from crd_fixtures import store
from envsubst import list_variables, substitute

from capi_sysext.cli import cli
from capi_sysext.cli import commands as _commands  # noqa: F401  (registers the commands)
from capi_sysext.plugins import registered
from capi_sysext.validate import validate_documents

REPO = Path(__file__).resolve().parent.parent
SAMPLES = {
    "azure": {
        "AZURE_SUBSCRIPTION_ID": "00000000-0000-0000-0000-000000000001",
        "AZURE_TENANT_ID": "00000000-0000-0000-0000-000000000002",
        "AZURE_LOCATION": "westeurope",
        "AZURE_CLIENT_ID_USER_ASSIGNED_IDENTITY": "00000000-0000-0000-0000-000000000003",
        "AZURE_CONTROL_PLANE_MACHINE_TYPE": "Standard_D2s_v3",
        "AZURE_NODE_MACHINE_TYPE": "Standard_D4s_v3",
    },
    "aws": {
        "AWS_REGION": "eu-central-1",
        "AWS_SSH_KEY_NAME": "default",
        "AWS_CONTROL_PLANE_MACHINE_TYPE": "t3.large",
        "AWS_NODE_MACHINE_TYPE": "t3.xlarge",
    },
    "gcp": {
        "GCP_PROJECT": "my-project",
        "GCP_REGION": "europe-west4",
        "GCP_CONTROL_PLANE_MACHINE_TYPE": "n2-standard-2",
        "GCP_NODE_MACHINE_TYPE": "n2-standard-4",
    },
}


def template(provider: str) -> str:
    args = ["generate", "--provider", provider, "--k8s", "1.33", "--offline"]
    args += ["--values", str(REPO / "examples" / f"{provider}.yaml")]
    result = CliRunner().invoke(cli, [*args, "--format", "clusterctl-template"])
    assert result.exit_code == 0, result.output
    return result.stdout


@pytest.mark.parametrize("provider", sorted(SAMPLES))
def test_template_substitutes_to_a_valid_cluster(provider: str) -> None:
    text = template(provider)
    assert text.startswith("# clusterctl template made by capi-sysext")
    listed = list_variables(text)
    common = ["CLUSTER_NAME", "NAMESPACE", "CONTROL_PLANE_MACHINE_COUNT", "WORKER_MACHINE_COUNT"]
    assert sorted(listed) == sorted([*common, *SAMPLES[provider]])
    assert all(default is None for default in listed.values())
    values = {
        "CLUSTER_NAME": "123",  # a name YAML would read as a number stays a string
        "NAMESPACE": "team-a",
        "CONTROL_PLANE_MACHINE_COUNT": "3",
        "WORKER_MACHINE_COUNT": "4",
        **SAMPLES[provider],
    }
    cluster = substitute(text, values)
    docs = [d for d in yaml.safe_load_all(cluster) if d]
    kcp = next(d for d in docs if d["kind"] == "KubeadmControlPlane")
    assert kcp["spec"]["replicas"] == 3
    assert next(d for d in docs if d["kind"] == "MachineDeployment")["spec"]["replicas"] == 4
    assert next(d for d in docs if d["kind"] == "Cluster")["metadata"]["name"] == "123"
    assert all(d["metadata"].get("namespace") in ("team-a", None) for d in docs)
    assert "capisysextvar" not in cluster and "$$" not in cluster
    report = validate_documents([("substituted.yaml", cluster)], store(), registered())
    assert report.ok, report.lines()


def test_template_with_fleet_is_refused(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text("name: a\n")
    args = ["generate", "--provider", "aws", "--fleet", str(tmp_path), "-o", str(tmp_path)]
    result = CliRunner().invoke(cli, [*args, "--format", "clusterctl-template"])
    assert result.exit_code == 2 and "does not go with --fleet" in result.stderr


def test_values_the_template_replaces_are_named_in_warnings(tmp_path: Path) -> None:
    values = tmp_path / "v.yaml"
    values.write_text("workers:\n  count: 5\nnamespace:\n")  # an empty key is unset
    args = ["generate", "--provider", "aws", "--k8s", "1.33", "--offline", "--name", "web"]
    args += ["--values", str(REPO / "examples" / "aws.yaml"), "--values", str(values)]
    args += ["--set", "aws.region=us-east-1", "--format", "clusterctl-template"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    err = " ".join(result.stderr.split())
    assert (
        "--name is not used: the template has ${CLUSTER_NAME} in its place, which clusterctl "
        "fills in from the NAME argument of `clusterctl generate cluster`" in err
    )
    assert "--set aws.region is not used: the template has ${AWS_REGION} in its place" in err
    assert "from the environment variable AWS_REGION" in err
    assert f"values key workers.count in {values} is not used" in err
    assert "${WORKER_MACHINE_COUNT} in its place, which clusterctl fills in from " in err
    assert "${NAMESPACE}" not in err
    assert "us-east-1" not in result.stdout and "${AWS_REGION}" in result.stdout


def test_no_warning_when_nothing_templated_was_set() -> None:
    args = ["generate", "--provider", "gcp", "--k8s", "1.33", "--offline"]
    args += ["--format", "clusterctl-template"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert "is not used" not in result.stderr


@pytest.mark.parametrize("how", ["values file", "--set"])
def test_a_provider_not_given_by_flag_still_gets_a_template(tmp_path: Path, how: str) -> None:
    values = tmp_path / "v.yaml"
    values.write_text(
        ("provider: gcp\n" if how == "values file" else "")
        + "name: demo\ngcp:\n  project: p1\n  region: europe-west4\n"
    )
    args = ["generate", "--k8s", "1.33", "--offline", "--values", str(values)]
    args += ["--set", "provider=gcp"] if how == "--set" else []
    result = CliRunner(env={"CAPI_SYSEXT_PROVIDER": ""}).invoke(
        cli, [*args, "--format", "clusterctl-template"]
    )
    assert result.exit_code == 0, result.output
    assert "${CLUSTER_NAME}" in result.stdout and "${GCP_PROJECT}" in result.stdout
    assert "p1" not in result.stdout
    assert f"values key gcp.project in {values} is not used" in " ".join(result.stderr.split())


def test_a_marker_left_in_the_output_is_an_error_not_a_template(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # If a templated value reached the output in a form the writer does not replace (say,
    # inside text it did not walk), no template with a stray marker is written.
    import re

    from capi_sysext.writers import clusterctl_template

    monkeypatch.setattr(clusterctl_template, "_TOKEN", re.compile("(?!)"))
    args = ["generate", "--provider", "gcp", "--k8s", "1.33", "--offline"]
    result = CliRunner().invoke(cli, [*args, "--format", "clusterctl-template"])
    assert result.exit_code != 0 and result.stdout == ""
    assert "a templated value reached the output in a form it cannot replace" in result.stderr
    assert "Traceback" not in result.output
