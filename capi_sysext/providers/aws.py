"""AWS (CAPA): AWSCluster and AWSMachineTemplates (infrastructure v1beta2, all CAPA serves).

No upstream sysext flavor exists for CAPA (FACTS.md section 6): nodes boot Flatcar's stock AMIs and
pull Kubernetes as a sysext. CABPK's Ignition reaches the instance through the cluster's S3 bucket
(CAPA's default, ClusterObjectStore) or, when asked explicitly, as plain EC2 user data.
"""

import json
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, NamedTuple

from capi_sysext.errors import Problem
from capi_sysext.inputs import Variable, parse_choice, parse_str
from capi_sysext.model import Dropin, NodeConfig, Unit
from capi_sysext.providers.base import NODE_NAME_PLACEHOLDER, InfraCluster, Provider
from capi_sysext.requirements import CABPK_IGNITION, GateRequirement
from capi_sysext.resources import provider_table
from capi_sysext.spec import ClusterSpec

STORAGE_TYPES = ("ClusterObjectStore", "UnencryptedUserData")
METADATA_FILE = "/run/metadata/flatcar"
METADATA_UNIT = "coreos-metadata.service"
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


class AWSSettings(NamedTuple):
    region: str
    ssh_key_name: str
    s3_bucket: str | None
    storage_type: str
    ami_id: str | None
    control_plane_machine_type: str | None
    node_machine_type: str | None
    control_plane_instance_profile: str
    node_instance_profile: str


def _v(key: str, help: str, env: str | None = None, **kw: Any) -> Variable:
    kw.setdefault("parse", parse_str)
    return Variable(f"aws.{key}", help, env=env, **kw)


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


def ignition_size(clc: str) -> int:
    """Bytes of our node config as compact Ignition JSON (what CABPK converts the CLC to)."""
    from capi_sysext.render.clc_parse import parse_clc
    from capi_sysext.render.ignition import render_ignition_json

    doc = json.loads(render_ignition_json(parse_clc(clc)))
    return len(json.dumps(doc, separators=(",", ":")).encode())


class AWSProvider(Provider):
    name = "aws"
    title = "AWS (CAPA)"
    api_version = "infrastructure.cluster.x-k8s.io/v1beta2"
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
        " with BootstrapFormatIgnition=true (EXP_BOOTSTRAP_FORMAT_IGNITION=true); an S3 bucket "
        "CAPA may use for Ignition user data"
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
            storage_type=values["aws.ignition.storageType"],
            ami_id=values["aws.amiID"],
            control_plane_machine_type=values["aws.controlPlaneMachineType"],
            node_machine_type=values["aws.nodeMachineType"],
            control_plane_instance_profile=values["aws.controlPlaneIAMInstanceProfile"],
            node_instance_profile=values["aws.nodeIAMInstanceProfile"],
        )

    def check(self, spec: ClusterSpec) -> list[Problem]:
        problems = super().check(spec)
        s: AWSSettings = spec.provider_settings
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
        return problems

    def infrastructure(self, spec: ClusterSpec) -> InfraCluster:
        s: AWSSettings = spec.provider_settings
        cluster_spec: dict[str, Any] = {"region": s.region, "sshKeyName": s.ssh_key_name}
        if s.storage_type == "ClusterObjectStore":
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

    def image_lookup_format(self, spec: ClusterSpec) -> str:
        """The AMI name pattern for CAPA's lookup: no {{.K8sVersion}}, Flatcar AMIs carry none."""
        table = provider_table(self.name)["image"]
        version = "*" if spec.flatcar_version == "latest" else spec.flatcar_version
        fmt: str = table["nameFormat"][spec.node.arch]
        return fmt.format(channel=spec.flatcar_channel, version=version)

    def machine_template(self, spec: ClusterSpec, role: str, name: str) -> dict[str, Any]:
        s: AWSSettings = spec.provider_settings
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
            ignition["version"] = "2.3"  # what CABPK emits (FACTS.md section 5)
        machine["ignition"] = ignition
        return {
            "apiVersion": self.api_version,
            "kind": "AWSMachineTemplate",
            "metadata": {"name": name, "namespace": spec.namespace},
            "spec": {"template": {"spec": machine}},
        }

    def node_config(self, role: str) -> NodeConfig:
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
        self, spec: ClusterSpec, clc_by_role: Mapping[str, str]
    ) -> list[Problem]:
        s: AWSSettings = spec.provider_settings
        if s.storage_type != "UnencryptedUserData":
            return []
        limits = provider_table(self.name)["userData"]
        problems = []
        for role, clc in clc_by_role.items():
            # CABPK also turns the users (our SSH keys) into Ignition passwd entries.
            ours = ignition_size(clc) + sum(len(k) + 8 for k in spec.ssh_authorized_keys)
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

    def notes(self, spec: ClusterSpec) -> list[str]:
        s: AWSSettings = spec.provider_settings
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


PROVIDER = AWSProvider()
