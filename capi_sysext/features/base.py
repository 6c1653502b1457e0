"""The interface of an optional feature (see features/__init__.py)."""

from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Any, ClassVar, Generic, TypeVar, cast

from capi_sysext.context import ClusterContext
from capi_sysext.contracts import DocumentSet, Finding
from capi_sysext.errors import Problem
from capi_sysext.inputs import Variable
from capi_sysext.model import NodeConfig
from capi_sysext.node import NodeContext

S = TypeVar("S")  # the feature's own settings type
T = TypeVar("T")


class Feature(ABC, Generic[S]):
    """Hooks by stage. Spec stage: settings, check, warnings, prerequisites. Node stage:
    node_config(NodeContext). Cluster stage (`generate` only), all on one ClusterContext:
    check_cluster, cluster_labels, documents, notes, skipped_rules. `validate`: check_documents.
    """

    name: ClassVar[str]
    # Every variable is a values key of both `generate` and `render-node` (one option set, one
    # values file). Flags: `generate` shows all; `render-node` only those of features that change
    # the node config (node_scope), so it offers no flags it would ignore. Only node-scope
    # features' settings are on NodeSpec.features; all are on ClusterSpec.features.
    variables: ClassVar[tuple[Variable, ...]]
    node_scope: ClassVar[bool] = False
    # The features whose settings this one reads (through `needs`); the registry lists them
    # first, and a node-scope feature may depend on node-scope features only.
    depends_on: ClassVar[tuple["Feature[Any]", ...]] = ()

    @abstractmethod
    def settings(self, values: Mapping[str, Any]) -> S:
        """Typed settings from resolved values (by variable key): this feature's keys only."""

    def of(self, features: Mapping[str, object]) -> S:
        """This feature's settings out of NodeSpec/ClusterSpec.features."""
        # The one place the type is restored: the spec builder stored self.settings() here.
        return cast(S, features[self.name])

    def needs(self, dependency: "Feature[T]", features: Mapping[str, object]) -> T:
        """A declared dependency's settings; reading an undeclared one is a programming error."""
        if dependency not in self.depends_on:
            raise LookupError(
                f"feature {self.name} reads {dependency.name}'s settings but does not declare "
                "it in depends_on"
            )
        return dependency.of(features)

    def check(self, features: Mapping[str, object]) -> list[Problem]:
        """Checks on this feature's settings (and its dependencies'); spec stage."""
        return []

    def warnings(self, features: Mapping[str, object]) -> list[str]:
        """stderr warnings about risky node settings (`generate` and `render-node`)."""
        return []

    def prerequisites(self, settings: S) -> list[str]:
        """Management-cluster components these settings need (--list-variables, README)."""
        return []

    def node_config(self, ctx: NodeContext[Any]) -> NodeConfig:
        return NodeConfig()

    def check_cluster(self, ctx: ClusterContext[Any]) -> list[Problem]:
        """Checks that need the whole cluster (provider, resolved Kubernetes minor)."""
        return []

    def cluster_labels(self, ctx: ClusterContext[Any]) -> dict[str, str]:
        """Labels on the Cluster, e.g. what a ClusterResourceSet or HelmChartProxy selects."""
        return {}

    def documents(self, ctx: ClusterContext[Any]) -> list[dict[str, Any]]:
        """Extra documents, applied after the Cluster (add-ons, health checks)."""
        return []

    def notes(self, ctx: ClusterContext[Any]) -> list[str]:
        return []

    def skipped_rules(self, ctx: ClusterContext[Any]) -> list[str]:
        """Rule ids of check_documents that the user's inputs knowingly opt out of; `generate`
        records them in the Cluster's contracts.SKIP_ANNOTATION."""
        return []

    def check_documents(self, docs: DocumentSet, owners: Mapping[str, str]) -> list[Finding]:
        """Runtime contracts of this feature over any documents `validate` is given. `owners`:
        infrastructure kind -> provider name, from the provider table validate was handed."""
        return []


def typed(values: Mapping[str, Any], var: Variable) -> Any:
    """A variable's typed value. Defaults are spelled the way a user types them ("30m",
    "00:00-23:59"), so --list-variables shows them readably; such a default is parsed here."""
    value = values[var.key]
    if isinstance(value, str) and value == var.default:
        return var.parse(value)
    return value
