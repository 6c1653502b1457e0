"""`generate` end to end through the CLI: inputs, precedence, errors, output files."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner, Result

from capi_sysext.cli import cli
from capi_sysext.cli import commands as _commands  # noqa: F401  (registers the commands)

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = str(REPO / "examples" / "azure.yaml")
BASE = ["generate", "--provider", "azure", "--k8s", "1.33", "--name", "demo", "--values", EXAMPLE]
AZURE_ENV = {
    "AZURE_SUBSCRIPTION_ID": "sub-from-env",
    "AZURE_TENANT_ID": "tenant-from-env",
    "AZURE_LOCATION": "northeurope",
    "AZURE_CLIENT_ID_USER_ASSIGNED_IDENTITY": "client-from-env",
    # WorkloadIdentity needs a VM identity for the cloud provider (clouds/azure.py).
    "USER_ASSIGNED_IDENTITY_NAME": "ccm-identity",
    "AZURE_USER_ASSIGNED_IDENTITY_RESOURCE_GROUP": "identities",
}


def run(args: list[str], env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(cli, args, env=env or {})


def docs(result: Result) -> list[dict]:  # type: ignore[type-arg]
    assert result.exit_code == 0, result.output
    return [d for d in yaml.safe_load_all(result.stdout) if d]


def by_kind(documents: list[dict], kind: str) -> dict:  # type: ignore[type-arg]
    return next(d for d in documents if d["kind"] == kind)


def assert_usage_error(result: Result, *needles: str) -> None:
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert result.stdout == ""
    for needle in needles:
        assert needle in result.stderr, f"{needle!r} not in:\n{result.stderr}"


# --- inputs and precedence -----------------------------------------------------------------------


def test_env_vars_clusterctl_users_export_are_honoured() -> None:
    result = run(["generate", "--provider", "azure", "--k8s", "1.33", "--name", "demo"], AZURE_ENV)
    cluster = by_kind(docs(result), "AzureCluster")
    assert cluster["spec"]["subscriptionID"] == "sub-from-env"
    assert cluster["spec"]["location"] == "northeurope"


def test_precedence_flag_over_set_over_values_over_env(tmp_path: Path) -> None:
    later = tmp_path / "later.yaml"
    later.write_text("azure:\n  location: from-later-file\n")
    env = {**AZURE_ENV, "CLUSTER_NAME": "from-env"}
    d = docs(run([*BASE, "--values", str(later)], env))
    assert by_kind(d, "AzureCluster")["spec"]["location"] == "from-later-file"  # values > env
    d = docs(run([*BASE, "--values", str(later), "--set", "azure.location=from-set"], env))
    assert by_kind(d, "AzureCluster")["spec"]["location"] == "from-set"  # --set > values
    d = docs(run([*BASE, "--set", "name=from-set"], env))
    assert by_kind(d, "Cluster")["metadata"]["name"] == "demo"  # flag > --set
    d = docs(run([*BASE[:-4], "--values", EXAMPLE], env))
    assert by_kind(d, "Cluster")["metadata"]["name"] == "demo"  # values > env (file has name)


def test_defaults_counts_and_version() -> None:
    d = docs(run(BASE))
    assert by_kind(d, "KubeadmControlPlane")["spec"]["replicas"] == 1
    assert by_kind(d, "MachineDeployment")["spec"]["replicas"] == 2
    assert by_kind(d, "KubeadmControlPlane")["spec"]["version"] == "v1.33.13"


@pytest.mark.parametrize("request_", ["v1.33.2", "1.33.2"])
def test_exact_published_patch_is_taken(request_: str) -> None:
    d = docs(run([*BASE, "--k8s", request_]))
    assert by_kind(d, "MachineDeployment")["spec"]["template"]["spec"]["version"] == "v1.33.2"


@pytest.mark.parametrize(("alias", "arch"), [("amd64", "x86-64"), ("aarch64", "arm64")])
def test_arch_aliases(alias: str, arch: str) -> None:
    clc = by_kind(docs(run([*BASE, "--arch", alias])), "KubeadmConfigTemplate")["spec"]["template"][
        "spec"
    ]["ignition"]["containerLinuxConfig"]["additionalConfig"]
    assert f"kubernetes-v1.33.13-{arch}.raw" in clc


# --- every input error: exit 2, names the fix, no traceback, nothing written ----------------------


def test_missing_required_values_are_reported_all_at_once() -> None:
    result = run(["generate", "--provider", "azure"])
    assert_usage_error(
        result,
        "missing required value kubernetesVersion",
        "flag --k8s, values key kubernetesVersion, env KUBERNETES_VERSION",
        "missing required value name",
        "flag --name, values key name, env CLUSTER_NAME",
        "values key azure.subscriptionID, env AZURE_SUBSCRIPTION_ID",
        "values key azure.tenantID, env AZURE_TENANT_ID",
        "values key azure.location, env AZURE_LOCATION",
        "env AZURE_CLIENT_ID_USER_ASSIGNED_IDENTITY",
    )
    assert "6 problems" in result.stderr


def test_missing_provider() -> None:
    assert_usage_error(
        run(["generate", "--k8s", "1.33"]), "missing required value provider", "flag --provider"
    )


@pytest.mark.parametrize(
    ("k8s", "needle"),
    [
        ("1.29", "no Kubernetes v1.29 sysext is published"),
        ("1.33.99", "v1.33.99 is not published for x86-64"),
        ("1.34.0", "nearest available: v1.34.1"),
        ("banana", "'banana' is not a Kubernetes version"),
    ],
)
def test_unpublished_versions_are_refused_with_what_is_available(k8s: str, needle: str) -> None:
    assert_usage_error(run([*BASE, "--k8s", k8s]), needle, "published for x86-64: v1.30")


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--arch", "ppc64le"], "--arch: must be one of x86-64, arm64"),
        (
            ["--flatcar-channel", "edge"],
            "--flatcar-channel: must be one of stable, beta, alpha, lts",
        ),
        (["--capi-api", "v1alpha4"], "--capi-api: must be one of v1beta2, v1beta1"),
        (["--control-plane-count", "2"], "must be odd so etcd keeps quorum"),
        (["--control-plane-count", "x"], "must be a whole number"),
        (["--worker-count", "-1"], "--worker-count: must be between 0 and 1000"),
        (["--name", "Demo_1"], "--name: must be a DNS-1123 label"),
        (["--namespace", "a" * 64], "--namespace: must be a DNS-1123 label"),
        (["--sysext-base-url", "ftp://x"], "must be an http:// or https:// URL"),
        (["--pod-cidr", "10.0.0.1/8"], "--pod-cidr: must be a CIDR block"),
        (["--pod-cidr", "10.96.0.0/16"], "overlaps the service network 10.96.0.0/12"),
        (["--service-cidr", "192.168.128.0/24"], "--pod-cidr or --service-cidr"),
        (["--flatcar-version", "4.5"], "must be 'latest' or a Flatcar release"),
        (["--set", "azure.locaton=x"], "unknown key azure.locaton (did you mean azure.location?)"),
        (["--set", "novalue"], "--set 'novalue' is not key=value"),
        (["--set", "azure.identity.type=Password"], "must be one of WorkloadIdentity"),
        (["--set", "azure.identity.type=ServicePrincipal"], "azure.identity.secretName"),
    ],
)
def test_bad_values_name_their_fix(args: list[str], needle: str) -> None:
    assert_usage_error(run([*BASE, *args]), needle)


def test_all_problems_from_all_sources_at_once(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("workers:\n  count: many\nazure:\n  bogus: 1\n")
    result = run([*BASE, "--values", str(bad), "--arch", "sparc", "--set", "x=1"])
    assert_usage_error(
        result,
        "values key workers.count in " + str(bad),
        "--arch: must be one of",
        "--set: unknown key x",
        f"values file {bad}: unknown key azure.bogus",
    )


def test_bad_values_files(tmp_path: Path) -> None:
    assert_usage_error(run([*BASE, "--values", str(tmp_path / "nope.yaml")]), "cannot read")
    broken = tmp_path / "broken.yaml"
    broken.write_text("a: [1,\n")
    assert_usage_error(run([*BASE, "--values", str(broken)]), f"{broken}: not valid YAML")
    listing = tmp_path / "list.yaml"
    listing.write_text("- 1\n")
    assert_usage_error(run([*BASE, "--values", str(listing)]), "top level must be a mapping")


def test_unreadable_values_file_is_the_only_problem_reported(tmp_path: Path) -> None:
    """The required values were probably in that file: "missing required value" is noise."""
    broken = tmp_path / "broken.yaml"
    broken.write_text("azure:\n  location: [westeurope\n")
    args = ["generate", "--provider", "azure", "--k8s", "1.33", "--name", "demo"]
    result = run([*args, "--values", str(broken)])
    assert_usage_error(result, f"{broken}: not valid YAML at line 3, column 1")
    assert "missing required value" not in result.stderr
    assert "<unicode string>" not in result.stderr
    result = run([*args, "--values", str(tmp_path / "nope.yaml")])
    assert_usage_error(result, "cannot read")
    assert "missing required value" not in result.stderr
    result = run(["generate", "--values", str(broken), "--list-variables"])
    assert_usage_error(result, "not valid YAML", "--list-variables needs the provider")


# --- output files --------------------------------------------------------------------------------


def test_output_file_refuses_overwrite_without_force(tmp_path: Path) -> None:
    target = tmp_path / "cluster.yaml"
    target.write_text("keep me\n")
    assert_usage_error(run([*BASE, "-o", str(target)]), "exists; refusing to overwrite", "--force")
    assert target.read_text() == "keep me\n"
    result = run([*BASE, "-o", str(target), "--force"])
    assert result.exit_code == 0, result.output
    assert target.read_text().startswith("---\napiVersion:")
    assert result.stdout == ""


def test_output_dir_gets_cluster_named_file(tmp_path: Path) -> None:
    result = run([*BASE, "-o", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "demo.yaml").read_text() == run(BASE).stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == ["demo.yaml"]  # no temp files left


def test_output_dir_file_is_named_after_the_resolved_cluster_name(tmp_path: Path) -> None:
    # The name comes from the values file here, not from --name.
    args = ["generate", "--provider", "azure", "--k8s", "1.33", "--values", EXAMPLE]
    result = run([*args, "-o", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["demo.yaml"]


def test_output_path_ending_in_slash_is_a_directory_even_if_missing(tmp_path: Path) -> None:
    missing = tmp_path / "clusters"
    assert_usage_error(run([*BASE, "-o", f"{missing}/"]), f"directory {missing} does not exist")
    assert list(tmp_path.iterdir()) == []  # not a file named 'clusters'
    missing.mkdir()
    result = run([*BASE, "-o", f"{missing}/"])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in missing.iterdir()) == ["demo.yaml"]


def test_failed_generation_writes_nothing(tmp_path: Path) -> None:
    target = tmp_path / "cluster.yaml"
    assert_usage_error(run([*BASE, "--k8s", "1.29", "-o", str(target)]), "1.29")
    assert list(tmp_path.iterdir()) == []


# --- what the node config must satisfy ---------------------------------------------------


def _clc_by_role(documents: list[dict]) -> dict[str, str]:  # type: ignore[type-arg]
    kcp = by_kind(documents, "KubeadmControlPlane")["spec"]["kubeadmConfigSpec"]
    kct = by_kind(documents, "KubeadmConfigTemplate")["spec"]["template"]["spec"]
    return {
        role: spec["ignition"]["containerLinuxConfig"]["additionalConfig"]
        for role, spec in (("control-plane", kcp), ("worker", kct))
    }


@pytest.mark.parametrize("arch", ["x86-64", "arm64"])
def test_additional_config_is_strict_clc_with_modes_and_under_32k(arch: str) -> None:
    from capi_sysext.clccheck import check_clc

    for role, clc in _clc_by_role(docs(run([*BASE, "--arch", arch]))).items():
        assert len(clc.encode()) < 32768, role
        parsed = yaml.safe_load(clc)  # YAML 1.1, as ct reads it
        assert all(isinstance(f["mode"], int) for f in parsed["storage"]["files"]), role
        assert check_clc(clc) == [], role


def test_no_envsubst_hazards_in_output() -> None:
    # clusterctl and Flux post-build substitution eat ${VAR} and $VAR; $( is harmless.
    text = run([*BASE, "--arch", "arm64"]).stdout
    assert not re.search(r"\$(\{|[A-Za-z_])", text)


def test_python_dash_m_and_no_traceback_on_error() -> None:
    ok = subprocess.run(
        [sys.executable, "-m", "capi_sysext", "--version"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert ok.returncode == 0 and "capi-sysext" in ok.stdout
    bad = subprocess.run(
        [
            sys.executable,
            "-m",
            "capi_sysext",
            "generate",
            "--provider",
            "azure",
            "--k8s",
            "1.29",
            "--offline",
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert bad.returncode == 2
    assert "Traceback" not in bad.stderr and bad.stderr.startswith("error:")


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--set", "azure.location=${REGION}"], "values key azure.location"),
        (["--sysext-base-url", "https://mirror/$PATH"], "--sysext-base-url"),
        (["--set", "ssh.authorizedKeys=ssh-ed25519 AAAA $USER@host"], "ssh.authorizedKeys"),
    ],
)
def test_user_values_cannot_smuggle_substitution_references(args: list[str], needle: str) -> None:
    result = run([*BASE, *args])
    assert_usage_error(result, needle, "which clusterctl and Flux substitute")


def test_ssh_keys_are_checked_and_land_on_the_core_user(tmp_path: Path) -> None:
    bad = run([*BASE, "--set", "ssh.authorizedKeys=my-laptop-key"])
    assert_usage_error(bad, "not an SSH public key", "ssh.authorizedKeys")
    key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB7v0vYwzM4aX9xH8aHq3vUo1D8w0H3T2PsgY1z0eG9a ops"
    kcp = by_kind(docs(run([*BASE, "--set", f"ssh.authorizedKeys={key}"])), "KubeadmControlPlane")
    assert kcp["spec"]["kubeadmConfigSpec"]["users"] == [
        {"name": "core", "sshAuthorizedKeys": [key]}
    ]


def test_render_node_unknown_provider_is_a_usage_error() -> None:
    result = run(["render-node", "--k8s", "1.33", "--provider", "openstack"])
    assert_usage_error(result, "--provider 'openstack' is not known", "use one of: azure, aws, gcp")


def test_default_networks_are_disjoint() -> None:
    # spec._network_problems skips the check (and the ipaddress import) for the defaults.
    import ipaddress

    from capi_sysext.spec import DEFAULT_POD_CIDR, DEFAULT_SERVICE_CIDR

    pods = ipaddress.ip_network(DEFAULT_POD_CIDR)
    assert not pods.overlaps(ipaddress.ip_network(DEFAULT_SERVICE_CIDR))


def test_cluster_only_values_do_not_break_render_node(tmp_path: Path) -> None:
    # healthChecks.* belongs to `generate`: render-node neither offers nor checks it, so one
    # values file serves both commands.
    values = tmp_path / "v.yaml"
    values.write_text('kubernetesVersion: "1.33"\nhealthChecks:\n  unhealthyNodeTimeout: 5m\n')
    result = run(["render-node", "--offline", "--values", str(values)])
    assert result.exit_code == 0, result.output
    assert "healthChecks" not in result.output


def test_the_same_cluster_only_value_is_checked_by_generate(tmp_path: Path) -> None:
    values = tmp_path / "v.yaml"
    values.write_text('kubernetesVersion: "1.33"\nhealthChecks:\n  unhealthyNodeTimeout: 5m\n')
    result = run(
        ["generate", "--offline", "--provider", "aws", "--name", "demo", "--values", str(values)],
        env={"AWS_REGION": "eu-central-1", "AWS_SSH_KEY_NAME": "k"},
    )
    assert result.exit_code == 2, result.output
    assert "healthChecks.unhealthyNodeTimeout (5m) must be longer than" in result.output
