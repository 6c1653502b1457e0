"""The one interface every infrastructure provider implements.

A provider contributes only what differs per cloud: its inputs, its infrastructure objects, the
node-name wiring and kubeadm ordering on its nodes, and management-cluster requirements. Shared
code (node.py, capi.py, generate.py) calls these hooks and contains no provider switches.
"""

from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Any, ClassVar, Generic, NamedTuple, TypeVar

from capi_sysext.capi import Ref
from capi_sysext.classvars import ClassParameters
from capi_sysext.context import ClusterContext
from capi_sysext.contracts import DocumentSet, Finding
from capi_sysext.errors import Problem
from capi_sysext.inputs import Variable
from capi_sysext.model import NodeConfig
from capi_sysext.node import NodeContext
from capi_sysext.prerequisites import GateRequirement
from capi_sysext.spec import ClusterSpec

# The provider's own settings type (e.g. AzureSettings): every hook sees it typed.
S = TypeVar("S")


class InfraCluster(NamedTuple):
    ref: Ref  # what Cluster.spec.infrastructureRef points at
    documents: tuple[dict[str, Any], ...]  # in apply order, including identities


class KubeadmPatch(NamedTuple):
    """A value of a role's KubeadmConfigSpec that a ClusterClass templates from the builtins
    (per-cluster values set by the user are classvars.ClassPatch)."""

    path: tuple[str | int, ...]  # JSON pointer tokens below the spec the hook was given
    template: str  # a Go text/template over the class variables; its output is read as YAML
    op: str = "replace"  # "add" for a field the template does not carry


class Provider(ABC, Generic[S]):
    name: ClassVar[str]
    title: ClassVar[str]
    api_version: ClassVar[str]  # infrastructure API group/version the provider serves
    kinds: ClassVar[frozenset[str]]  # infrastructure kinds this provider owns
    arches: ClassVar[tuple[str, ...]]
    variables: ClassVar[tuple[Variable, ...]]
    gates: ClassVar[tuple[GateRequirement, ...]] = ()
    controller: ClassVar[str]  # the CAPI provider's short name, e.g. "CAPZ"
    # What the management cluster needs beyond core CAPI with the Ignition gate and the provider.
    extra_prerequisites: ClassVar[str] = ""
    # Infrastructure kind -> paths of object references it holds, for `validate`'s checks.
    reference_paths: ClassVar[Mapping[str, tuple[tuple[str, ...], ...]]] = {}

    @abstractmethod
    def settings(self, values: Mapping[str, Any]) -> S:
        """Turn resolved values (by variable key) into the provider's typed settings object."""

    def check(self, spec: ClusterSpec[S]) -> list[Problem]:
        """Cross-field checks that need the whole spec (e.g. arch support); spec stage."""
        if spec.node.arch not in self.arches:
            return [
                Problem(
                    f"--arch {spec.node.arch} is not supported on {self.title}",
                    f"use one of: {', '.join(self.arches)}",
                )
            ]
        return []

    @abstractmethod
    def infrastructure(self, ctx: ClusterContext[S]) -> InfraCluster:
        """The infrastructure cluster object and what it needs (identities, secrets refs)."""

    @abstractmethod
    def machine_template(self, ctx: ClusterContext[S], role: str, name: str) -> dict[str, Any]:
        """The infrastructure machine template for a role ('control-plane' or 'worker')."""

    @abstractmethod
    def node_config(self, ctx: NodeContext[S]) -> NodeConfig:
        """Node pieces the provider needs, e.g. kubeadm ordered after its metadata agent.
        ctx.provider_settings is None outside `generate` (render-node has no provider inputs)."""

    @abstractmethod
    def node_name_commands(self) -> list[str]:
        """preKubeadmCommands that replace NODE_NAME_PLACEHOLDER with the cloud's node name."""

    def kubeadm_extras(self, ctx: ClusterContext[S], role: str, name: str) -> dict[str, Any]:
        """Extra KubeadmConfigSpec fields (files, diskSetup, mounts); same in v1beta1/v1beta2."""
        return {}

    def class_patches(self, role: str, kubeadm_spec: Mapping[str, Any]) -> tuple[KubeadmPatch, ...]:
        """For `--format clusterclass`: values of the role's KubeadmConfigSpec that name objects
        the topology controller names per cluster (e.g. a Secret per machine template)."""
        return ()

    def skipped_rules(self, ctx: ClusterContext[S]) -> list[str]:
        """Rule ids of check_documents that the user's inputs knowingly opt out of (e.g. a
        bucket prefix their own IAM policy allows); generate records them on the Cluster."""
        return []

    def check_node_configs(
        self, ctx: ClusterContext[S], configs: Mapping[str, NodeConfig]
    ) -> list[Problem]:
        """Checks on the node model per role (not on our own rendered CLC, parsed back), e.g. a
        user-data size limit."""
        return []

    def class_parameters(self, ctx: ClusterContext[S]) -> ClassParameters:
        """What `--format clusterclass` makes a class variable (with this cluster's values) and
        the patches that put those, or values derived from the cluster's name, into the class's
        templates: everything per-cluster, so clusters of one flavour share one class."""
        return ClassParameters()

    def check_documents(self, docs: DocumentSet) -> list[Finding]:
        """Runtime contracts of this provider over any documents `validate` is given (our output
        or hand-edited YAML): what schemas cannot say but the cloud needs (see contracts.py)."""
        return []

    @property
    def prerequisites(self) -> str:
        """One line for --list-variables and the stderr notes."""
        return (
            "management cluster: Cluster API >= 1.11 with KubeadmBootstrapFormatIgnition=true "
            "(clusterctl init with EXP_KUBEADM_BOOTSTRAP_FORMAT_IGNITION=true) and "
            f"{self.controller}{self.extra_prerequisites}"
        )

    def notes(self, ctx: ClusterContext[S]) -> list[str]:
        """Things the user must know (printed on stderr), e.g. management-cluster gates."""
        return [f"needs a {self.prerequisites}"]

    def ref(self, kind: str, name: str) -> Ref:
        return Ref(self.api_version, kind, name)
