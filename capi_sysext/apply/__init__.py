"""Apply generated documents to a management cluster with server-side apply, and wait for them.

No click here: the CLI builds an :class:`ApplyOptions`, calls :func:`apply_documents` (and
:func:`wait_for_clusters`) and prints the returned result. The ``kubernetes`` package is imported
inside functions only, so that ``capi-sysext --help`` does not pay for it.

Transport choice: the official client loads the kubeconfig (contexts, tokens, exec plugins, client
certificates, TLS) and owns the connection pool; requests go through its REST layer directly rather
than through ``DynamicClient``, which runs full discovery of every API group on construction (slow
on real clusters and needless here: we discover exactly the group-versions our documents use).
It also lets us send ``application/apply-patch+yaml`` and own the retry policy.

Modules: results (options, results, errors), transport (KubeClient), documents (references,
order, discovery), checks (preflight: served kinds, CRDs, feature gates), ssa (server-side
apply), wait.
"""

from capi_sysext.apply.checks import feature_gates, preflight
from capi_sysext.apply.documents import apply_rank, object_ref, order_documents
from capi_sysext.apply.results import (
    FIELD_MANAGER,
    Action,
    ApplyFailed,
    ApplyOptions,
    ApplyResult,
    BadAnswer,
    ObjectRef,
    ObjectResult,
    PreflightError,
    RetryPolicy,
    TransportError,
    WaitTimeout,
)
from capi_sysext.apply.ssa import ApplyRejected, apply_documents
from capi_sysext.apply.transport import MAX_ANSWER_BYTES, KubeClient, Response
from capi_sysext.apply.wait import (
    ClusterStatus,
    cluster_refs,
    control_plane_available,
    wait_for_clusters,
)

__all__ = [
    "FIELD_MANAGER",
    "MAX_ANSWER_BYTES",
    "Action",
    "ApplyFailed",
    "ApplyOptions",
    "ApplyRejected",
    "ApplyResult",
    "BadAnswer",
    "ClusterStatus",
    "KubeClient",
    "ObjectRef",
    "ObjectResult",
    "PreflightError",
    "Response",
    "RetryPolicy",
    "TransportError",
    "WaitTimeout",
    "apply_documents",
    "apply_rank",
    "cluster_refs",
    "control_plane_available",
    "feature_gates",
    "object_ref",
    "order_documents",
    "preflight",
    "wait_for_clusters",
]
