"""The cluster stage's context: the one object every cluster hook of a provider or a feature
gets (the node stage's is node.NodeContext, next to the model it builds).

Built once in generate.py after the release is resolved, so hooks that depend on the Kubernetes
minor (pinned add-on charts) see the version nodes really boot, not the user's spelling of it.
"""

from typing import Generic, NamedTuple, TypeVar

from capi_sysext.clusterapi import Shape
from capi_sysext.node import NodeRelease
from capi_sysext.spec import ClusterSpec

P = TypeVar("P")


class ClusterContext(NamedTuple, Generic[P]):
    spec: ClusterSpec[P]
    shape: Shape
    release: NodeRelease
    # Feature name -> what that feature resolved for this cluster (the add-on plan), so each
    # cluster hook of a feature reuses it instead of resolving again. generate() passes a new
    # dict per cluster.
    resolved: dict[str, object]

    @property
    def settings(self) -> P:
        """The provider's typed settings (P is the provider's settings type)."""
        return self.spec.provider_settings

    @property
    def minor(self) -> str:
        """The resolved release's Kubernetes minor, e.g. "1.33"."""
        v = self.release.image.version
        return f"{v.major}.{v.minor}"
