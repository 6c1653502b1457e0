"""Infrastructure contracts (#12, infra items): what each cloud needs beyond schema validity.

Generated output carries it (NLB, CNI ingress rules, bucket prefix, VM identity, egress), bad input
is an exit-2 InputError naming the fix, and `validate` reports the same contracts over any YAML.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner
from crd_fixtures import crd_errors, store

from capi_sysext import clouds, yamlio
from capi_sysext.cli import cli
from capi_sysext.cli import commands as _commands  # noqa: F401  (registers the commands)
from capi_sysext.contracts import SKIP_ANNOTATION
from capi_sysext.plugins import registered
from capi_sysext.validate import validate_documents

REPO = Path(__file__).resolve().parent.parent
PROVIDERS = clouds.NAMES
BUCKET = "cluster-api-provider-aws-demo-ignition"


def gen(provider: str, *args: str, env: dict[str, str] | None = None) -> list[dict[str, Any]]:
    base = ["generate", "--provider", provider, "--k8s", "1.33", "--name", "demo"]
    values = ["--values", str(REPO / "examples" / f"{provider}.yaml")]
    result = CliRunner().invoke(cli, [*base, *values, *args], env=env or {})
    assert result.exit_code == 0, result.output
    return [d for d in yaml.safe_load_all(result.stdout) if d]


def fails(provider: str, *args: str, env: dict[str, str] | None = None) -> str:
    base = ["generate", "--provider", provider, "--k8s", "1.33", "--name", "demo"]
    values = ["--values", str(REPO / "examples" / f"{provider}.yaml")]
    result = CliRunner().invoke(cli, [*base, *values, *args], env=env or {})
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert result.stdout == ""
    return result.stderr


def kind(docs: list[dict[str, Any]], k: str) -> dict[str, Any]:
    return next(d for d in docs if d["kind"] == k)


def kinds(docs: list[dict[str, Any]], k: str) -> list[dict[str, Any]]:
    return [d for d in docs if d["kind"] == k]


def findings(docs: list[dict[str, Any]]) -> list[str]:
    """validate's issue lines (schemas and contracts) for these documents."""
    return validate_documents([("c.yaml", yamlio.dump_all(docs))], store(), registered()).lines()


def rules_of(docs: list[dict[str, Any]]) -> set[str]:
    return {line.rsplit("[", 1)[1].rstrip("]") for line in findings(docs) if line.endswith("]")}


def skip(docs: list[dict[str, Any]], *rules: str) -> list[dict[str, Any]]:
    kind(docs, "Cluster")["metadata"].setdefault("annotations", {})[SKIP_ANNOTATION] = ",".join(
        rules
    )
    return docs


# --- our own output passes every rule -------------------------------------------------------------


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize("extra", [(), ("--cni", "cilium"), ("--k8s", "1.35", "--no-ccm")])
def test_generated_output_passes_all_rules(provider: str, extra: tuple[str, ...]) -> None:
    docs = gen(provider, *extra)
    assert findings(docs) == []
    # Strictly too: an unknown field (a typo in a new one) is an error.
    assert [e for d in docs if "/" in d["apiVersion"] for e in crd_errors(d)] == []


def test_opt_in_variants_are_strictly_valid() -> None:
    docs = gen("gcp", "--set", "gcp.publicIP=true")
    docs += gen("aws", "--cni", "cilium", "--arch", "arm64")
    # Core kinds (ConfigMaps of ClusterResourceSets) have no CRD; the rest is checked strictly.
    assert [e for d in docs if "/" in d["apiVersion"] for e in crd_errors(d)] == []


# --- AWS: security groups per CNI -----------------------------------------------------------------


def _rules(docs: list[dict[str, Any]]) -> set[tuple[str, int, int]]:
    rules = kind(docs, "AWSCluster")["spec"]["network"]["cni"]["cniIngressRules"]
    return {(r["protocol"], r["fromPort"], r["toPort"]) for r in rules}


def test_aws_cilium_opens_vxlan_and_health_between_nodes() -> None:
    rules = _rules(gen("aws", "--cni", "cilium"))
    assert {("udp", 8472, 8472), ("tcp", 4240, 4240), ("icmp", 8, 0)} <= rules


def test_aws_calico_keeps_capas_defaults_and_adds_typha() -> None:
    rules = _rules(gen("aws"))
    assert rules == {("tcp", 179, 179), ("4", -1, 65535), ("tcp", 5473, 5473)}


def test_aws_no_cni_keeps_capas_default_rules() -> None:
    assert "network" not in kind(gen("aws", "--cni", "none"), "AWSCluster")["spec"]


def test_rule_aws_cilium_without_ingress_rules() -> None:
    docs = gen("aws", "--cni", "cilium")
    del kind(docs, "AWSCluster")["spec"]["network"]
    lines = findings(docs)
    assert any("[aws-cni-ingress]" in x and "udp 8472" in x for x in lines), lines
    assert any("$.spec.network.cni.cniIngressRules" in x for x in lines)
    assert rules_of(skip(docs, "aws-cni-ingress")) == set()


def test_rule_aws_cni_from_the_cluster_label_alone() -> None:
    # Hand-written YAML: no HelmChartProxy, only the label says Cilium; Calico's rules are wrong.
    docs = [d for d in gen("aws") if d["kind"] != "HelmChartProxy"]
    kind(docs, "Cluster")["metadata"]["labels"]["capi-sysext.io/cni"] = "cilium"
    assert "aws-cni-ingress" in rules_of(docs)


def test_rule_aws_calico_missing_typha() -> None:
    docs = gen("aws")
    rules = kind(docs, "AWSCluster")["spec"]["network"]["cni"]["cniIngressRules"]
    rules[:] = [r for r in rules if r["fromPort"] != 5473]
    lines = findings(docs)
    assert any("[aws-cni-ingress]" in x and "tcp 5473" in x for x in lines), lines


def test_rule_aws_all_traffic_rule_covers_everything() -> None:
    docs = gen("aws", "--cni", "cilium")
    rules = [{"description": "all", "protocol": "-1", "fromPort": -1, "toPort": -1}]
    kind(docs, "AWSCluster")["spec"]["network"]["cni"]["cniIngressRules"] = rules
    assert findings(docs) == []


# --- AWS: API server load balancer ----------------------------------------------------------------


def test_aws_api_server_gets_an_nlb_with_https_health_check() -> None:
    lb = kind(gen("aws"), "AWSCluster")["spec"]["controlPlaneLoadBalancer"]
    assert lb == {"loadBalancerType": "nlb", "healthCheckProtocol": "HTTPS"}


def test_rule_aws_classic_elb_is_a_warning_finding() -> None:
    docs = gen("aws")
    del kind(docs, "AWSCluster")["spec"]["controlPlaneLoadBalancer"]
    lines = findings(docs)
    assert any("[aws-nlb]" in x and x.split(": ", 2)[-1].startswith("warning") for x in lines)
    assert rules_of(skip(docs, "aws-nlb")) == set()


# --- AWS: S3 bucket name vs clusterawsadm's IAM policy --------------------------------------------


def test_aws_bucket_outside_the_iam_prefix_is_an_input_error() -> None:
    err = fails("aws", "--set", "aws.s3Bucket.name=demo-capi-sysext-ignition")
    assert "cluster-api-provider-aws-" in err
    assert "aws.s3Bucket.iamNamePrefix" in err and "AWS_S3_BUCKET_IAM_NAME_PREFIX" in err


def test_aws_bucket_prefix_opt_outs() -> None:
    custom = ["--set", "aws.s3Bucket.name=acme-ign", "--set", "aws.s3Bucket.iamNamePrefix=acme-"]
    assert kind(gen("aws", *custom), "AWSCluster")["spec"]["s3Bucket"]["name"] == "acme-ign"
    env = {"AWS_S3_BUCKET_IAM_NAME_PREFIX": "*"}
    docs = gen("aws", "--set", "aws.s3Bucket.name=anything", env=env)
    assert kind(docs, "AWSCluster")["spec"]["s3Bucket"]["name"] == "anything"
    # What generate accepted on the user's word about their IAM policy, validate accepts too:
    # the Cluster records the opt-out (and only then).
    for opted in (docs, gen("aws", *custom)):
        assert not any("[aws-s3-bucket-prefix]" in x for x in findings(opted))
        assert (
            "aws-s3-bucket-prefix"
            in kind(opted, "Cluster")["metadata"]["annotations"]["validate.capi-sysext.io/skip"]
        )
    assert "annotations" not in kind(gen("aws"), "Cluster")["metadata"]
    # The custom prefix is wrong for the IAM policy too: still an error.
    fails("aws", "--set", "aws.s3Bucket.name=other", "--set", "aws.s3Bucket.iamNamePrefix=acme-")


def test_aws_example_bucket_is_inside_the_prefix() -> None:
    example = yaml.safe_load((REPO / "examples" / "aws.yaml").read_text())
    assert example["aws"]["s3Bucket"]["name"].startswith("cluster-api-provider-aws-")


def test_rule_aws_bucket_prefix() -> None:
    docs = gen("aws")
    kind(docs, "AWSCluster")["spec"]["s3Bucket"]["name"] = "my-bucket"
    lines = findings(docs)
    assert any("[aws-s3-bucket-prefix]" in x and "$.spec.s3Bucket.name" in x for x in lines)
    assert rules_of(skip(docs, "aws-s3-bucket-prefix")) == set()


def test_aws_prerequisites_name_the_iam_and_gate() -> None:
    result = CliRunner().invoke(cli, ["generate", "--provider", "aws", "--list-variables"])
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "s3Buckets.enable: true" in text
    assert "BootstrapFormatIgnition=true" in text
    assert "cluster-api-provider-aws-*" in text


# --- Azure: credentials for the cloud controller manager ---------------------------------------


def _azure_run(values: dict[str, Any]) -> Any:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "values.yaml"
        path.write_text(yaml.safe_dump(values))
        base = ["generate", "--provider", "azure", "--k8s", "1.33", "--name", "demo"]
        return CliRunner().invoke(cli, [*base, "--values", str(path)])


def _azure_fails(values: dict[str, Any]) -> str:
    result = _azure_run(values)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and result.stdout == ""
    return result.stderr


def _azure_values() -> dict[str, Any]:
    values: dict[str, Any] = yaml.safe_load((REPO / "examples" / "azure.yaml").read_text())
    return values


def test_azure_machine_templates_carry_the_node_identity() -> None:
    docs = gen("azure")
    templates = kinds(docs, "AzureMachineTemplate")
    assert len(templates) == 2
    for t in templates:
        spec = t["spec"]["template"]["spec"]
        assert spec["identity"] == "UserAssigned"
        assert spec["userAssignedIdentities"] == [
            {
                "providerID": "azure:///subscriptions/00000000-0000-0000-0000-000000000000/"
                "resourceGroups/capi-identities/providers/Microsoft.ManagedIdentity/"
                "userAssignedIdentities/cloud-provider-user-identity"
            }
        ]


def test_azure_workload_identity_without_node_identity_is_an_input_error() -> None:
    values = _azure_values()
    del values["azure"]["nodeIdentity"]
    err = _azure_fails(values)
    assert "WorkloadIdentity" in err
    for needle in ("azure.nodeIdentity.name", "USER_ASSIGNED_IDENTITY_NAME", "LoadBalancer"):
        assert needle in err


def test_azure_node_identity_needs_both_parts_and_valid_names() -> None:
    values = _azure_values()
    del values["azure"]["nodeIdentity"]["resourceGroup"]
    assert "azure.nodeIdentity.resourceGroup is missing" in _azure_fails(values)
    values = _azure_values()
    values["azure"]["nodeIdentity"]["name"] = "bad/../name"
    assert "azure.nodeIdentity.name" in _azure_fails(values)


def test_azure_service_principal_needs_no_node_identity() -> None:
    values = _azure_values()
    del values["azure"]["nodeIdentity"]
    values["azure"]["identity"].update(type="ServicePrincipal", secretName="sp-secret")
    result = _azure_run(values)
    assert result.exit_code == 0, result.output
    docs = [d for d in yaml.safe_load_all(result.stdout) if d]
    assert findings(docs) == []
    assert all(
        "identity" not in t["spec"]["template"]["spec"] for t in kinds(docs, "AzureMachineTemplate")
    )


def test_rule_azure_workload_identity_machines_without_identity() -> None:
    docs = gen("azure")
    for t in kinds(docs, "AzureMachineTemplate"):
        del t["spec"]["template"]["spec"]["identity"]
    lines = [x for x in findings(docs) if "[azure-node-identity]" in x]
    assert len(lines) == 2, lines
    assert all("$.spec.template.spec.identity" in x for x in lines)
    assert rules_of(skip(docs, "azure-node-identity")) == set()


def test_rule_azure_node_identity_ignores_secret_based_identities() -> None:
    docs = gen("azure")
    for t in kinds(docs, "AzureMachineTemplate"):
        del t["spec"]["template"]["spec"]["identity"]
    kind(docs, "AzureClusterIdentity")["spec"]["type"] = "ServicePrincipal"
    kind(docs, "AzureClusterIdentity")["spec"]["clientSecret"] = {
        "name": "s",
        "namespace": "default",
    }
    assert "azure-node-identity" not in rules_of(docs)


# --- GCP: egress for first boot -------------------------------------------------------------------


def test_gcp_default_network_is_one_capg_creates_with_nat() -> None:
    docs = gen("gcp")
    assert kind(docs, "GCPCluster")["spec"]["network"] == {"name": "demo-network"}
    for t in kinds(docs, "GCPMachineTemplate"):
        assert "publicIP" not in t["spec"]["template"]["spec"]


def test_gcp_existing_network_gets_a_note_and_public_ip_opt_in() -> None:
    base = ["generate", "--provider", "gcp", "--k8s", "1.33", "--name", "demo"]
    values = ["--values", str(REPO / "examples" / "gcp.yaml")]
    named = [*base, *values, "--set", "gcp.network.name=default"]
    result = CliRunner().invoke(cli, named)
    assert result.exit_code == 0, result.output
    assert "creates no Cloud NAT" in result.stderr and "gcp.publicIP=true" in result.stderr
    result = CliRunner().invoke(cli, named, env={"GCP_PUBLIC_IP": "true"})
    assert result.exit_code == 0, result.output
    assert "creates no Cloud NAT" not in result.stderr
    docs = [d for d in yaml.safe_load_all(result.stdout) if d]
    assert all(
        t["spec"]["template"]["spec"]["publicIP"] is True for t in kinds(docs, "GCPMachineTemplate")
    )
    assert findings(docs) == []


def test_gcp_network_name_must_be_a_gce_name() -> None:
    err = fails("gcp", "--set", "gcp.network.name=Not_Valid")
    assert "gcp.network.name" in err and "GCP_NETWORK_NAME" in err


def test_rule_gcp_default_network_without_public_ip() -> None:
    docs = gen("gcp")
    kind(docs, "GCPCluster")["spec"]["network"]["name"] = "default"
    lines = findings(docs)
    assert any("[gcp-egress]" in x and "$.spec.network.name" in x for x in lines), lines
    assert rules_of(skip(docs, "gcp-egress")) == set()
    del kind(docs, "GCPCluster")["spec"]["network"]  # unset means "default" too
    kind(docs, "Cluster")["metadata"]["annotations"].clear()
    assert "gcp-egress" in rules_of(docs)


def test_aws_calico_rules_follow_the_calico_encapsulation_on_aws() -> None:
    # The add-ons table owns Calico's values; if AWS ever switches to VXLAN, udp 4789 must open.
    from capi_sysext.features.addons import addon_table
    from capi_sysext.package_data import provider_table

    calico = addon_table()["cni"]["calico"]
    pools = calico["providerValues"]["aws"]["installation"]["calicoNetwork"]["ipPools"]
    encapsulations = {p["encapsulation"] for p in pools}
    rules = {
        (r["protocol"], r["fromPort"]) for r in provider_table("aws")["cniIngressRules"]["calico"]
    }
    needed = {"IPIP": ("4", -1), "VXLAN": ("udp", 4789)}
    assert encapsulations <= needed.keys()
    assert all(needed[e] in rules for e in encapsulations)
