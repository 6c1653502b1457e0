"""The interface of an optional feature (see features/__init__.py)."""

from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar, NamedTuple

from capi_sysext.contracts import DocumentSet, Finding
from capi_sysext.errors import Problem
from capi_sysext.inputs import Variable
from capi_sysext.model import NodeConfig

if TYPE_CHECKING:
    from capi_sysext.clusterapi import Shape
    from capi_sysext.node import NodeRelease
    from capi_sysext.providers.base import Provider
    from capi_sysext.spec import ClusterSpec


# Prefix of the labels features put on the Cluster for their selectors (CRS, HelmChartProxy).
LABEL_PREFIX = "capi-sysext.io"


class ClusterContext(NamedTuple):
    """What a feature may need to build cluster documents."""

    spec: "ClusterSpec"
    provider: "Provider"
    shape: "Shape"
    release: "NodeRelease"
    cluster_labels: Mapping[str, str]  # every label the Cluster carries (selectors must match)


class Feature(ABC):
    name: ClassVar[str]
    # Every variable is a values key of both `generate` and `render-node` (one option set, one
    # values file). Flags: `generate` shows all; `render-node` only those of features that change
    # the node config (node_scope), so it offers no flags it would ignore.
    variables: ClassVar[tuple[Variable, ...]]
    node_scope: ClassVar[bool] = False

    @abstractmethod
    def settings(self, values: Mapping[str, Any]) -> Any:
        """Typed settings from resolved values (by variable key)."""

    def check(self, settings: Any) -> list[Problem]:
        return []

    def check_cluster(self, spec: "ClusterSpec") -> list[Problem]:
        """Checks that need the whole cluster spec (provider, Kubernetes minor); `generate` only."""
        return []

    def node_config(self, settings: Any, release: "NodeRelease", role: str) -> NodeConfig:
        return NodeConfig()

    def cluster_labels(self, spec: "ClusterSpec") -> dict[str, str]:
        """Labels on the Cluster, e.g. what a ClusterResourceSet or HelmChartProxy selects."""
        return {}

    def documents(self, ctx: ClusterContext) -> list[dict[str, Any]]:
        """Extra documents, applied after the Cluster (add-ons, health checks)."""
        return []

    def notes(self, spec: "ClusterSpec") -> list[str]:
        return []

    def warnings(self, settings: Any) -> list[str]:
        """stderr warnings about risky node settings (`generate` and `render-node`)."""
        return []

    def skipped_rules(self, spec: "ClusterSpec") -> list[str]:
        """Rule ids of check_documents that the user's inputs knowingly opt out of; `generate`
        records them in the Cluster's contracts.SKIP_ANNOTATION."""
        return []

    def check_documents(self, docs: DocumentSet) -> list[Finding]:
        """Runtime contracts of this feature over any documents `validate` is given."""
        return []

    def prerequisites(self, settings: Any) -> list[str]:
        """Management-cluster components these settings need (--list-variables, README)."""
        return []


def typed(values: Mapping[str, Any], var: Variable) -> Any:
    """A variable's typed value. Defaults are spelled the way a user types them ("30m",
    "00:00-23:59"), so --list-variables shows them readably; such a default is parsed here."""
    value = values[var.key]
    if isinstance(value, str) and value == var.default:
        return var.parse(value)
    return value
