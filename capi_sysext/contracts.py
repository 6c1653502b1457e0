"""Runtime contracts over a set of documents: what must hold for the cluster to really come up.

CRD schemas say whether each object is well-formed; they cannot say that an AWSCluster with
Cilium lacks the ingress rules Cilium's VXLAN needs, or that a GCP cluster has no cloud controller
manager. Providers and features state such rules next to the behaviour they own
(`Provider.check_documents`, `Feature.check_documents`); `validate` runs them over whatever
documents it is given (our output or hand-edited YAML) and reports each finding at its object path.

This module is a bottom layer: plain data and lookups, no registry, no provider knowledge.
"""

from collections.abc import Iterator, Mapping, Sequence
from typing import Any, NamedTuple

# A Cluster annotation that switches named rules off for that cluster's documents, for a user
# who knowingly delivers the piece another way (e.g. a CNI installed by their own GitOps).
SKIP_ANNOTATION = "validate.capi-sysext.io/skip"


class Finding(NamedTuple):
    """One broken contract: the document (by position), where in it, and what to do."""

    position: int  # of the document in DocumentSet.documents
    path: str  # JSON path inside that document, e.g. "$.spec.network.cni"
    message: str  # what is wrong and the fix
    rule: str  # short rule id, e.g. "aws-cni-ingress"; SKIP_ANNOTATION names these


def dig(doc: Any, *parts: str | int) -> Any:
    """doc[p0][p1]...; None where any step is missing or of the wrong type."""
    for p in parts:
        if isinstance(p, int):
            if not isinstance(doc, list) or not -len(doc) <= p < len(doc):
                return None
            doc = doc[p]
        elif isinstance(doc, Mapping):
            doc = doc.get(p)
        else:
            return None
    return doc


def group_of(doc: Mapping[str, Any]) -> str:
    api = doc.get("apiVersion")
    return api.split("/")[0] if isinstance(api, str) and "/" in api else ""


class DocumentSet(NamedTuple):
    """The parsed documents of one `validate` run (mappings only), in input order."""

    documents: Sequence[Mapping[str, Any]]

    def of_kind(
        self, kind: str, group: str | None = None
    ) -> Iterator[tuple[int, Mapping[str, Any]]]:
        for i, doc in enumerate(self.documents):
            if doc.get("kind") == kind and (group is None or group_of(doc) == group):
                yield i, doc

    def named(
        self, kind: str, name: str, namespace: str, group: str | None = None
    ) -> tuple[int, Mapping[str, Any]] | None:
        """The document of that kind and name in the namespace (unset namespace matches any)."""
        for i, doc in self.of_kind(kind, group):
            ns = dig(doc, "metadata", "namespace") or ""
            same_ns = not ns or not namespace or ns == namespace
            if dig(doc, "metadata", "name") == name and same_ns:
                return i, doc
        return None

    def skipped(self, cluster: Mapping[str, Any]) -> frozenset[str]:
        """Rule ids the Cluster's SKIP_ANNOTATION switches off."""
        value = dig(cluster, "metadata", "annotations", SKIP_ANNOTATION)
        if not isinstance(value, str):
            return frozenset()
        return frozenset(p.strip() for p in value.split(",") if p.strip())
