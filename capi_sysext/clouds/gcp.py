"""GCP (CAPG): GCPCluster and GCPMachineTemplates (infrastructure v1beta1, the one CAPG serves).

No upstream Flatcar flavor exists for CAPG: its templates/ has none and no file of
kubernetes-sigs/cluster-api-provider-gcp (at 5e0bb3b) names Flatcar; the flavor PR
kubernetes-sigs/cluster-api-provider-gcp#1378 was closed unmerged. Nodes boot Flatcar's stock
image family from project kinvolk-public and pull Kubernetes as a sysext. CAPG passes CABPK's
Ignition as the instance metadata `user-data` (cloud/services/compute/instances/reconcile.go:38,
143), which Flatcar's Ignition reads (flatcar/flatcar-website content/docs/latest/deploy/cloud/
gcp.md:38, `--metadata-from-file user-data=config.ign`, at 2075ef3).

Architectures: x86-64 only. Flatcar publishes no arm64 GCE images: the GCE install guide
(flatcar/flatcar-website content/docs/latest/deploy/cloud/gcp.md:38-56) lists only the families
flatcar-stable|beta|alpha|lts, and Flatcar's CI does not build or test GCE on arm64
(flatcar/scripts ci-automation/vendor-testing/gce.sh: "We never run GCE on arm64",
"ARM64 tests not supported on GCE").
"""

import re
from collections.abc import Mapping
from typing import Any, NamedTuple

from capi_sysext.capi import NODE_NAME_PLACEHOLDER
from capi_sysext.classvars import (
    CLUSTER_NAME,
    CONTROL_PLANE,
    INFRASTRUCTURE,
    REPLACED,
    ClassParameters,
    ClassPatch,
    ClassVariable,
    Expr,
    machine_types,
    split_template,
    string_schema,
)
from capi_sysext.clouds.base import InfraCluster, Provider
from capi_sysext.clusterapi import INFRA_GROUP
from capi_sysext.context import ClusterContext
from capi_sysext.contracts import DocumentSet, Finding, dig
from capi_sysext.errors import Problem
from capi_sysext.inputs import Variable, parse_bool, parse_int, parse_str
from capi_sysext.layout import METADATA_FILE, METADATA_UNIT
from capi_sysext.model import Dropin, NodeConfig, Unit
from capi_sysext.node import NodeContext
from capi_sysext.package_data import provider_table
from capi_sysext.prerequisites import CABPK_IGNITION
from capi_sysext.spec import ClusterSpec

HOSTNAME_KEY = "COREOS_GCE_HOSTNAME"
# Egress (Ignition downloads the sysext from extensions.flatcar.org at first boot): CAPG creates a
# Cloud Router with Cloud NAT only for a network it created itself, i.e. whose description is the
# cluster's tag (kubernetes-sigs/cluster-api-provider-gcp cloud/services/compute/networks/
# reconcile.go:41-48, snapshot 5e0bb3b 2026-06; NAT spec cloud/scope/cluster.go:254-266); an unset
# network name means the project's pre-existing "default" network (cloud/scope/cluster.go:144).
# Instances get no external IP unless GCPMachine spec.publicIP is true (api/v1beta1/
# gcpmachine_types.go:292-295, cloud/scope/machine.go:334). So by default we name a network
# CAPG creates (with Cloud NAT); a named existing network needs its own NAT or publicIP, as
# CAPG's own CI does for its pre-created network (scripts/ci-conformance.sh:113-134: router and
# `routers nats create`) and CAPG's book says (docs/book/src/prerequisites.md:31-49).
PREEXISTING_NETWORK = "default"
# GCE resource names (networks): RFC 1035 labels of at most 63 characters.
RESOURCE_NAME = r"[a-z]([-a-z0-9]{0,61}[a-z0-9])?"
# Project IDs, domain-scoped ones (example.com:proj) included; in a class this is also what keeps
# the templated cloud config free of the quote and backslash its gcfg string would need escaped.
PROJECT_ID = r"^[a-z][-a-z0-9.:]*[a-z0-9]$"


class GCPSettings(NamedTuple):
    project: str
    region: str
    network_name: str | None  # None: a network CAPG creates for this cluster
    public_ip: bool
    image: str | None
    control_plane_machine_type: str | None
    node_machine_type: str | None
    root_device_size: int


def _v(key: str, help: str, env: str | None = None, **kw: Any) -> Variable:
    kw.setdefault("parse", parse_str)
    return Variable(f"gcp.{key}", help, env=env, **kw)


def node_name_commands(metadata_file: str = METADATA_FILE) -> list[str]:
    """kubeadm's node name is the instance name: COREOS_GCE_HOSTNAME without its domain
    (name.zone.c.project.internal -> name). No `$NAME` variables (clusterctl's envsubst)."""
    return [
        f"grep -q '^{HOSTNAME_KEY}=[^.]' {metadata_file}",
        f'sed -i "s/{NODE_NAME_PLACEHOLDER}/'
        f"$(sed -n 's/^{HOSTNAME_KEY}=\\([^.]*\\).*/\\1/p' {metadata_file})/g\" /etc/kubeadm.yml",
    ]


class GCPProvider(Provider[GCPSettings]):
    name = "gcp"
    title = "GCP (CAPG)"
    api_version = f"{INFRA_GROUP}/v1beta1"
    kinds = frozenset({"GCPCluster", "GCPMachineTemplate", "GCPMachine"})
    arches = ("x86-64",)
    gates = (CABPK_IGNITION,)
    controller = "CAPG"
    extra_prerequisites = (
        "; cloud account: node egress through a network CAPG creates (the default, with "
        "Cloud NAT), an existing one with Cloud NAT, or gcp.publicIP=true"
    )
    variables = (
        _v("project", "GCP project ID", "GCP_PROJECT", required=True),
        _v("region", "GCP region, e.g. europe-west4", "GCP_REGION", required=True),
        _v(
            "network.name",
            "VPC network name (default: <name>-network, which CAPG creates with a Cloud NAT for "
            "egress); an existing network needs its own Cloud NAT, or gcp.publicIP",
            "GCP_NETWORK_NAME",
        ),
        _v(
            "publicIP",
            "give every machine an external IP (egress without Cloud NAT; the nodes are then "
            "reachable from the internet as far as the network's firewall rules allow)",
            "GCP_PUBLIC_IP",
            parse=parse_bool,
            default=False,
        ),
        _v(
            "image",
            "pin one image (full reference); default: the Flatcar image family of the channel "
            "from project kinvolk-public",
            "IMAGE_ID",
        ),
        _v(
            "controlPlaneMachineType",
            "machine type of control-plane nodes (default per arch)",
            "GCP_CONTROL_PLANE_MACHINE_TYPE",
        ),
        _v(
            "nodeMachineType",
            "machine type of worker nodes (default per arch)",
            "GCP_NODE_MACHINE_TYPE",
        ),
        _v(
            "rootDeviceSize",
            "root disk size in GB",
            "GCP_ROOT_DEVICE_SIZE",
            parse=parse_int(20, 65536),
            default=50,
        ),
    )

    def settings(self, values: Mapping[str, Any]) -> GCPSettings:
        return GCPSettings(
            project=values["gcp.project"],
            region=values["gcp.region"],
            network_name=values["gcp.network.name"],
            public_ip=values["gcp.publicIP"],
            image=values["gcp.image"],
            control_plane_machine_type=values["gcp.controlPlaneMachineType"],
            node_machine_type=values["gcp.nodeMachineType"],
            root_device_size=values["gcp.rootDeviceSize"],
        )

    def check(self, spec: ClusterSpec[GCPSettings]) -> list[Problem]:
        if spec.node.arch not in self.arches:
            return [
                Problem(
                    f"--arch {spec.node.arch} is not supported on {self.title}: Flatcar publishes "
                    "no arm64 images on Google Compute Engine (project kinvolk-public has only "
                    "x86-64 image families)",
                    "use --arch x86-64, or an arm64-capable provider (aws, azure)",
                )
            ]
        name = self.network_name(spec)
        # GCE resource names: RFC 1035 labels, at most 63 characters.
        if not re.fullmatch(RESOURCE_NAME, name):
            if spec.provider_settings.network_name is None:
                return [
                    Problem(
                        f"--name {spec.name}: the default VPC network is named after the "
                        f"cluster ({name!r}), and GCE resource names must start with a letter "
                        "and have at most 63 characters",
                        "choose a --name that starts with a letter, or name the network with "
                        "values key gcp.network.name, env GCP_NETWORK_NAME",
                    )
                ]
            return [
                Problem(
                    f"VPC network name {name!r} is not a valid GCE resource name (lowercase "
                    "letters, digits and '-', starting with a letter, at most 63 characters)",
                    "set another with values key gcp.network.name, env GCP_NETWORK_NAME",
                )
            ]
        return []

    def infrastructure(self, ctx: ClusterContext[GCPSettings]) -> InfraCluster:
        spec = ctx.spec
        s = spec.provider_settings
        cluster = {
            "apiVersion": self.api_version,
            "kind": "GCPCluster",
            "metadata": {"name": spec.name, "namespace": spec.namespace},
            "spec": {
                "project": s.project,
                "region": s.region,
                "network": {"name": self.network_name(spec)},
            },
        }
        return InfraCluster(ref=self.ref("GCPCluster", spec.name), documents=(cluster,))

    def class_parameters(self, ctx: ClusterContext[GCPSettings]) -> ClassParameters:
        """CAPG's own class makes region and the machine types variables (templates/
        cluster-template-clusterclass.yaml:36-54 at 5e0bb3b, patched at lines 55-95) and bakes
        project and network into its GCPClusterTemplate (lines 98-107); here those are per
        cluster too. The default network, <cluster>-network, follows `.builtin.cluster.name`
        (so a class serves every cluster that lets CAPG create its network); a named network
        is a variable. The control plane's cloud config names both, so it is templated too."""
        from capi_sysext.features.gce_ccm import cloud_config

        s = ctx.settings
        types = provider_table(self.name)["machineTypes"][ctx.spec.node.arch]
        spec_path = "/spec/template/spec/"
        variables = [
            ClassVariable(
                "project",
                string_schema("GCP project ID", pattern=PROJECT_ID),
                s.project,
                "gcp.project",
            ),
            ClassVariable(
                "region", string_schema("GCP region", minLength=1), s.region, "gcp.region"
            ),
        ]
        patches = [
            ClassPatch(
                INFRASTRUCTURE, spec_path + "project", variable="project", placeholder=REPLACED
            ),
            ClassPatch(
                INFRASTRUCTURE, spec_path + "region", variable="region", placeholder=REPLACED
            ),
        ]
        network: tuple[str | Expr, ...]
        if s.network_name:
            variables.append(
                ClassVariable(
                    "networkName",
                    string_schema("VPC network name", pattern=f"^{RESOURCE_NAME}$"),
                    s.network_name,
                    "gcp.network.name",
                )
            )
            network = (Expr(".networkName"),)
        else:
            network = (Expr(CLUSTER_NAME), "-network")
        patches.append(ClassPatch(INFRASTRUCTURE, spec_path + "network/name", template=network))
        # Stand-ins that cannot occur in the rest of the file (kubeadm_extras writes it alone).
        project_in, network_in = "@@project@@", "@@network@@"
        patches.append(
            ClassPatch(
                CONTROL_PLANE,
                spec_path + "kubeadmConfigSpec/files/0/content",
                template=split_template(
                    cloud_config(project_in, network_in),
                    {project_in: (Expr(".project"),), network_in: network},
                ),
                placeholder=REPLACED,
            )
        )
        more_vars, more_patches = machine_types(
            "gcp",
            "GCE machine type",
            "instanceType",
            (s.control_plane_machine_type, s.node_machine_type),
            types,
        )
        variables += more_vars
        patches += more_patches
        return ClassParameters(tuple(variables), tuple(patches))

    def network_name(self, spec: ClusterSpec[GCPSettings]) -> str:
        s = spec.provider_settings
        return s.network_name or f"{spec.name}-network"

    def notes(self, ctx: ClusterContext[GCPSettings]) -> list[str]:
        spec = ctx.spec
        notes = super().notes(ctx)
        s = spec.provider_settings
        if s.network_name and not s.public_ip:
            notes.append(
                f"gcp.network.name {s.network_name}: if this network exists already, CAPG "
                "creates no Cloud NAT for it and the machines get no external IP, so Ignition "
                "cannot download Kubernetes and no node boots. Give the network a Cloud NAT in "
                f"{s.region} (CAPG book, prerequisites), or set gcp.publicIP=true, or leave "
                "gcp.network.name unset to let CAPG create one with Cloud NAT."
            )
        return notes

    def check_documents(self, docs: DocumentSet) -> list[Finding]:
        """gcp-egress: a cluster on the project's pre-existing network with machines that have
        no external IP has no egress CAPG set up (see PREEXISTING_NETWORK above)."""
        from capi_sysext.clouds import docrefs
        from capi_sysext.contracts import SKIP_ANNOTATION

        findings = []
        for owned in docrefs.infra_clusters(docs, "GCPCluster"):
            if owned.cluster is None or "gcp-egress" in docs.skipped(owned.cluster):
                continue
            network = dig(owned.doc, "spec", "network", "name") or PREEXISTING_NETWORK
            if network != PREEXISTING_NETWORK:
                continue  # CAPG creates it (with NAT) unless it exists: not visible here
            templates = list(docrefs.machine_templates(docs, owned.cluster, "GCPMachineTemplate"))
            private = [
                t
                for _i, t in templates
                if dig(t, "spec", "template", "spec", "publicIP") is not True
            ]
            if not private:
                continue
            findings.append(
                Finding(
                    owned.position,
                    "$.spec.network.name",
                    f"the cluster uses the project's existing {PREEXISTING_NETWORK!r} network, "
                    "for which CAPG creates no Cloud NAT, and its machine templates set no "
                    "publicIP: nodes cannot reach the internet and Ignition cannot download "
                    "Kubernetes; name a network CAPG creates (e.g. <cluster>-network), set "
                    "spec.template.spec.publicIP: true on the GCPMachineTemplates, or, if the "
                    f"network has a Cloud NAT, add gcp-egress to the Cluster's {SKIP_ANNOTATION} "
                    "annotation",
                    "gcp-egress",
                )
            )
        return findings

    def image(self, spec: ClusterSpec[GCPSettings]) -> tuple[str, str]:
        """("image" | "imageFamily", reference) for the machine templates."""
        s = spec.provider_settings
        if s.image:
            return "image", s.image
        table = provider_table(self.name)["image"]
        if spec.flatcar_version == "latest":
            return "imageFamily", str(table["family"]).format(channel=spec.flatcar_channel)
        version = spec.flatcar_version.replace(".", "-")
        return "image", str(table["image"]).format(channel=spec.flatcar_channel, version=version)

    def machine_template(
        self, ctx: ClusterContext[GCPSettings], role: str, name: str
    ) -> dict[str, Any]:
        spec = ctx.spec
        s = spec.provider_settings
        table = provider_table(self.name)
        types = table["machineTypes"][spec.node.arch]
        if role == "control-plane":
            instance_type = s.control_plane_machine_type or types["controlPlane"]
        else:
            instance_type = s.node_machine_type or types["worker"]
        field, ref = self.image(spec)
        machine: dict[str, Any] = {
            "instanceType": instance_type,
            field: ref,
            "rootDeviceSize": s.root_device_size,
        }
        if s.public_ip:
            machine["publicIP"] = True
        return {
            "apiVersion": self.api_version,
            "kind": "GCPMachineTemplate",
            "metadata": {"name": name, "namespace": spec.namespace},
            "spec": {"template": {"spec": machine}},
        }

    def kubeadm_extras(
        self, ctx: ClusterContext[GCPSettings], role: str, name: str
    ) -> dict[str, Any]:
        spec = ctx.spec
        # The GCE cloud controller manager (features/gce_ccm.py) runs on control-plane nodes and
        # reads its cloud config from the host, as in CAPG's e2e template
        # (test/e2e/data/infrastructure-gcp/cluster-template-ci.yaml lines 56-63).
        if role != "control-plane":
            return {}
        from capi_sysext.features.gce_ccm import CLOUD_CONFIG_PATH, cloud_config

        s = spec.provider_settings
        return {
            "files": [
                {
                    "content": cloud_config(s.project, self.network_name(spec)),
                    "owner": "root:root",
                    "path": CLOUD_CONFIG_PATH,
                    "permissions": "0644",
                }
            ]
        }

    def node_config(self, ctx: NodeContext[GCPSettings]) -> NodeConfig:
        dropin = Dropin(
            "20-gcp.conf",
            f"[Unit]\nRequires={METADATA_UNIT}\nAfter={METADATA_UNIT}\n",
        )
        return NodeConfig(units=(Unit("kubeadm.service", dropins=(dropin,)),))

    def node_name_commands(self) -> list[str]:
        return node_name_commands()


PROVIDER = GCPProvider()
