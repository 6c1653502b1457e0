"""GCP (CAPG): GCPCluster and GCPMachineTemplates (infrastructure v1beta1, the one CAPG serves).

No upstream Flatcar flavor exists for CAPG (FACTS.md section 6): nodes boot Flatcar's stock image
family from project kinvolk-public and pull Kubernetes as a sysext. CAPG passes CABPK's Ignition as
the instance metadata `user-data`, which Flatcar's Ignition reads.

Architectures: x86-64 only. Flatcar publishes no arm64 GCE images: the GCE install guide
(flatcar/flatcar-website content/docs/latest/installing/cloud/gcp.md) lists only the families
flatcar-stable|beta|alpha|lts, and Flatcar's CI does not build or test GCE on arm64
(flatcar/scripts ci-automation/vendor-testing/gce.sh: "We never run GCE on arm64",
"ARM64 tests not supported on GCE").
"""

from collections.abc import Mapping
from typing import Any, NamedTuple

from capi_sysext.errors import Problem
from capi_sysext.inputs import Variable, parse_int, parse_str
from capi_sysext.model import Dropin, NodeConfig, Unit
from capi_sysext.providers.base import NODE_NAME_PLACEHOLDER, InfraCluster, Provider
from capi_sysext.requirements import CABPK_IGNITION
from capi_sysext.resources import provider_table
from capi_sysext.spec import ClusterSpec

METADATA_FILE = "/run/metadata/flatcar"
METADATA_UNIT = "coreos-metadata.service"
HOSTNAME_KEY = "COREOS_GCE_HOSTNAME"


class GCPSettings(NamedTuple):
    project: str
    region: str
    network_name: str
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


class GCPProvider(Provider):
    name = "gcp"
    title = "GCP (CAPG)"
    api_version = "infrastructure.cluster.x-k8s.io/v1beta1"
    kinds = frozenset({"GCPCluster", "GCPMachineTemplate", "GCPMachine"})
    arches = ("x86-64",)
    gates = (CABPK_IGNITION,)
    controller = "CAPG"
    variables = (
        _v("project", "GCP project ID", "GCP_PROJECT", required=True),
        _v("region", "GCP region, e.g. europe-west4", "GCP_REGION", required=True),
        _v("network.name", "VPC network name", "GCP_NETWORK_NAME", required=True),
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
            image=values["gcp.image"],
            control_plane_machine_type=values["gcp.controlPlaneMachineType"],
            node_machine_type=values["gcp.nodeMachineType"],
            root_device_size=values["gcp.rootDeviceSize"],
        )

    def check(self, spec: ClusterSpec) -> list[Problem]:
        if spec.node.arch not in self.arches:
            return [
                Problem(
                    f"--arch {spec.node.arch} is not supported on {self.title}: Flatcar publishes "
                    "no arm64 images on Google Compute Engine (project kinvolk-public has only "
                    "x86-64 image families)",
                    "use --arch x86-64, or an arm64-capable provider (aws, azure)",
                )
            ]
        return []

    def infrastructure(self, spec: ClusterSpec) -> InfraCluster:
        s: GCPSettings = spec.provider_settings
        cluster = {
            "apiVersion": self.api_version,
            "kind": "GCPCluster",
            "metadata": {"name": spec.name, "namespace": spec.namespace},
            "spec": {
                "project": s.project,
                "region": s.region,
                "network": {"name": s.network_name},
            },
        }
        return InfraCluster(ref=self.ref("GCPCluster", spec.name), documents=(cluster,))

    def image(self, spec: ClusterSpec) -> tuple[str, str]:
        """("image" | "imageFamily", reference) for the machine templates."""
        s: GCPSettings = spec.provider_settings
        if s.image:
            return "image", s.image
        table = provider_table(self.name)["image"]
        if spec.flatcar_version == "latest":
            return "imageFamily", str(table["family"]).format(channel=spec.flatcar_channel)
        version = spec.flatcar_version.replace(".", "-")
        return "image", str(table["image"]).format(channel=spec.flatcar_channel, version=version)

    def machine_template(self, spec: ClusterSpec, role: str, name: str) -> dict[str, Any]:
        s: GCPSettings = spec.provider_settings
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
        return {
            "apiVersion": self.api_version,
            "kind": "GCPMachineTemplate",
            "metadata": {"name": name, "namespace": spec.namespace},
            "spec": {"template": {"spec": machine}},
        }

    def kubeadm_extras(self, spec: ClusterSpec, role: str, name: str) -> dict[str, Any]:
        # The GCE cloud controller manager (features/gce_ccm.py) runs on control-plane nodes and
        # reads its cloud config from the host, as in CAPG's e2e template
        # (test/e2e/data/infrastructure-gcp/cluster-template-ci.yaml lines 56-63).
        if role != "control-plane":
            return {}
        from capi_sysext.features.gce_ccm import CLOUD_CONFIG_PATH, cloud_config

        s: GCPSettings = spec.provider_settings
        return {
            "files": [
                {
                    "content": cloud_config(s.project, s.network_name),
                    "owner": "root:root",
                    "path": CLOUD_CONFIG_PATH,
                    "permissions": "0644",
                }
            ]
        }

    def node_config(self, role: str) -> NodeConfig:
        dropin = Dropin(
            "20-gcp.conf",
            f"[Unit]\nRequires={METADATA_UNIT}\nAfter={METADATA_UNIT}\n",
        )
        return NodeConfig(units=(Unit("kubeadm.service", dropins=(dropin,)),))

    def node_name_commands(self) -> list[str]:
        return node_name_commands()


PROVIDER = GCPProvider()
