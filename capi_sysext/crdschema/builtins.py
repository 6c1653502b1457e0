"""Built-in kinds that cluster definitions commonly carry: small schemas of our own, or metadata
checks only."""

from __future__ import annotations

from typing import Any

_STRING_MAP = {"type": "object", "additionalProperties": {"type": "string"}}
BUILTIN_SCHEMAS: dict[tuple[str, str, str], dict[str, Any]] = {
    ("", "v1", "ConfigMap"): {
        "type": "object",
        "properties": {
            "apiVersion": {"type": "string"},
            "kind": {"type": "string"},
            "metadata": {"type": "object"},
            "data": _STRING_MAP,
            "binaryData": {
                "type": "object",
                "additionalProperties": {"type": "string", "format": "byte"},
            },
            "immutable": {"type": "boolean"},
        },
        "additionalProperties": False,
    },
    ("", "v1", "Secret"): {
        "type": "object",
        "properties": {
            "apiVersion": {"type": "string"},
            "kind": {"type": "string"},
            "metadata": {"type": "object"},
            "data": {
                "type": "object",
                "additionalProperties": {"type": "string", "format": "byte"},
            },
            "stringData": _STRING_MAP,
            "type": {"type": "string"},
            "immutable": {"type": "boolean"},
        },
        "additionalProperties": False,
    },
}


# Built-in kinds a cluster definition may carry whose full schema is not embedded here: their
# metadata is checked, their body is not (see SchemaStore.schema_checked).
BUILTIN_METADATA_ONLY = frozenset(
    {
        ("", "v1", "Namespace"),
        ("", "v1", "ServiceAccount"),
        ("", "v1", "Service"),
        ("apps", "v1", "Deployment"),
        ("apps", "v1", "DaemonSet"),
        ("rbac.authorization.k8s.io", "v1", "ClusterRole"),
        ("rbac.authorization.k8s.io", "v1", "ClusterRoleBinding"),
        ("rbac.authorization.k8s.io", "v1", "Role"),
        ("rbac.authorization.k8s.io", "v1", "RoleBinding"),
    }
)


def split_api_version(api_version: str) -> tuple[str, str]:
    group, _, version = api_version.rpartition("/")
    return group, version
