"""Validate multi-document cluster definitions: CRD schemas, embedded CLC, cross-references.

Checks per document: the CRD schema (strict, see crdschema), metadata names, and the Container
Linux Config inside kubeadm bootstrap specs. Checks across documents: duplicates and references
(Cluster -> infrastructure / control plane, KCP -> machine template, MachineDeployment ->
bootstrap config template / machine template, clusterName -> Cluster).

A reference is reported as dangling only when the input holds some document of the referenced
group: validating `cluster.yaml` alone must not complain that the AzureCluster lives in another
file, but once the input contains infrastructure objects, a reference to a missing one is a bug.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from capi_sysext.clccheck import check_clc
from capi_sysext.clusterapi import (
    CAPI_GROUP,
    CLC_FIELD,
    CLUSTER_NAME_KINDS,
    KUBEADM_SPECS,
    REFERENCE_PATHS,
)
from capi_sysext.contracts import dig
from capi_sysext.crdschema import Issue, json_path, split_api_version

if TYPE_CHECKING:
    from capi_sysext.crdschema import SchemaStore
    from capi_sysext.plugins import Plugins


def _references(plugins: Plugins) -> dict[tuple[str, str], tuple[tuple[str, ...], ...]]:
    """Core reference paths plus each provider's own (e.g. an infra cluster's identityRef)."""
    table = dict(REFERENCE_PATHS)
    for provider in plugins.providers:
        group = provider.api_version.split("/")[0]
        for kind, paths in provider.reference_paths.items():
            table[(group, kind)] = paths
    return table


@dataclass
class DocResult:
    source: str
    index: int  # 1-based position in its file, counting every YAML document
    api_version: str
    kind: str
    name: str
    namespace: str
    issues: list[Issue] = field(default_factory=list)
    schema_checked: bool = True  # False: a built-in kind checked for metadata only

    @property
    def group(self) -> str:
        return split_api_version(self.api_version)[0]

    def label(self) -> str:
        return f"{self.source}:doc {self.index} ({self.kind or '?'}/{self.name or '?'})"


@dataclass
class FileIssue:
    source: str
    issue: Issue


@dataclass
class Report:
    documents: list[DocResult]
    file_issues: list[FileIssue] = field(default_factory=list)
    files: int = 0

    @property
    def issue_count(self) -> int:
        return len(self.file_issues) + sum(len(d.issues) for d in self.documents)

    @property
    def ok(self) -> bool:
        return self.issue_count == 0

    def lines(self) -> list[str]:
        out = [f"{f.source}: {f.issue.path}: {f.issue.message}" for f in self.file_issues]
        for d in self.documents:
            out.extend(f"{d.label()}: {i.path}: {i.message}" for i in d.issues)
        return out

    def summary(self) -> str:
        docs = len(self.documents)
        where = f"{_plural(docs, 'document')} in {_plural(self.files, 'file')}"
        unchecked = sum(1 for d in self.documents if not d.schema_checked)
        if unchecked:
            where += f" ({unchecked} of built-in kinds: metadata checked only)"
        if self.ok:
            return f"valid: {where}"
        bad = sum(1 for d in self.documents if d.issues)
        extra = (
            f", {_plural(len(self.file_issues), 'file-level issue')}" if self.file_issues else ""
        )
        return f"invalid: {_plural(self.issue_count, 'issue')} in {bad} of {where}{extra}"

    def render_text(self) -> str:
        return "".join(line + "\n" for line in [*self.lines(), self.summary()])

    def to_json(self) -> dict[str, Any]:
        return {
            "valid": self.ok,
            "summary": {
                "files": self.files,
                "documents": len(self.documents),
                "documentsWithIssues": sum(1 for d in self.documents if d.issues),
                "issues": self.issue_count,
            },
            "fileIssues": [
                {"file": f.source, "path": f.issue.path, "message": f.issue.message}
                for f in self.file_issues
            ],
            "documents": [
                {
                    "file": d.source,
                    "doc": d.index,
                    "apiVersion": d.api_version,
                    "kind": d.kind,
                    "name": d.name,
                    "namespace": d.namespace,
                    "schemaChecked": d.schema_checked,
                    "issues": [{"path": i.path, "message": i.message} for i in d.issues],
                }
                for d in self.documents
            ],
        }

    def render_json(self) -> str:
        return json.dumps(self.to_json(), indent=2) + "\n"


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _dig_all(doc: Any, parts: tuple[str, ...]) -> list[tuple[tuple[str | int, ...], Any]]:
    """Like contracts.dig, with "*" for every item of a list; (concrete path, value) pairs."""
    found: list[tuple[tuple[str | int, ...], Any]] = [((), doc)]
    for p in parts:
        step: list[tuple[tuple[str | int, ...], Any]] = []
        for path, node in found:
            if p == "*" and isinstance(node, list):
                step += [((*path, i), item) for i, item in enumerate(node)]
            elif isinstance(node, Mapping) and p in node:
                step.append(((*path, p), node[p]))
        found = step
    return found


def _topology_class(doc: Mapping[str, Any], namespace: str) -> tuple[str, str] | None:
    """(name, namespace) of the ClusterClass a topology Cluster uses (v1beta2 classRef,
    v1beta1 class + classNamespace), or None for a Cluster without a topology."""
    topology = dig(doc, "spec", "topology")
    if not isinstance(topology, Mapping):
        return None
    ref = topology.get("classRef")
    if isinstance(ref, Mapping):
        return _str(ref.get("name")), _str(ref.get("namespace")) or namespace
    return _str(topology.get("class")), _str(topology.get("classNamespace")) or namespace


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""


def parse_documents(
    text: str, source: str
) -> tuple[list[tuple[int, Any, list[Issue]]], Issue | None]:
    """(1-based index, document, YAML issues) per non-empty document, or the YAML error.

    The loader only builds plain types within bounds (yamlio); YAML issues are plain scalars that
    YAML 1.1 readers such as kubectl read differently from YAML 1.2 readers.
    """
    import yaml

    from capi_sysext.yamlio import documents, not_valid_yaml, plain_scalar_conflicts

    docs: list[tuple[int, Any, list[Issue]]] = []
    try:
        for i, node, d in documents(text):
            if d is None:
                continue
            issues = [
                Issue(
                    json_path(path),
                    f"line {line}: plain {value!r} is {_article(old)} to YAML 1.1 readers "
                    f"(kubectl) but {_article(new)} to YAML 1.2 readers; quote it "
                    f'("{value}") for a string, or write the value unambiguously',
                )
                for path, line, value, old, new in plain_scalar_conflicts(node)
            ]
            docs.append((i, d, issues))
    except yaml.YAMLError as exc:
        return docs, Issue("$", not_valid_yaml(exc))
    return docs, None


def _article(kind: str) -> str:
    names = {"bool": "a boolean", "int": "an integer", "float": "a number", "null": "null"}
    return names.get(kind, f"a {kind}")


def _clc_issues(doc: Mapping[str, Any], group: str, kind: str) -> tuple[list[Issue], set[str]]:
    """CLC findings, plus paths whose schema maxLength issue the CLC size message replaces."""
    spec_path = KUBEADM_SPECS.get((group, kind))
    if spec_path is None:
        return [], set()
    spec = dig(doc, *spec_path)
    if not isinstance(spec, Mapping):
        return [], set()
    issues: list[Issue] = []
    replaced: set[str] = set()
    clc = dig(spec, *CLC_FIELD)
    field_path = json_path([*spec_path, *CLC_FIELD])
    if isinstance(clc, str):
        for i in check_clc(clc):
            issues.append(Issue(field_path, f"CLC {i.path}: {i.message}"))
            if i.path == "$" and "limit is" in i.message:
                replaced.add(field_path)
    if dig(spec, "ignition") is not None and spec.get("format") != "ignition":
        issues.append(
            Issue(
                json_path([*spec_path, "format"]),
                'ignition is set but format is not "ignition"; CABPK would ignore it',
            )
        )
    return issues, replaced


def _ref_target(ref: Mapping[str, Any], referrer: DocResult) -> tuple[str, str, str, str, str]:
    """(group, version or "", kind, name, namespace) of a v1beta1 or v1beta2 reference."""
    version = ""
    if isinstance(ref.get("apiVersion"), str):
        group, version = split_api_version(ref["apiVersion"])
    elif isinstance(ref.get("apiGroup"), str):
        group = ref["apiGroup"]
    else:
        group = referrer.group  # identity refs carry only kind + name
    ns = _str(ref.get("namespace")) or referrer.namespace
    return group, version, _str(ref.get("kind")), _str(ref.get("name")), ns


def _check_refs(
    results: list[tuple[DocResult, Mapping[str, Any]]], store: SchemaStore, plugins: Plugins
) -> None:
    refs = _references(plugins)
    index: dict[tuple[str, str, str], list[str]] = {}
    groups_in_input: set[str] = set()
    for d, _doc in results:
        index.setdefault((d.group, d.kind, d.name), []).append(d.namespace)
        groups_in_input.add(d.group)

    def exists(group: str, kind: str, name: str, ns: str) -> bool:
        namespaces = index.get((group, kind, name))
        if namespaces is None:
            return False
        if not store.namespaced(group, kind):
            return True
        # An unset namespace is whatever `kubectl apply -n` picks, so it matches any.
        return any(n == ns or not n or not ns for n in namespaces)

    for d, doc in results:
        for pattern in refs.get((d.group, d.kind), ()):
            for parts, ref in _dig_all(doc, pattern):
                if not isinstance(ref, Mapping):
                    continue
                group, version, kind, name, ns = _ref_target(ref, d)
                where = json_path(parts)
                if not kind or not name:
                    continue  # the schema reports missing kind/name
                present = exists(group, kind, name, ns)
                if present and not version:
                    continue  # the target document reports its own schema problems
                if (
                    version
                    and group in store.groups()
                    and not store.served(f"{group}/{version}", kind)
                ):
                    served = store.served_versions(group, kind)
                    hint = f" (served: {', '.join(served)})" if served else ""
                    d.issues.append(Issue(where, f"no CRD serves {group}/{version} {kind}{hint}"))
                    continue
                if not present and group in store.groups() and not store.has_kind(group, kind):
                    d.issues.append(Issue(where, f"no CRD in {group} serves kind {kind}"))
                    continue
                if group in groups_in_input and not present:
                    in_ns = f" in namespace {ns}" if ns and ns != d.namespace else ""
                    d.issues.append(
                        Issue(where, f"refers to {kind}/{name}{in_ns}, which is not in the input")
                    )
        used = (
            _topology_class(doc, d.namespace)
            if (d.group, d.kind) == (CAPI_GROUP, "Cluster")
            else None
        )
        # A class may already be on the management cluster: only a class file in the input
        # that lacks the named class is reported.
        classes_in_input = (CAPI_GROUP, "ClusterClass") in {(r.group, r.kind) for r, _ in results}
        if (
            used
            and classes_in_input
            and (not used[0] or not exists(CAPI_GROUP, "ClusterClass", *used))
        ):
            d.issues.append(
                Issue(
                    "$.spec.topology",
                    f"uses ClusterClass/{used[0]}, which is not in the input",
                )
            )
        if (d.group, d.kind) in CLUSTER_NAME_KINDS:
            cluster = dig(doc, "spec", "clusterName")
            if (
                isinstance(cluster, str)
                and cluster
                and CAPI_GROUP in groups_in_input
                and any(r.kind == "Cluster" and r.group == CAPI_GROUP for r, _ in results)
                and not exists(CAPI_GROUP, "Cluster", cluster, d.namespace)
            ):
                d.issues.append(
                    Issue(
                        "$.spec.clusterName",
                        f"refers to Cluster/{cluster}, which is not in the input",
                    )
                )


def _check_contracts(results: list[tuple[DocResult, Mapping[str, Any]]], plugins: Plugins) -> None:
    """Provider and feature runtime contracts (contracts.py), reported at their documents."""
    from capi_sysext.contracts import DocumentSet, Finding

    docs = DocumentSet([doc for _d, doc in results])
    owners = plugins.owners
    findings: list[Finding] = [f for p in plugins.providers for f in p.check_documents(docs)]
    findings += [f for feat in plugins.features for f in feat.check_documents(docs, owners)]
    for finding in findings:
        results[finding.position][0].issues.append(
            Issue(finding.path, f"{finding.message} [{finding.rule}]")
        )


def validate_documents(
    sources: list[tuple[str, str]], store: SchemaStore, plugins: Plugins
) -> Report:
    """Validate (source name, YAML text) pairs. Never raises for content problems: reports them.
    `plugins`: the provider and feature tables (plugins.registered())."""
    report = Report(documents=[], files=len(sources))
    results: list[tuple[DocResult, Mapping[str, Any]]] = []
    seen: dict[tuple[str, str, str, str], DocResult] = {}
    for source, text in sources:
        docs, err = parse_documents(text, source)
        if err is not None:
            report.file_issues.append(FileIssue(source, err))
        for index, doc, yaml_issues in docs:
            meta = doc.get("metadata") if isinstance(doc, Mapping) else None
            meta = meta if isinstance(meta, Mapping) else {}
            d = DocResult(
                source=source,
                index=index,
                api_version=_str(doc.get("apiVersion")) if isinstance(doc, Mapping) else "",
                kind=_str(doc.get("kind")) if isinstance(doc, Mapping) else "",
                name=_str(meta.get("name")),
                namespace=_str(meta.get("namespace")),
            )
            report.documents.append(d)
            d.schema_checked = store.schema_checked(d.api_version, d.kind)
            issues = [*yaml_issues, *store.validate(doc)]
            if isinstance(doc, Mapping):
                clc, replaced = _clc_issues(doc, d.group, d.kind)
                issues = [
                    i
                    for i in issues
                    if not (i.path in replaced and i.message.startswith("must be at most"))
                ]
                issues.extend(clc)
                results.append((d, doc))
                key = (d.group, d.kind, d.namespace, d.name)
                if d.name and d.kind:
                    first = seen.get(key)
                    if first is not None:
                        issues.append(Issue("$.metadata.name", f"duplicate of {first.label()}"))
                    else:
                        seen[key] = d
            d.issues = issues
    _check_refs(results, store, plugins)
    _check_contracts(results, plugins)
    for d in report.documents:
        d.issues = sorted(set(d.issues))
    return report
