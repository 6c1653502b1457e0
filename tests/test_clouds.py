"""Providers: AWS (CAPA) and GCP (CAPG) next to Azure.

- every golden document validates strictly against the pinned CRDs (tests/crd_fixtures.py);
- the node-name preKubeadmCommands work when run by a real shell (scratch copies of the files);
- negative CLI cases exit 2, name the fix and print no traceback;
- --list-variables works without any credentials.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner
from crd_fixtures import crd_errors

from capi_sysext import clouds
from capi_sysext.capi import NODE_NAME_PLACEHOLDER
from capi_sysext.catalog import Catalog, Image, Version
from capi_sysext.cli import cli, commands  # noqa: F401  (registers the commands)
from capi_sysext.generate import generate, render_node
from capi_sysext.inputs import RawInputs
from capi_sysext.specbuild import build_cluster_spec, build_node_spec

REPO = Path(__file__).resolve().parent.parent
GOLDEN = REPO / "tests" / "golden"

AWS_ENV = {"AWS_REGION": "eu-central-1", "AWS_SSH_KEY_NAME": "default"}
# clusterawsadm's IAM policy only allows bucket names with this prefix (providers/aws.yaml).
BUCKET = "cluster-api-provider-aws-x"
AWS_ARGS = ["generate", "--provider", "aws", "--k8s", "1.33", "--name", "demo"]
GCP_ARGS = ["generate", "--provider", "gcp", "--k8s", "1.33", "--name", "demo"]
GCP_ENV = {"GCP_PROJECT": "p", "GCP_REGION": "europe-west4", "GCP_NETWORK_NAME": "default"}


# Every generated golden document is validated strictly in test_validate.py.


def test_strict_validation_catches_a_typo() -> None:
    doc = next(yaml.safe_load_all((GOLDEN / "aws-x86-64-v1beta2.out").read_text()))
    doc["spec"]["s3Buckett"] = {"name": "x"}
    assert any("s3Buckett" in e for e in crd_errors(doc))


@pytest.mark.parametrize(
    ("provider", "arches"), [("aws", {"x86-64", "arm64"}), ("gcp", {"x86-64"})]
)
def test_golden_cases_cover_both_capi_shapes_and_arches(provider: str, arches: set[str]) -> None:
    for arch in arches:
        for api in ("v1beta2", "v1beta1"):
            assert (GOLDEN / f"{provider}-{arch}-{api}.out").is_file()


# --- node name: the exact preKubeadmCommands, run by a real shell -------------------------------

KUBEADM_YML = f"""\
apiVersion: kubeadm.k8s.io/v1beta4
kind: JoinConfiguration
nodeRegistration:
  name: {NODE_NAME_PLACEHOLDER}
  kubeletExtraArgs:
  - name: cloud-provider
    value: external
"""


def _run_node_name_commands(
    provider: str, metadata: str, tmp_path: Path
) -> tuple[subprocess.CompletedProcess[str], str]:
    meta = tmp_path / "run" / "metadata" / "flatcar"
    meta.parent.mkdir(parents=True)
    meta.write_text(metadata)
    kubeadm = tmp_path / "etc" / "kubeadm.yml"
    kubeadm.parent.mkdir(parents=True)
    kubeadm.write_text(KUBEADM_YML)
    commands_ = clouds.get(provider).node_name_commands()
    # Path rewrite in the test only: the product commands name the real paths.
    script = "\n".join(
        c.replace("/run/metadata/flatcar", str(meta)).replace("/etc/kubeadm.yml", str(kubeadm))
        for c in commands_
    )
    # CABPK's kubeadm.sh runs the commands with `set -e`.
    proc = subprocess.run(
        ["bash", "-ec", script], capture_output=True, text=True, check=False, timeout=30
    )
    return proc, kubeadm.read_text()


@pytest.mark.parametrize(
    ("provider", "metadata", "expected"),
    [
        (
            "aws",
            "COREOS_EC2_INSTANCE_ID=i-0abc\nCOREOS_EC2_HOSTNAME=ip-10-0-1-23.eu-central-1."
            "compute.internal\nCOREOS_EC2_REGION=eu-central-1\n",
            "ip-10-0-1-23.eu-central-1.compute.internal",
        ),
        (
            "gcp",
            "COREOS_GCE_HOSTNAME=demo-md-0-x7k2p.europe-west4-a.c.my-project.internal\n"
            "COREOS_GCE_IP_LOCAL_0=10.0.0.5\n",
            "demo-md-0-x7k2p",
        ),
        ("gcp", "COREOS_GCE_HOSTNAME=plain-name\n", "plain-name"),
    ],
)
def test_node_name_commands_fill_in_the_name(
    provider: str, metadata: str, expected: str, tmp_path: Path
) -> None:
    proc, text = _run_node_name_commands(provider, metadata, tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert NODE_NAME_PLACEHOLDER not in text
    assert f"  name: {expected}\n" in text
    assert yaml.safe_load(text)["nodeRegistration"]["name"] == expected


@pytest.mark.parametrize("provider", ["aws", "gcp"])
@pytest.mark.parametrize("metadata", ["", "COREOS_EC2_HOSTNAME=\nCOREOS_GCE_HOSTNAME=\n"])
def test_node_name_commands_fail_without_a_name(
    provider: str, metadata: str, tmp_path: Path
) -> None:
    proc, text = _run_node_name_commands(provider, metadata, tmp_path)
    assert proc.returncode != 0
    assert NODE_NAME_PLACEHOLDER in text  # kubeadm never runs with an empty name


@pytest.mark.parametrize("provider", clouds.NAMES)
def test_node_name_commands_survive_clusterctl_envsubst(provider: str) -> None:
    for command in clouds.get(provider).node_name_commands():
        assert not re.search(r"\$\{|\$[A-Za-z_]", command), command


# --- render-node --provider (the boot tests use these node configs) -------------------------------


@pytest.mark.parametrize("provider", ["aws", "gcp"])
@pytest.mark.parametrize("fmt", ["clc", "butane", "ignition"])
def test_render_node_with_provider(provider: str, fmt: str) -> None:
    result = CliRunner().invoke(
        cli, ["render-node", "--provider", provider, "--k8s", "1.33", "--format", fmt]
    )
    assert result.exit_code == 0, result.output
    assert "coreos-metadata.service" in result.stdout
    assert f"20-{provider}.conf" in result.stdout
    if fmt == "ignition":
        cfg = json.loads(result.stdout)
        unit = next(u for u in cfg["systemd"]["units"] if u["name"] == "kubeadm.service")
        dropin = next(d for d in unit["dropins"] if d["name"] == f"20-{provider}.conf")
        assert "After=coreos-metadata.service" in dropin["contents"]
        assert "Requires=coreos-metadata.service" in dropin["contents"]


def test_render_node_arm64_aws() -> None:
    result = CliRunner().invoke(
        cli, ["render-node", "--provider", "aws", "--k8s", "1.33", "--arch", "arm64"]
    )
    assert result.exit_code == 0, result.output
    assert "-arm64.raw" in result.stdout
    assert "x86-64" not in result.stdout


# --- arch: URL and hash per arch ------------------------------------------------------------------

_SHA = {"x86-64": "a" * 64, "arm64": "b" * 64}


def _catalog() -> Catalog:
    return Catalog.from_images(
        [Image(Version(1, 33, 2), arch, sha) for arch, sha in _SHA.items()], "test"
    )


def _spec(provider: str, env: dict[str, str], *args: str) -> Any:
    flags = {"provider": provider, "kubernetesVersion": "1.33", "name": "demo"}
    sets = list(args)
    return build_cluster_spec(RawInputs(flags=flags, sets=sets, env=env), lambda p: None)


@pytest.mark.parametrize(
    ("provider", "env"),
    [("aws", {**AWS_ENV, "AWS_S3_BUCKET_NAME": BUCKET}), ("azure", None), ("gcp", GCP_ENV)],
)
@pytest.mark.parametrize("arch", ["x86-64", "arm64"])
def test_sysext_url_and_hash_follow_the_arch(
    provider: str, env: dict[str, str] | None, arch: str
) -> None:
    if provider == "azure":
        env = {
            "AZURE_SUBSCRIPTION_ID": "s",
            "AZURE_TENANT_ID": "t",
            "AZURE_LOCATION": "westeurope",
            "AZURE_CLIENT_ID_USER_ASSIGNED_IDENTITY": "c",
            "USER_ASSIGNED_IDENTITY_NAME": "ccm-identity",
            "AZURE_USER_ASSIGNED_IDENTITY_RESOURCE_GROUP": "identities",
        }
    if arch not in clouds.get(provider).arches:
        pytest.skip(f"{provider} has no {arch}")
    assert env is not None
    spec = _spec(provider, env, f"arch={arch}")
    text = yaml.safe_dump_all(generate(spec, _catalog()).documents)
    other = next(a for a in _SHA if a != arch)
    assert f"kubernetes-v1.33.2-{arch}.raw" in text
    assert _SHA[arch] in text
    assert _SHA[other] not in text
    assert f"-{other}.raw" not in text


def test_render_node_hash_follows_the_arch() -> None:
    node, _ = build_node_spec(
        RawInputs(flags={"kubernetesVersion": "1.33", "arch": "arm64"}), lambda p: None
    )
    text = render_node(node, "worker", "ignition", _catalog(), "aws").text
    assert _SHA["arm64"] in text
    assert _SHA["x86-64"] not in text


# --- AWS specifics --------------------------------------------------------------------------------


def _docs(result: Any) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for d in yaml.safe_load_all(result.stdout):
        if d:
            out.setdefault(d["kind"], []).append(d)
    return out


def test_aws_ami_id_pins_the_image() -> None:
    env = {**AWS_ENV, "AWS_S3_BUCKET_NAME": BUCKET}
    result = CliRunner().invoke(cli, [*AWS_ARGS, "--ami-id", "ami-0123456789abcdef0"], env=env)
    assert result.exit_code == 0, result.output
    for t in _docs(result)["AWSMachineTemplate"]:
        spec = t["spec"]["template"]["spec"]
        assert spec["ami"] == {"id": "ami-0123456789abcdef0"}
        assert "imageLookupFormat" not in spec
    assert "no --ami-id" not in result.stderr


def test_aws_image_lookup_per_channel_arch_and_version() -> None:
    env = {**AWS_ENV, "AWS_S3_BUCKET_NAME": BUCKET}
    args = [*AWS_ARGS, "--arch", "arm64", "--flatcar-channel", "lts"]
    result = CliRunner().invoke(cli, [*args, "--flatcar-version", "4081.3.6"], env=env)
    assert result.exit_code == 0, result.output
    spec = _docs(result)["AWSMachineTemplate"][0]["spec"]["template"]["spec"]
    assert spec["imageLookupFormat"] == "Flatcar-lts-4081.3.6-arm64-hvm"
    assert spec["imageLookupOrg"] == "075585003325"
    assert spec["instanceType"] == "t4g.large"


def test_aws_says_which_gates_it_needs() -> None:
    env = {**AWS_ENV, "AWS_S3_BUCKET_NAME": BUCKET}
    result = CliRunner().invoke(cli, AWS_ARGS, env=env)
    assert result.exit_code == 0, result.output
    assert "KubeadmBootstrapFormatIgnition" in result.stderr
    assert "BootstrapFormatIgnition in capa-system/capa-controller-manager" in result.stderr
    assert "EXP_BOOTSTRAP_FORMAT_IGNITION=true" in result.stderr


def test_aws_unencrypted_user_data_without_bucket() -> None:
    result = CliRunner().invoke(
        cli, [*AWS_ARGS, "--set", "aws.ignition.storageType=UnencryptedUserData"], env=AWS_ENV
    )
    assert result.exit_code == 0, result.output
    docs = _docs(result)
    assert "s3Bucket" not in docs["AWSCluster"][0]["spec"]
    for t in docs["AWSMachineTemplate"]:
        assert t["spec"]["template"]["spec"]["ignition"] == {"storageType": "UnencryptedUserData"}
    assert "UnencryptedUserData" in result.stderr  # the warning
    assert all(not e for d in yaml.safe_load_all(result.stdout) if d for e in [crd_errors(d)])


def test_machine_types_overridable_by_env_and_flag_precedence() -> None:
    env = {
        **AWS_ENV,
        "AWS_S3_BUCKET_NAME": BUCKET,
        "AWS_CONTROL_PLANE_MACHINE_TYPE": "m6i.xlarge",
        "AWS_NODE_MACHINE_TYPE": "m6i.large",
    }
    result = CliRunner().invoke(cli, AWS_ARGS, env=env)
    assert result.exit_code == 0, result.output
    types = [
        t["spec"]["template"]["spec"]["instanceType"] for t in _docs(result)["AWSMachineTemplate"]
    ]
    assert types == ["m6i.xlarge", "m6i.large"]


# --- GCP specifics --------------------------------------------------------------------------------


def test_gcp_image_family_and_pinned_image() -> None:
    result = CliRunner().invoke(cli, [*GCP_ARGS, "--flatcar-channel", "beta"], env=GCP_ENV)
    assert result.exit_code == 0, result.output
    spec = _docs(result)["GCPMachineTemplate"][0]["spec"]["template"]["spec"]
    assert spec["imageFamily"] == "projects/kinvolk-public/global/images/family/flatcar-beta"
    result = CliRunner().invoke(cli, [*GCP_ARGS, "--flatcar-version", "4459.2.1"], env=GCP_ENV)
    assert result.exit_code == 0, result.output
    spec = _docs(result)["GCPMachineTemplate"][0]["spec"]["template"]["spec"]
    assert spec["image"] == "projects/kinvolk-public/global/images/flatcar-stable-4459-2-1"
    assert "imageFamily" not in spec


# --- --list-variables without credentials ---------------------------------------------------------


@pytest.mark.parametrize(
    ("provider", "required", "optional"),
    [
        (
            "aws",
            ["AWS_REGION", "AWS_SSH_KEY_NAME"],
            [
                "AWS_S3_BUCKET_NAME",
                "--ami-id",
                "AWS_CONTROL_PLANE_MACHINE_TYPE",
                "AWS_NODE_MACHINE_TYPE",
                "default: ClusterObjectStore",
            ],
        ),
        (
            "gcp",
            ["GCP_PROJECT", "GCP_REGION"],
            # Optional: unset, CAPG creates <name>-network with Cloud NAT (clouds/gcp.py).
            ["GCP_NETWORK_NAME", "GCP_PUBLIC_IP", "GCP_CONTROL_PLANE_MACHINE_TYPE"],
        ),
    ],
)
def test_list_variables_without_credentials(
    provider: str, required: list[str], optional: list[str]
) -> None:
    result = CliRunner().invoke(cli, ["generate", "--provider", provider, "--list-variables"])
    assert result.exit_code == 0, result.output
    req, _, opt = result.stdout.partition("\nOptional:")
    assert "Required:" in req
    for word in required:
        assert f"${word}" in req
    for word in optional:
        assert word in opt


# --- negative CLI cases: exit 2, the fix named, no traceback --------------------------------------


def _fails(args: list[str], env: dict[str, str], *needles: str) -> None:
    result = CliRunner().invoke(cli, args, env=env)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert result.stdout == ""
    for needle in needles:
        assert needle in result.stderr, result.stderr


def test_aws_missing_bucket() -> None:
    _fails(
        AWS_ARGS,
        AWS_ENV,
        "aws.s3Bucket.name",
        "AWS_S3_BUCKET_NAME",
        "aws.ignition.storageType=UnencryptedUserData",
    )


def test_aws_user_data_too_large() -> None:
    # CABPK puts the SSH keys into the user data too; 40 RSA-4096 keys push it over 16 KiB.
    keys = "\n".join(f"ssh-rsa {'A' * 716} user{i}@example" for i in range(40))
    _fails(
        [*AWS_ARGS, "--set", "aws.ignition.storageType=UnencryptedUserData"],
        {**AWS_ENV, "SSH_AUTHORIZED_KEYS": keys},
        "16384-byte user-data limit",
        "--set aws.ignition.storageType=ClusterObjectStore",
        "AWS_S3_BUCKET_NAME",
    )


def test_aws_user_data_check_is_off_with_the_bucket() -> None:
    keys = "\n".join(f"ssh-rsa {'A' * 716} user{i}@example" for i in range(40))
    env = {**AWS_ENV, "AWS_S3_BUCKET_NAME": BUCKET, "SSH_AUTHORIZED_KEYS": keys}
    result = CliRunner().invoke(cli, AWS_ARGS, env=env)
    assert result.exit_code == 0, result.output


def test_gcp_arm64_is_unsupported() -> None:
    _fails([*GCP_ARGS, "--arch", "arm64"], GCP_ENV, "no arm64 images", "--arch x86-64")


def test_unsupported_arch_value() -> None:
    _fails([*GCP_ARGS, "--arch", "riscv64"], GCP_ENV, "--arch", "x86-64")


@pytest.mark.parametrize(
    ("args", "env"), [(AWS_ARGS, {**AWS_ENV, "AWS_S3_BUCKET_NAME": BUCKET}), (GCP_ARGS, GCP_ENV)]
)
def test_unknown_channel(args: list[str], env: dict[str, str]) -> None:
    _fails(
        [*args, "--flatcar-channel", "edge"], env, "--flatcar-channel", "stable, beta, alpha, lts"
    )


def test_aws_bad_ami_id() -> None:
    env = {**AWS_ENV, "AWS_S3_BUCKET_NAME": BUCKET}
    _fails([*AWS_ARGS, "--ami-id", "flatcar"], env, "ami-", "--ami-id")


def test_ami_id_does_not_apply_to_gcp() -> None:
    _fails([*GCP_ARGS, "--ami-id", "ami-0123456789abcdef0"], GCP_ENV, "aws.amiID", "gcp")


def test_gcp_missing_inputs_name_the_env_vars() -> None:
    _fails(GCP_ARGS, {}, "GCP_PROJECT", "GCP_REGION")
