"""Kubernetes name rules (DNS-1123 labels and subdomains, qualified label keys) and the
metadata checks built on them: CRD schemas leave apiVersion/kind/metadata open."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from capi_sysext.crdschema.findings import Issue, describe, json_path

_DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS1123_SUBDOMAIN = re.compile(
    r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
)
_QUALIFIED_NAME = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")

SUBDOMAIN_RULE = (
    "must be a DNS-1123 subdomain (lowercase letters, digits, '-' and '.', "
    "starting and ending with a letter or digit, at most 253 characters)"
)
LABEL_RULE = (
    "must be a DNS-1123 label (lowercase letters, digits and '-', "
    "starting and ending with a letter or digit, at most 63 characters)"
)


def is_dns1123_subdomain(value: str) -> bool:
    return len(value) <= 253 and bool(_DNS1123_SUBDOMAIN.match(value))


def is_dns1123_label(value: str) -> bool:
    return len(value) <= 63 and bool(_DNS1123_LABEL.match(value))


def _is_qualified_key(key: str) -> bool:
    prefix, sep, name = key.rpartition("/")
    if sep and not (prefix and is_dns1123_subdomain(prefix)):
        return False
    return 0 < len(name) <= 63 and bool(_QUALIFIED_NAME.match(name))


# Metadata (not part of CRD schemas).

_META_FIELDS = frozenset(
    {
        "name",
        "generateName",
        "namespace",
        "labels",
        "annotations",
        "uid",
        "resourceVersion",
        "generation",
        "creationTimestamp",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "ownerReferences",
        "finalizers",
        "managedFields",
        "selfLink",
    }
)


def check_metadata(doc: Mapping[str, Any]) -> list[Issue]:
    """ObjectMeta as the API server sees it: a valid name, namespace, labels and annotations."""
    meta = doc.get("metadata")
    if meta is None:
        return [Issue("$", 'required field "metadata" is missing')]
    if not isinstance(meta, Mapping):
        return [Issue("$.metadata", f"must be object, got {describe(meta)}")]
    issues = [
        Issue("$.metadata", f"unknown field {json.dumps(str(k))}")
        for k in meta
        if k not in _META_FIELDS
    ]
    name = meta.get("name")
    if name is None:
        issues.append(Issue("$.metadata", 'required field "name" is missing'))
    elif not isinstance(name, str):
        issues.append(Issue("$.metadata.name", f"must be string, got {describe(name)}"))
    elif not is_dns1123_subdomain(name):
        issues.append(Issue("$.metadata.name", f"{SUBDOMAIN_RULE}, got {json.dumps(name)}"))
    ns = meta.get("namespace")
    if ns is not None:
        if not isinstance(ns, str):
            issues.append(Issue("$.metadata.namespace", f"must be string, got {describe(ns)}"))
        elif not is_dns1123_label(ns):
            issues.append(Issue("$.metadata.namespace", f"{LABEL_RULE}, got {json.dumps(ns)}"))
    for section in ("labels", "annotations"):
        values = meta.get(section)
        if values is None:
            continue
        where = f"$.metadata.{section}"
        if not isinstance(values, Mapping):
            issues.append(Issue(where, f"must be object, got {describe(values)}"))
            continue
        for key, value in values.items():
            at = json_path(["metadata", section, str(key)])
            if not isinstance(key, str) or not _is_qualified_key(key):
                issues.append(Issue(at, "key must be a qualified name ([prefix/]name)"))
            if not isinstance(value, str):
                issues.append(Issue(at, f"must be string, got {describe(value)}"))
            elif section == "labels" and (len(value) > 63 or not _LABEL_VALUE.match(value)):
                issues.append(
                    Issue(
                        at,
                        "label values must be at most 63 characters of letters, digits, "
                        f"'-', '_' and '.', starting and ending with a letter or digit, got "
                        f"{json.dumps(value)}",
                    )
                )
    return issues
