"""Azure (CAPZ): AzureCluster, AzureClusterIdentity, AzureMachineTemplates (infra v1beta1)."""

import re
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, NamedTuple

from capi_sysext.capi import NODE_NAME_PLACEHOLDER
from capi_sysext.classvars import (
    CLUSTER_NAME,
    CONTROL_PLANE_MACHINE,
    INFRASTRUCTURE,
    REPLACED,
    WORKER_MACHINE,
    ClassParameters,
    ClassPatch,
    ClassVariable,
    Expr,
    machine_types,
    split_template,
    string_schema,
)
from capi_sysext.clouds.base import InfraCluster, KubeadmPatch, Provider
from capi_sysext.clusterapi import (
    INFRA_GROUP,
    MACHINE_TEMPLATE_NAME_BUILTIN,
    MOVE_HIERARCHY_LABEL,
)
from capi_sysext.context import ClusterContext
from capi_sysext.contracts import DocumentSet, Finding, dig
from capi_sysext.errors import Problem
from capi_sysext.inputs import Variable, parse_choice, parse_str
from capi_sysext.model import Dropin, NodeConfig, Unit
from capi_sysext.node import NodeContext
from capi_sysext.package_data import provider_table
from capi_sysext.prerequisites import CABPK_IGNITION
from capi_sysext.spec import ClusterSpec

IDENTITY_TYPES = ("WorkloadIdentity", "UserAssignedMSI", "ServicePrincipal")
# AzureClusterIdentity types whose credentials never reach the nodes: CAPZ writes a client secret
# into azure.json only for ServicePrincipal (controllers/helpers.go:248-253 newCloudProviderConfig,
# AadClientSecret: d.ClientSecret()), so with these the cloud provider needs a VM identity.
NO_NODE_CREDENTIAL_TYPES = ("WorkloadIdentity", "UserAssignedMSI")
_NODE_IDENTITY_FIX = (
    "create a user-assigned managed identity with Contributor on the cluster's resource group "
    "(CAPZ docs/book/src/self-managed/vm-identity.md) and set values keys "
    "azure.nodeIdentity.name and azure.nodeIdentity.resourceGroup (env "
    "USER_ASSIGNED_IDENTITY_NAME, AZURE_USER_ASSIGNED_IDENTITY_RESOURCE_GROUP)"
)
ENVIRONMENTS = ("AzurePublicCloud", "AzureChinaCloud", "AzureUSGovernmentCloud")
_NODE_NAME_FILE = "/run/capi-sysext/node-name"
_AZURE_JSON_PATH = "/etc/kubernetes/azure.json"


class AzureSettings(NamedTuple):
    subscription_id: str
    tenant_id: str
    location: str
    resource_group: str | None
    vnet_name: str | None
    environment: str
    identity_name: str
    identity_type: str
    client_id: str
    identity_secret_name: str | None
    identity_secret_namespace: str
    control_plane_machine_type: str | None
    node_machine_type: str | None
    ssh_public_key_b64: str | None
    node_identity_name: str | None
    node_identity_resource_group: str | None


def _parse_arm_name(pattern: str, what: str) -> Any:
    """A parser for one ARM resource name: it becomes part of a resource ID (a path), so only
    the characters Azure allows for that resource type get through."""
    compiled = re.compile(pattern)

    def parse(value: Any) -> str:
        text = parse_str(value)
        if not compiled.fullmatch(text):
            raise ValueError(f"is not a valid {what} name: {text!r}")
        return text

    return parse


def _v(key: str, help: str, env: str, **kw: Any) -> Variable:
    kw.setdefault("parse", parse_str)
    return Variable(f"azure.{key}", help, env=env, **kw)


class AzureProvider(Provider[AzureSettings]):
    name = "azure"
    title = "Azure (CAPZ)"
    api_version = f"{INFRA_GROUP}/v1beta1"
    kinds = frozenset(
        {"AzureCluster", "AzureClusterIdentity", "AzureMachineTemplate", "AzureMachine"}
    )
    arches = ("x86-64", "arm64")
    gates = (CABPK_IGNITION,)
    reference_paths = MappingProxyType({"AzureCluster": (("spec", "identityRef"),)})
    controller = "CAPZ"
    extra_prerequisites = (
        "; cloud account: with identity type WorkloadIdentity or UserAssignedMSI, a managed "
        "identity for the nodes' cloud provider (azure.nodeIdentity.*) with Contributor on the "
        "cluster's resource group"
    )
    variables = (
        _v("subscriptionID", "Azure subscription ID", "AZURE_SUBSCRIPTION_ID", required=True),
        _v("tenantID", "Azure AD tenant of the cluster identity", "AZURE_TENANT_ID", required=True),
        _v("location", "Azure region, e.g. westeurope", "AZURE_LOCATION", required=True),
        _v(
            "identity.clientID",
            "client ID of the identity CAPZ uses",
            "AZURE_CLIENT_ID_USER_ASSIGNED_IDENTITY",
            required=True,
        ),
        _v(
            "identity.type",
            "AzureClusterIdentity type",
            "CLUSTER_IDENTITY_TYPE",
            parse=parse_choice(IDENTITY_TYPES, {t.lower(): t for t in IDENTITY_TYPES}),
            default="WorkloadIdentity",
            choices=IDENTITY_TYPES,
        ),
        _v(
            "identity.name",
            "AzureClusterIdentity name",
            "CLUSTER_IDENTITY_NAME",
            default="cluster-identity",
        ),
        _v(
            "identity.secretName",
            "Secret with the service principal password (ServicePrincipal)",
            "AZURE_CLUSTER_IDENTITY_SECRET_NAME",
        ),
        _v(
            "identity.secretNamespace",
            "namespace of that Secret",
            "AZURE_CLUSTER_IDENTITY_SECRET_NAMESPACE",
            default="default",
        ),
        _v(
            "nodeIdentity.name",
            "user-assigned managed identity on every VM, which the cloud controller manager "
            "authenticates as (CAPZ's identity: UserAssigned); required with identity.type "
            "WorkloadIdentity or UserAssignedMSI",
            "USER_ASSIGNED_IDENTITY_NAME",
            # Managed identity names: 3-128 of letters, digits, '-', '_', starting alphanumeric.
            parse=_parse_arm_name(r"[A-Za-z0-9][A-Za-z0-9_-]{2,127}", "managed identity"),
        ),
        _v(
            "nodeIdentity.resourceGroup",
            "resource group of that identity",
            "AZURE_USER_ASSIGNED_IDENTITY_RESOURCE_GROUP",
            # Resource group names: 1-90 of letters, digits, '_', '-', '.', '(', ')', no final '.'.
            parse=_parse_arm_name(r"[-\w.()]{0,89}[-\w()]", "resource group"),
        ),
        _v("resourceGroup", "resource group (default: the cluster name)", "AZURE_RESOURCE_GROUP"),
        _v("vnetName", "virtual network name (default: <name>-vnet)", "AZURE_VNET_NAME"),
        _v(
            "environment",
            "Azure cloud",
            "AZURE_ENVIRONMENT",
            default="AzurePublicCloud",
            parse=parse_choice(ENVIRONMENTS, {e.lower(): e for e in ENVIRONMENTS}),
            choices=ENVIRONMENTS,
        ),
        _v(
            "controlPlaneMachineType",
            "VM size of control-plane nodes (default per arch)",
            "AZURE_CONTROL_PLANE_MACHINE_TYPE",
        ),
        _v(
            "nodeMachineType",
            "VM size of worker nodes (default per arch)",
            "AZURE_NODE_MACHINE_TYPE",
        ),
        _v(
            "sshPublicKeyB64",
            "base64 SSH public key CAPZ puts on the VMs",
            "AZURE_SSH_PUBLIC_KEY_B64",
        ),
    )

    def settings(self, values: Mapping[str, Any]) -> AzureSettings:
        return AzureSettings(
            subscription_id=values["azure.subscriptionID"],
            tenant_id=values["azure.tenantID"],
            location=values["azure.location"],
            resource_group=values["azure.resourceGroup"],
            vnet_name=values["azure.vnetName"],
            environment=values["azure.environment"],
            identity_name=values["azure.identity.name"],
            identity_type=values["azure.identity.type"],
            client_id=values["azure.identity.clientID"],
            identity_secret_name=values["azure.identity.secretName"],
            identity_secret_namespace=values["azure.identity.secretNamespace"],
            control_plane_machine_type=values["azure.controlPlaneMachineType"],
            node_machine_type=values["azure.nodeMachineType"],
            ssh_public_key_b64=values["azure.sshPublicKeyB64"],
            node_identity_name=values["azure.nodeIdentity.name"],
            node_identity_resource_group=values["azure.nodeIdentity.resourceGroup"],
        )

    def check(self, spec: ClusterSpec[AzureSettings]) -> list[Problem]:
        problems = super().check(spec)
        s = spec.provider_settings
        if s.identity_type == "ServicePrincipal" and not s.identity_secret_name:
            problems.append(
                Problem(
                    "identity type ServicePrincipal needs the Secret holding the client secret",
                    "set it with values key azure.identity.secretName, "
                    "env AZURE_CLUSTER_IDENTITY_SECRET_NAME",
                )
            )
        name, group = s.node_identity_name, s.node_identity_resource_group
        if s.identity_type in NO_NODE_CREDENTIAL_TYPES and not name:
            problems.append(
                Problem(
                    f"identity type {s.identity_type} gives the nodes no Azure credentials: "
                    "without a VM identity the cloud controller manager cannot authenticate and "
                    "Services of type LoadBalancer never get an address",
                    _NODE_IDENTITY_FIX,
                )
            )
        if name and not re.fullmatch(r"[0-9A-Za-z-]+", s.subscription_id):
            # It becomes part of the identity's ARM resource ID.
            problems.append(
                Problem(
                    f"azure.subscriptionID {s.subscription_id!r} is not a subscription ID",
                    "set the subscription's GUID with values key azure.subscriptionID, env "
                    "AZURE_SUBSCRIPTION_ID",
                )
            )
        if bool(name) != bool(group):
            missing = "nodeIdentity.resourceGroup" if name else "nodeIdentity.name"
            problems.append(
                Problem(
                    f"azure.{missing} is missing: the node identity needs both its name and "
                    "its resource group",
                    _NODE_IDENTITY_FIX,
                )
            )
        return problems

    def node_identity_provider_id(self, s: AzureSettings) -> str | None:
        """The ARM ID CAPZ assigns to each VM (the names were checked by their parsers)."""
        if not (s.node_identity_name and s.node_identity_resource_group):
            return None
        return (
            f"azure:///subscriptions/{s.subscription_id}/resourceGroups/"
            f"{s.node_identity_resource_group}/providers/Microsoft.ManagedIdentity/"
            f"userAssignedIdentities/{s.node_identity_name}"
        )

    def infrastructure(self, ctx: ClusterContext[AzureSettings]) -> InfraCluster:
        spec = ctx.spec
        s = spec.provider_settings
        identity_spec: dict[str, Any] = {
            "type": s.identity_type,
            "clientID": s.client_id,
            "tenantID": s.tenant_id,
            "allowedNamespaces": {},
        }
        if s.identity_type == "ServicePrincipal":
            identity_spec["clientSecret"] = {
                "name": s.identity_secret_name,
                "namespace": s.identity_secret_namespace,
            }
        identity = {
            "apiVersion": self.api_version,
            "kind": "AzureClusterIdentity",
            "metadata": {
                "name": s.identity_name,
                "namespace": spec.namespace,
                # clusterctl move takes the identity along with the cluster.
                "labels": {MOVE_HIERARCHY_LABEL: "true"},
            },
            "spec": identity_spec,
        }
        cluster = {
            "apiVersion": self.api_version,
            "kind": "AzureCluster",
            "metadata": {"name": spec.name, "namespace": spec.namespace},
            "spec": {
                "location": s.location,
                "subscriptionID": s.subscription_id,
                "resourceGroup": s.resource_group or spec.name,
                "azureEnvironment": s.environment,
                "identityRef": {
                    "apiVersion": self.api_version,
                    "kind": "AzureClusterIdentity",
                    "name": s.identity_name,
                },
                "networkSpec": {
                    "vnet": {"name": s.vnet_name or f"{spec.name}-vnet"},
                    "subnets": [
                        {"name": "control-plane-subnet", "role": "control-plane"},
                        {"name": "node-subnet", "role": "node"},
                    ],
                },
            },
        }
        return InfraCluster(ref=self.ref("AzureCluster", spec.name), documents=(identity, cluster))

    def class_parameters(self, ctx: ClusterContext[AzureSettings]) -> ClassParameters:
        """The variables of CAPZ's own topology cluster (templates/test/ci/
        cluster-template-prow-topology.yaml:20-39 at 69ec3a4: subscriptionID, location,
        controlPlaneMachineType, workerMachineType), patched where CAPZ's class template has
        them (templates/flavors/clusterclass/azure-cluster-template.yaml: subscriptionID,
        location). The resource group and the vnet default to names derived from the cluster's
        (infrastructure()), so they follow `.builtin.cluster.name` unless set, when they are
        variables. The node identity's ARM ID names the subscription: templated from it."""
        s = ctx.settings
        types = provider_table(self.name)["machineTypes"][ctx.spec.node.arch]
        spec_path = "/spec/template/spec/"
        variables = [
            ClassVariable(
                "subscriptionID",
                # What check() and the identity's ARM ID accept, and no template syntax.
                string_schema("Azure subscription ID", pattern="^[0-9A-Za-z-]+$"),
                s.subscription_id,
                "azure.subscriptionID",
            ),
            ClassVariable(
                "location", string_schema("Azure region", minLength=1), s.location, "azure.location"
            ),
        ]
        patches = [
            ClassPatch(INFRASTRUCTURE, spec_path + "subscriptionID", variable="subscriptionID"),
            ClassPatch(
                INFRASTRUCTURE, spec_path + "location", variable="location", placeholder=REPLACED
            ),
        ]
        for name, key, value, path, suffix in (
            ("resourceGroup", "azure.resourceGroup", s.resource_group, "resourceGroup", ""),
            ("vnetName", "azure.vnetName", s.vnet_name, "networkSpec/vnet/name", "-vnet"),
        ):
            if value:
                variables.append(ClassVariable(name, string_schema(name, minLength=1), value, key))
                patches.append(ClassPatch(INFRASTRUCTURE, spec_path + path, variable=name))
            else:
                derived: tuple[str | Expr, ...] = (Expr(CLUSTER_NAME),)
                if suffix:
                    derived += (suffix,)
                patches.append(ClassPatch(INFRASTRUCTURE, spec_path + path, template=derived))
        more_vars, more_patches = machine_types(
            "azure",
            "Azure VM size",
            "vmSize",
            (s.control_plane_machine_type, s.node_machine_type),
            types,
        )
        variables += more_vars
        patches += more_patches
        provider_id = self.node_identity_provider_id(s)
        if provider_id:
            stand_in = "@@subscription@@"
            templated = self.node_identity_provider_id(s._replace(subscription_id=stand_in))
            assert templated is not None
            for target in (CONTROL_PLANE_MACHINE, WORKER_MACHINE):
                patches.append(
                    ClassPatch(
                        target,
                        spec_path + "userAssignedIdentities/0/providerID",
                        template=split_template(templated, {stand_in: (Expr(".subscriptionID"),)}),
                        placeholder=REPLACED,
                    )
                )
        return ClassParameters(tuple(variables), tuple(patches))

    def check_documents(self, docs: DocumentSet) -> list[Finding]:
        """azure-node-identity: with an AzureClusterIdentity that gives nodes no credentials,
        every machine template of the cluster needs a VM identity for the cloud provider."""
        from capi_sysext.clouds import docrefs

        findings = []
        for owned in docrefs.infra_clusters(docs, "AzureCluster"):
            if owned.cluster is None or "azure-node-identity" in docs.skipped(owned.cluster):
                continue
            ref = dig(owned.doc, "spec", "identityRef")
            ns = dig(owned.doc, "metadata", "namespace") or ""
            found = docs.named("AzureClusterIdentity", str(dig(ref, "name")), ns)
            identity_type = dig(found[1], "spec", "type") if found else None
            if identity_type not in NO_NODE_CREDENTIAL_TYPES:
                continue  # a secret-based identity, or not in the input: nothing to say
            for i, template in docrefs.machine_templates(
                docs, owned.cluster, "AzureMachineTemplate"
            ):
                machine = dig(template, "spec", "template", "spec")
                vm_identity = dig(machine, "identity")
                if vm_identity == "SystemAssigned" or (
                    vm_identity == "UserAssigned" and dig(machine, "userAssignedIdentities", 0)
                ):
                    continue
                findings.append(
                    Finding(
                        i,
                        "$.spec.template.spec.identity",
                        f"the cluster's AzureClusterIdentity is {identity_type}, which gives the "
                        "nodes no credentials, and this machine template has no VM identity: "
                        "the cloud controller manager cannot authenticate and Services of type "
                        "LoadBalancer never get an address; set identity: UserAssigned with "
                        "userAssignedIdentities[0].providerID (capi-sysext: values keys "
                        "azure.nodeIdentity.name and azure.nodeIdentity.resourceGroup)",
                        "azure-node-identity",
                    )
                )
        return findings

    def machine_template(
        self, ctx: ClusterContext[AzureSettings], role: str, name: str
    ) -> dict[str, Any]:
        spec = ctx.spec
        s = spec.provider_settings
        table = provider_table(self.name)
        arch = spec.node.arch
        offer = table["image"]["offers"][arch]
        types = table["machineTypes"][arch]
        if role == "control-plane":
            vm_size = s.control_plane_machine_type or types["controlPlane"]
        else:
            vm_size = s.node_machine_type or types["worker"]
        machine: dict[str, Any] = {
            "image": {
                "marketplace": {
                    "publisher": table["image"]["publisher"],
                    "offer": offer["offer"],
                    "sku": f"{spec.flatcar_channel}{offer['skuSuffix']}",
                    "version": spec.flatcar_version,
                }
            },
            "osDisk": {"diskSizeGB": table["disks"]["osDiskSizeGB"], "osType": "Linux"},
            "vmSize": vm_size,
        }
        if role == "control-plane":
            machine["dataDisks"] = [
                {"diskSizeGB": table["disks"]["etcdDiskSizeGB"], "lun": 0, "nameSuffix": "etcddisk"}
            ]
        if s.ssh_public_key_b64:
            machine["sshPublicKey"] = s.ssh_public_key_b64
        provider_id = self.node_identity_provider_id(s)
        if provider_id:
            # As CAPZ's base template (templates/flavors/base/cluster-template.yaml:122-124) and
            # docs/book/src/topics/workload-identity.md:139-145: CAPZ then writes
            # useManagedIdentityExtension and this identity's client ID into the machine
            # template's azure.json Secret (controllers/helpers.go:235-245,
            # azurejson_machinetemplate_controller.go:181-203), which kubeadm_extras puts on the
            # node for the cloud provider. Workers get it too: cloud-node-manager reads it. The
            # cloud-provider-azure chart reads that path by default (helm/cloud-provider-azure/
            # values.yaml:9, cloudControllerManager.cloudConfig), so its values need no change.
            machine["identity"] = "UserAssigned"
            machine["userAssignedIdentities"] = [{"providerID": provider_id}]
        return {
            "apiVersion": self.api_version,
            "kind": "AzureMachineTemplate",
            "metadata": {"name": name, "namespace": spec.namespace},
            "spec": {"template": {"spec": machine}},
        }

    def node_config(self, ctx: NodeContext[AzureSettings]) -> NodeConfig:
        # As CAPZ's Flatcar flavors do: let Azure's OEM provisioning finish before kubeadm.
        dropin = Dropin("20-azure.conf", "[Unit]\nAfter=oem-cloudinit.service\n")
        return NodeConfig(units=(Unit("kubeadm.service", dropins=(dropin,)),))

    def node_name_commands(self) -> list[str]:
        url = provider_table(self.name)["nodeNameURL"]
        return [
            f"mkdir -p {_NODE_NAME_FILE.rsplit('/', 1)[0]}",
            f"curl -fsS --retry 10 --retry-connrefused -H Metadata:true --noproxy '*' "
            f"'{url}' -o {_NODE_NAME_FILE}",
            f"test -s {_NODE_NAME_FILE}",
            f'sed -i "s/{NODE_NAME_PLACEHOLDER}/$(cat {_NODE_NAME_FILE})/g" /etc/kubeadm.yml',
        ]

    def kubeadm_extras(
        self, ctx: ClusterContext[AzureSettings], role: str, name: str
    ) -> dict[str, Any]:
        # CAPZ writes the cloud-provider config for each machine template into this Secret;
        # the external cloud controller manager reads it from the host.
        key = "control-plane-azure.json" if role == "control-plane" else "worker-node-azure.json"
        extras: dict[str, Any] = {
            "files": [
                {
                    "contentFrom": {"secret": {"name": f"{name}-azure-json", "key": key}},
                    "owner": "root:root",
                    "path": _AZURE_JSON_PATH,
                    "permissions": "0644",
                }
            ]
        }
        if role == "control-plane":
            table = provider_table(self.name)
            extras["diskSetup"] = {
                "filesystems": [
                    {
                        "device": table["disks"]["etcdDevice"],
                        "extraOpts": ["-E", "lazy_itable_init=1,lazy_journal_init=1"],
                        "filesystem": "ext4",
                        "label": "etcd_disk",
                        "overwrite": False,
                    }
                ],
                "partitions": [],
            }
            extras["mounts"] = [["etcd_disk", "/var/lib/etcddisk"]]
            extras["clusterConfiguration"] = {
                "etcd": {"local": {"dataDir": "/var/lib/etcddisk/etcd"}},
            }
        return extras

    def class_patches(self, role: str, kubeadm_spec: Mapping[str, Any]) -> tuple[KubeadmPatch, ...]:
        # CAPZ names the azure.json Secret after the machine template (controllers/helpers.go:173
        # "%s-azure-json"), and in a class the topology controller
        # names the cloned template, so the reference comes from the builtin, as CAPZ's own
        # class does (templates/flavors/clusterclass/clusterclass.yaml:44-50,63-69, commit
        # 69ec3a40). A machine template name is a DNS subdomain: safe in a YAML quoted scalar.
        for i, file in enumerate(kubeadm_spec.get("files", ())):
            if file.get("path") == _AZURE_JSON_PATH:
                name = '"{{ ' + MACHINE_TEMPLATE_NAME_BUILTIN[role] + ' }}-azure-json"'
                return (KubeadmPatch(("files", i, "contentFrom", "secret", "name"), name),)
        return ()


PROVIDER = AzureProvider()
