"""AWS (CAPA): AWSCluster and AWSMachineTemplates (infrastructure v1beta2, all CAPA serves).

No upstream sysext flavor exists for CAPA: its one Flatcar flavor,
kubernetes-sigs/cluster-api-provider-aws templates/cluster-template-flatcar.yaml:98,133 (at
2cf09d7), boots CAPA-built AMIs with Kubernetes baked in (imageLookupBaseOS: flatcar-stable), and
no file there names a sysext. Nodes here boot Flatcar's stock AMIs and pull Kubernetes as a
sysext. CABPK's Ignition reaches the instance through the cluster's S3 bucket
(CAPA's default, ClusterObjectStore) or, when asked explicitly, as plain EC2 user data.
"""

import json
import re
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, NamedTuple

from capi_sysext.capi import NODE_NAME_PLACEHOLDER
from capi_sysext.classvars import (
    CONTROL_PLANE_MACHINE,
    INFRASTRUCTURE,
    REPLACED,
    WORKER_MACHINE,
    ClassParameters,
    ClassPatch,
    ClassVariable,
    machine_types,
    string_schema,
)
from capi_sysext.clouds import docrefs
from capi_sysext.clouds.base import InfraCluster, Provider
from capi_sysext.clouds.docrefs import Owned
from capi_sysext.clusterapi import INFRA_GROUP
from capi_sysext.context import ClusterContext
from capi_sysext.contracts import DocumentSet, Finding, dig
from capi_sysext.errors import Problem
from capi_sysext.features.addons import FEATURE as ADDONS
from capi_sysext.inputs import Variable, parse_choice, parse_str
from capi_sysext.layout import METADATA_FILE, METADATA_UNIT
from capi_sysext.model import Dropin, NodeConfig, Unit
from capi_sysext.node import NodeContext
from capi_sysext.package_data import provider_table
from capi_sysext.prerequisites import CABPK_IGNITION, GateRequirement
from capi_sysext.spec import ClusterSpec

STORAGE_TYPES = ("ClusterObjectStore", "UnencryptedUserData")
# clusterawsadm's default; the data table (providers/aws.yaml s3Bucket) cites where it comes from.
DEFAULT_BUCKET_PREFIX = "cluster-api-provider-aws-"
RULE_BUCKET_PREFIX = "aws-s3-bucket-prefix"  # validate rule id (contracts.SKIP_ANNOTATION)
ANY_BUCKET = "*"
HOSTNAME_KEY = "COREOS_EC2_HOSTNAME"
_BUCKET_FIX = (
    "set the bucket with values key aws.s3Bucket.name or env AWS_S3_BUCKET_NAME "
    "(--set aws.ignition.storageType=ClusterObjectStore)"
)


# CAPA's own gate: without it CAPA ignores the Ignition bootstrap data.
CAPA_IGNITION = GateRequirement(
    gate="BootstrapFormatIgnition",
    namespace="capa-system",
    deployment="capa-controller-manager",
    how_to_enable="run `clusterctl init` with EXP_BOOTSTRAP_FORMAT_IGNITION=true",
)


def _bucket_placeholder(prefix: str) -> str:
    return ("" if prefix == ANY_BUCKET else prefix) + REPLACED.lower()


class AWSSettings(NamedTuple):
    region: str
    ssh_key_name: str
    s3_bucket: str | None
    s3_bucket_prefix: str  # what the IAM policy allows; "*" for any name
    storage_type: str
    ami_id: str | None
    control_plane_machine_type: str | None
    node_machine_type: str | None
    control_plane_instance_profile: str
    node_instance_profile: str


def _v(key: str, help: str, env: str | None = None, **kw: Any) -> Variable:
    kw.setdefault("parse", parse_str)
    return Variable(f"aws.{key}", help, env=env, **kw)


def _cni_of(spec: ClusterSpec[AWSSettings]) -> str | None:
    """The CNI the add-ons feature installs: this provider depends on that feature's settings."""
    return ADDONS.of(spec.features).cni


def _parse_ami(value: Any) -> str:
    text = parse_str(value)
    if not text.startswith("ami-"):
        raise ValueError(f"must be an AMI ID like ami-0123456789abcdef0, got {text!r}")
    return text


def node_name_commands(metadata_file: str = METADATA_FILE) -> list[str]:
    """kubeadm's node name is the EC2 private DNS name the metadata agent wrote.

    No `$NAME` shell variables: clusterctl's envsubst would eat them. `metadata_file` exists for
    tests, which run these exact commands against a scratch copy.
    """
    return [
        f"grep -q '^{HOSTNAME_KEY}=.' {metadata_file}",
        f'sed -i "s/{NODE_NAME_PLACEHOLDER}/'
        f"$(sed -n 's/^{HOSTNAME_KEY}=//p' {metadata_file})/g\" /etc/kubeadm.yml",
    ]


def ignition_size(config: NodeConfig) -> int:
    """Bytes of a node model as compact Ignition JSON (what CABPK converts our CLC to)."""
    from capi_sysext.render.ignition import render_ignition_json

    doc = json.loads(render_ignition_json(config))
    return len(json.dumps(doc, separators=(",", ":")).encode())


class AWSProvider(Provider[AWSSettings]):
    name = "aws"
    title = "AWS (CAPA)"
    api_version = f"{INFRA_GROUP}/v1beta2"
    kinds = frozenset(
        {
            "AWSCluster",
            "AWSClusterTemplate",
            "AWSMachine",
            "AWSMachineTemplate",
            "AWSMachinePool",
            "AWSManagedMachinePool",
            "AWSManagedCluster",
        }
    )
    arches = ("x86-64", "arm64")
    gates = (CABPK_IGNITION, CAPA_IGNITION)
    reference_paths = MappingProxyType({"AWSCluster": (("spec", "identityRef"),)})
    controller = "CAPA"
    extra_prerequisites = (
        " with BootstrapFormatIgnition=true (EXP_BOOTSTRAP_FORMAT_IGNITION=true); "
        "cloud account: CAPA's IAM "
        "from `clusterawsadm bootstrap iam create-cloudformation-stack --config` with an "
        "AWSIAMConfiguration setting spec.s3Buckets.enable: true, which lets CAPA use S3 buckets "
        f"named {DEFAULT_BUCKET_PREFIX}* (spec.s3Buckets.namePrefix) for Ignition user data"
    )
    variables = (
        _v("region", "AWS region, e.g. eu-central-1", "AWS_REGION", required=True),
        _v(
            "sshKeyName",
            "EC2 key pair CAPA attaches to the instances",
            "AWS_SSH_KEY_NAME",
            required=True,
        ),
        _v(
            "s3Bucket.name",
            "S3 bucket CAPA creates/uses for Ignition user data; required unless "
            "aws.ignition.storageType is UnencryptedUserData",
            "AWS_S3_BUCKET_NAME",
        ),
        _v(
            "s3Bucket.iamNamePrefix",
            "bucket-name prefix your CAPA IAM policy allows (clusterawsadm's "
            "AWSIAMConfiguration spec.s3Buckets.namePrefix); * if it allows any bucket name",
            "AWS_S3_BUCKET_IAM_NAME_PREFIX",
            default=DEFAULT_BUCKET_PREFIX,
        ),
        _v(
            "ignition.storageType",
            "where CAPA puts the Ignition user data (UnencryptedUserData: plain EC2 user data, "
            "readable from the instance metadata, limited to 16 KiB)",
            "AWS_IGNITION_STORAGE_TYPE",
            parse=parse_choice(STORAGE_TYPES, {t.lower(): t for t in STORAGE_TYPES}),
            default="ClusterObjectStore",
            choices=STORAGE_TYPES,
        ),
        _v(
            "amiID",
            "pin one AMI (default: CAPA looks up the newest stock Flatcar AMI of the channel "
            "and arch)",
            "AWS_AMI_ID",
            parse=_parse_ami,
            flag="--ami-id",
        ),
        _v(
            "controlPlaneMachineType",
            "instance type of control-plane nodes (default per arch)",
            "AWS_CONTROL_PLANE_MACHINE_TYPE",
        ),
        _v(
            "nodeMachineType",
            "instance type of worker nodes (default per arch)",
            "AWS_NODE_MACHINE_TYPE",
        ),
        _v(
            "controlPlaneIAMInstanceProfile",
            "IAM instance profile of control-plane nodes",
            "AWS_CONTROL_PLANE_IAM_INSTANCE_PROFILE",
            default="control-plane.cluster-api-provider-aws.sigs.k8s.io",
        ),
        _v(
            "nodeIAMInstanceProfile",
            "IAM instance profile of worker nodes",
            "AWS_NODE_IAM_INSTANCE_PROFILE",
            default="nodes.cluster-api-provider-aws.sigs.k8s.io",
        ),
    )

    def settings(self, values: Mapping[str, Any]) -> AWSSettings:
        return AWSSettings(
            region=values["aws.region"],
            ssh_key_name=values["aws.sshKeyName"],
            s3_bucket=values["aws.s3Bucket.name"],
            s3_bucket_prefix=values["aws.s3Bucket.iamNamePrefix"],
            storage_type=values["aws.ignition.storageType"],
            ami_id=values["aws.amiID"],
            control_plane_machine_type=values["aws.controlPlaneMachineType"],
            node_machine_type=values["aws.nodeMachineType"],
            control_plane_instance_profile=values["aws.controlPlaneIAMInstanceProfile"],
            node_instance_profile=values["aws.nodeIAMInstanceProfile"],
        )

    def check(self, spec: ClusterSpec[AWSSettings]) -> list[Problem]:
        problems = super().check(spec)
        s = spec.provider_settings
        if s.storage_type == "ClusterObjectStore" and not s.s3_bucket:
            problems.append(
                Problem(
                    "missing required value aws.s3Bucket.name (the S3 bucket CAPA stores the "
                    "Ignition user data in; EC2 user data is limited to 16 KiB)",
                    "set it with values key aws.s3Bucket.name, env AWS_S3_BUCKET_NAME; or, "
                    "accepting unencrypted user data, --set aws.ignition.storageType="
                    "UnencryptedUserData",
                )
            )
        if (
            s.storage_type == "ClusterObjectStore"
            and s.s3_bucket
            and s.s3_bucket_prefix != ANY_BUCKET
            and not s.s3_bucket.startswith(s.s3_bucket_prefix)
        ):
            problems.append(
                Problem(
                    f"aws.s3Bucket.name {s.s3_bucket!r} does not start with "
                    f"{s.s3_bucket_prefix!r}, the only bucket names CAPA's IAM policy (from "
                    "clusterawsadm) lets it use: CAPA would fail with AccessDenied and no "
                    "machine would get its Ignition config",
                    f"name the bucket {s.s3_bucket_prefix}<something> (values key "
                    "aws.s3Bucket.name, env AWS_S3_BUCKET_NAME); or, if your IAM policy allows "
                    "other names, say which with values key aws.s3Bucket.iamNamePrefix / env "
                    "AWS_S3_BUCKET_IAM_NAME_PREFIX (* for any name)",
                )
            )
        problems.extend(self._cni_problems(spec))
        return problems

    def _cni_problems(self, spec: ClusterSpec[AWSSettings]) -> list[Problem]:
        cni = _cni_of(spec)
        rules = provider_table(self.name)["cniIngressRules"]
        if cni in (None, "none") or cni in rules:
            return []
        # A new CNI in the add-ons table needs its ports here, or its traffic is dropped.
        return [
            Problem(
                f"--cni {cni}: capi-sysext has no AWS security-group rules for it "
                "(providers/aws.yaml cniIngressRules)",
                f"use --cni {' or --cni '.join(sorted(rules))}, or --cni none and open its "
                "ports yourself (AWSCluster spec.network.cni.cniIngressRules)",
            )
        ]

    def cni_ingress_rules(self, cni: str | None) -> list[dict[str, Any]] | None:
        """The cniIngressRules for a CNI, or None to keep CAPA's default (no CNI of ours)."""
        if cni in (None, "none"):
            return None
        rows = provider_table(self.name)["cniIngressRules"][cni]
        return [
            {
                "description": str(r["description"]),
                "protocol": str(r["protocol"]),
                "fromPort": int(r["fromPort"]),
                "toPort": int(r["toPort"]),
            }
            for r in rows
        ]

    def infrastructure(self, ctx: ClusterContext[AWSSettings]) -> InfraCluster:
        spec = ctx.spec
        s = spec.provider_settings
        table = provider_table(self.name)
        cluster_spec: dict[str, Any] = {
            "region": s.region,
            "sshKeyName": s.ssh_key_name,
            # An NLB with an HTTPS health check, as every CAPA template (providers/aws.yaml).
            "controlPlaneLoadBalancer": dict(table["controlPlaneLoadBalancer"]),
        }
        rules = self.cni_ingress_rules(_cni_of(spec))
        if rules is not None:
            # Replaces CAPA's Calico-only default: the rules of the CNI we install.
            cluster_spec["network"] = {"cni": {"cniIngressRules": rules}}
        if s.storage_type == "ClusterObjectStore":
            # CAPA reads the bucket from AWSCluster spec.s3Bucket and the storage type from each
            # AWSMachineTemplate's spec.template.spec.ignition (CAPA docs/book/src/topics/
            # ignition-support.md:60-92, snapshot 2cf09d7).
            assert s.s3_bucket is not None  # check() guarantees it
            cluster_spec["s3Bucket"] = {
                "name": s.s3_bucket,
                "controlPlaneIAMInstanceProfile": s.control_plane_instance_profile,
                "nodesIAMInstanceProfiles": [s.node_instance_profile],
            }
        cluster = {
            "apiVersion": self.api_version,
            "kind": "AWSCluster",
            "metadata": {"name": spec.name, "namespace": spec.namespace},
            "spec": cluster_spec,
        }
        return InfraCluster(ref=self.ref("AWSCluster", spec.name), documents=(cluster,))

    def class_parameters(self, ctx: ClusterContext[AWSSettings]) -> ClassParameters:
        """The variables of CAPA's own class (templates/cluster-template-simple-clusterclass.yaml
        :66-90 at 2cf09d7: region, sshKeyName, controlPlaneMachineType, workerMachineType, the
        machine types required with a default, patched into the same paths, lines 92-154), plus
        the Ignition bucket, which each cluster names itself."""
        s = ctx.settings
        types = provider_table(self.name)["machineTypes"][ctx.spec.node.arch]
        spec_path = "/spec/template/spec/"
        variables = [
            ClassVariable(
                "region", string_schema("AWS region", minLength=1), s.region, "aws.region"
            ),
            ClassVariable(
                "sshKeyName",
                string_schema("EC2 key pair on the instances", minLength=1),
                s.ssh_key_name,
                "aws.sshKeyName",
            ),
        ]
        patches = [
            ClassPatch(INFRASTRUCTURE, spec_path + "region", variable="region"),
            *(
                ClassPatch(target, spec_path + "sshKeyName", variable="sshKeyName")
                for target in (INFRASTRUCTURE, CONTROL_PLANE_MACHINE, WORKER_MACHINE)
            ),
        ]
        if s.storage_type == "ClusterObjectStore":
            bucket: dict[str, Any] = {"minLength": 3, "maxLength": 63}
            if s.s3_bucket_prefix != ANY_BUCKET:
                # What the IAM policy allows (check() says why): refused by CAPI's webhook too.
                bucket["pattern"] = "^" + re.sub(
                    r"([][.^$*+?(){}|\\])", r"\\\1", s.s3_bucket_prefix
                )
            variables.append(
                ClassVariable(
                    "s3BucketName",
                    string_schema("S3 bucket for the Ignition user data", **bucket),
                    s.s3_bucket,
                    "aws.s3Bucket.name",
                )
            )
            patches.append(
                ClassPatch(
                    INFRASTRUCTURE,
                    spec_path + "s3Bucket/name",
                    variable="s3BucketName",
                    # The CRD's bucket-name pattern has no upper case; the IAM prefix keeps the
                    # template within what the policy allows, as the real names are.
                    placeholder=_bucket_placeholder(s.s3_bucket_prefix),
                )
            )
        more_vars, more_patches = machine_types(
            "aws",
            "EC2 instance type",
            "instanceType",
            (s.control_plane_machine_type, s.node_machine_type),
            types,
        )
        variables += more_vars
        patches += more_patches
        return ClassParameters(tuple(variables), tuple(patches))

    def skipped_rules(self, ctx: ClusterContext[AWSSettings]) -> list[str]:
        # aws.s3Bucket.iamNamePrefix says the user's IAM policy allows other bucket names than
        # clusterawsadm's default; check() already held the bucket to that prefix.
        if ctx.settings.s3_bucket_prefix != DEFAULT_BUCKET_PREFIX:
            return [RULE_BUCKET_PREFIX]
        return []

    def check_documents(self, docs: DocumentSet) -> list[Finding]:

        table = provider_table(self.name)
        findings = []
        for owned in docrefs.infra_clusters(docs, "AWSCluster"):
            skipped = docs.skipped(owned.cluster) if owned.cluster is not None else frozenset()
            for rule, check in (
                ("aws-cni-ingress", self._check_cni_ingress),
                (RULE_BUCKET_PREFIX, _check_bucket_prefix),
                ("aws-nlb", _check_nlb),
            ):
                if rule in skipped:
                    continue
                for path, message in check(docs, owned, table):
                    findings.append(Finding(owned.position, path, message, rule))
        return findings

    def _check_cni_ingress(
        self, docs: DocumentSet, owned: Owned, table: Mapping[str, Any]
    ) -> list[tuple[str, str]]:
        from capi_sysext.features.addons import addon_table

        if owned.cluster is None:
            return []  # the CNI is chosen on the Cluster
        charts = {str(row["chartName"]): cni for cni, row in addon_table()["cni"].items()}
        cni = docrefs.cni_of(docs, owned.cluster, charts)
        needed = table["cniIngressRules"].get(cni) if cni else None
        if not needed:
            return []
        path = "$.spec.network.cni.cniIngressRules"
        have = dig(owned.doc, "spec", "network", "cni", "cniIngressRules")
        if dig(owned.doc, "spec", "network", "cni") is None:
            have = table["cniIngressRules"]["calico"][:2]  # CAPA's default: BGP and IP-in-IP
        have = have if isinstance(have, list) else []
        missing = [r for r in needed if not any(_covers(h, r) for h in have)]
        if not missing:
            return []
        ports = ", ".join(f"{r['protocol']} {_ports(r)} ({r['description']})" for r in missing)
        return [
            (
                path,
                f"the Cluster's CNI is {cni}, but the security groups CAPA builds from these "
                f"rules drop its traffic between nodes: missing {ports}; add them here (setting "
                "the list replaces CAPA's Calico-only default)",
            )
        ]

    def image_lookup_format(self, spec: ClusterSpec[AWSSettings]) -> str:
        """The AMI name pattern for CAPA's lookup: no {{.K8sVersion}}, Flatcar AMIs carry none."""
        table = provider_table(self.name)["image"]
        version = "*" if spec.flatcar_version == "latest" else spec.flatcar_version
        fmt: str = table["nameFormat"][spec.node.arch]
        return fmt.format(channel=spec.flatcar_channel, version=version)

    def machine_template(
        self, ctx: ClusterContext[AWSSettings], role: str, name: str
    ) -> dict[str, Any]:
        spec = ctx.spec
        s = spec.provider_settings
        table = provider_table(self.name)
        types = table["machineTypes"][spec.node.arch]
        if role == "control-plane":
            instance_type = s.control_plane_machine_type or types["controlPlane"]
            profile = s.control_plane_instance_profile
        else:
            instance_type = s.node_machine_type or types["worker"]
            profile = s.node_instance_profile
        machine: dict[str, Any] = {
            "instanceType": instance_type,
            "iamInstanceProfile": profile,
            "sshKeyName": s.ssh_key_name,
            "rootVolume": {
                "size": table["rootVolume"]["sizeGiB"],
                "type": table["rootVolume"]["type"],
            },
        }
        if s.ami_id:
            machine["ami"] = {"id": s.ami_id}
        else:
            machine["imageLookupOrg"] = table["image"]["owner"]
            machine["imageLookupFormat"] = self.image_lookup_format(spec)
        ignition: dict[str, Any] = {"storageType": s.storage_type}
        if s.storage_type == "ClusterObjectStore":
            # What CABPK emits (kubernetes-sigs/cluster-api bootstrap/kubeadm/pkg/ignition/clc/
            # clc.go:46, ignition config/v2_3) and CAPA's default
            # (kubernetes-sigs/cluster-api-provider-aws api/v1beta2/awsmachine_types.go:31).
            ignition["version"] = "2.3"
        machine["ignition"] = ignition
        return {
            "apiVersion": self.api_version,
            "kind": "AWSMachineTemplate",
            "metadata": {"name": name, "namespace": spec.namespace},
            "spec": {"template": {"spec": machine}},
        }

    def node_config(self, ctx: NodeContext[AWSSettings]) -> NodeConfig:
        # The metadata agent (afterburn) writes COREOS_EC2_HOSTNAME to /run/metadata/flatcar;
        # kubeadm's preKubeadmCommands read it, so kubeadm waits for the agent.
        dropin = Dropin(
            "20-aws.conf",
            f"[Unit]\nRequires={METADATA_UNIT}\nAfter={METADATA_UNIT}\n",
        )
        return NodeConfig(units=(Unit("kubeadm.service", dropins=(dropin,)),))

    def node_name_commands(self) -> list[str]:
        return node_name_commands()

    def check_node_configs(
        self, ctx: ClusterContext[AWSSettings], configs: Mapping[str, NodeConfig]
    ) -> list[Problem]:
        spec = ctx.spec
        s = spec.provider_settings
        if s.storage_type != "UnencryptedUserData":
            return []
        limits = provider_table(self.name)["userData"]
        problems = []
        for role, config in configs.items():
            # CABPK also turns the users (our SSH keys) into Ignition passwd entries.
            ours = ignition_size(config) + sum(len(k) + 8 for k in spec.ssh_authorized_keys)
            margin = int(limits["cabpkMarginBytes"][role])
            total = ours + margin
            if total > int(limits["limitBytes"]):
                problems.append(
                    Problem(
                        f"{role} user data would be about {total} bytes (our node config and "
                        f"SSH keys {ours} bytes as Ignition JSON + about {margin} bytes CABPK "
                        "adds), over "
                        f"EC2's {limits['limitBytes']}-byte user-data limit",
                        _BUCKET_FIX,
                    )
                )
        return problems

    def notes(self, ctx: ClusterContext[AWSSettings]) -> list[str]:
        spec = ctx.spec
        s = spec.provider_settings
        gates = "; ".join(
            f"{g.gate} in {g.namespace}/{g.deployment} ({g.how_to_enable})" for g in self.gates
        )
        notes = [f"the management cluster needs these feature gates on: {gates}"]
        if s.ami_id is None:
            owner = provider_table(self.name)["image"]["owner"]
            notes.append(
                f"no --ami-id: CAPA looks up the newest AMI named "
                f"{self.image_lookup_format(spec)!r} owned by {owner} "
                "(Flatcar) for the instance type's architecture, when each machine is created; "
                "machines created later may get a newer Flatcar. Pin one with --ami-id."
            )
        if s.storage_type == "UnencryptedUserData":
            notes.append(
                "ignition.storageType UnencryptedUserData: bootstrap data (including cluster CA "
                "keys on control-plane nodes) is plain EC2 user data, readable by anyone with "
                "ec2:DescribeInstanceAttribute or access to the instance metadata service"
            )
        return notes


def _ports(rule: Mapping[str, Any]) -> str:
    lo, hi = rule.get("fromPort"), rule.get("toPort")
    if str(rule.get("protocol")) == "icmp":
        return f"type {lo} code {hi}"
    return str(lo) if lo == hi else f"{lo}-{hi}"


def _covers(have: Any, need: Mapping[str, Any]) -> bool:
    """Whether an existing ingress rule lets `need`'s traffic through."""
    if not isinstance(have, Mapping):
        return False
    proto = str(have.get("protocol"))
    if proto == "-1":
        return True
    if proto != str(need["protocol"]):
        return False
    lo, hi = have.get("fromPort"), have.get("toPort")
    if not isinstance(lo, int) or not isinstance(hi, int):
        return False
    if proto in ("tcp", "udp"):
        return lo <= int(need["fromPort"]) and int(need["toPort"]) <= hi
    if proto == "icmp":
        # fromPort/toPort are the ICMP type and code; -1 means any.
        return lo in (-1, int(need["fromPort"])) and hi in (-1, int(need["toPort"]))
    return True  # other IP protocols (IP-in-IP) carry no ports


def _check_bucket_prefix(
    docs: DocumentSet, owned: Owned, table: Mapping[str, Any]
) -> list[tuple[str, str]]:
    name = dig(owned.doc, "spec", "s3Bucket", "name")
    prefix = str(table["s3Bucket"]["iamNamePrefix"])
    if not isinstance(name, str) or name.startswith(prefix):
        return []
    from capi_sysext.contracts import SKIP_ANNOTATION

    return [
        (
            "$.spec.s3Bucket.name",
            f"bucket {name!r} does not start with {prefix!r}, the only names clusterawsadm's "
            "default IAM policy lets CAPA use (it fails with AccessDenied and no machine gets "
            f"its Ignition config); rename it {prefix}<something>, or, if your IAM policy "
            f"allows this name, add aws-s3-bucket-prefix to the Cluster's {SKIP_ANNOTATION} "
            "annotation",
        )
    ]


def _check_nlb(docs: DocumentSet, owned: Owned, table: Mapping[str, Any]) -> list[tuple[str, str]]:
    want = table["controlPlaneLoadBalancer"]
    lb = dig(owned.doc, "spec", "controlPlaneLoadBalancer")
    lb_type = dig(lb, "loadBalancerType") or "classic"  # CAPA's default (providers/aws.yaml)
    if lb_type in (want["loadBalancerType"], "disabled"):
        return []
    return [
        (
            "$.spec.controlPlaneLoadBalancer.loadBalancerType",
            f"warning: the API server load balancer is {lb_type!r} (CAPA's default is a Classic "
            "ELB); every upstream CAPA template uses loadBalancerType: "
            f"{want['loadBalancerType']} with healthCheckProtocol: {want['healthCheckProtocol']}",
        )
    ]


PROVIDER = AWSProvider()
