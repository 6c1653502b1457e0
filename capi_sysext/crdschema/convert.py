"""CRD -> strict JSON schema: every object schema with `properties` is closed, Kubernetes
formats and integer ranges become checks. `jsonschema` loads inside functions only."""

from __future__ import annotations

import base64
import binascii
import copy
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class CRDVersion:
    group: str
    version: str
    kind: str
    served: bool
    schema: Mapping[str, Any]
    source: str  # file (or "cluster") the CRD came from, for messages and `shadowed`
    namespaced: bool = True


# CRD -> strict JSON schema.

_INT_RANGES = {"int32": (-(2**31), 2**31 - 1), "int64": (-(2**63), 2**63 - 1)}
_EMBEDDED_PROPS: dict[str, Any] = {
    "apiVersion": {"type": "string"},
    "kind": {"type": "string"},
    "metadata": {"type": "object"},
}


def strict_schema(openapi: Mapping[str, Any]) -> dict[str, Any]:
    """A JSON schema (draft 7 semantics) that rejects what the API server's strict mode rejects.

    Walks schema positions only (properties, items, additionalProperties, combinators), never
    `default`/`enum`/`example` values, so a property that happens to be named `nullable` or
    `format` (ClusterClass carries JSONSchemaProps) is not mistaken for a keyword.
    """
    return _convert(copy.deepcopy(dict(openapi)))


def _convert(node: dict[str, Any]) -> dict[str, Any]:
    if node.get("x-kubernetes-int-or-string"):
        # Structural schemas spell this as anyOf[int, string]; a plain type union gives one
        # readable error instead of an anyOf with two nested ones.
        node.pop("anyOf", None)
        node["type"] = ["integer", "string"]
    if node.get("x-kubernetes-embedded-resource"):
        props = node.setdefault("properties", {})
        for key, sub in _EMBEDDED_PROPS.items():
            props.setdefault(key, dict(sub))
    props = node.get("properties")
    if isinstance(props, dict):
        for key, sub in props.items():
            if isinstance(sub, dict):
                props[key] = _convert(sub)
        if (
            not node.get("x-kubernetes-preserve-unknown-fields")
            and "additionalProperties" not in node
        ):
            node["additionalProperties"] = False
    ap = node.get("additionalProperties")
    if isinstance(ap, dict):
        node["additionalProperties"] = _convert(ap)
    items = node.get("items")
    if isinstance(items, dict):
        node["items"] = _convert(items)
    elif isinstance(items, list):
        node["items"] = [_convert(i) if isinstance(i, dict) else i for i in items]
    for comb in ("allOf", "anyOf", "oneOf"):
        subs = node.get(comb)
        if isinstance(subs, list):
            node[comb] = [_convert(s) if isinstance(s, dict) else s for s in subs]
    if isinstance(node.get("not"), dict):
        node["not"] = _convert(node["not"])
    # OpenAPI 3.0 spells exclusive bounds as booleans next to minimum/maximum.
    for bound, excl in (("minimum", "exclusiveMinimum"), ("maximum", "exclusiveMaximum")):
        if isinstance(node.get(excl), bool) and node.pop(excl) and bound in node:
            node[excl] = node.pop(bound)
    if node.get("nullable") is True:
        t = node.get("type")
        if isinstance(t, str):
            node["type"] = [t, "null"]
        elif isinstance(t, list) and "null" not in t:
            node["type"] = [*t, "null"]
        if isinstance(node.get("enum"), list) and None not in node["enum"]:
            node["enum"] = [*node["enum"], None]
    return node


def format_checker() -> Any:
    """Only cheap checks for the formats CRDs use; unknown formats pass, as in the API server."""
    from jsonschema import FormatChecker

    checker = FormatChecker(formats=())

    def _int_range(name: str) -> Any:
        lo, hi = _INT_RANGES[name]

        def check(value: object) -> bool:
            if isinstance(value, bool) or not isinstance(value, int):
                return True  # `type` reports non-integers
            return lo <= value <= hi

        return check

    for name in _INT_RANGES:
        checker.checks(name)(_int_range(name))

    def _byte(value: object) -> bool:
        if not isinstance(value, str):
            return True
        try:
            base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            return False
        return True

    rfc3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")

    def _date_time(value: object) -> bool:
        return not isinstance(value, str) or bool(rfc3339.match(value))

    # Plain calls, not decorators: jsonschema is untyped and decorators would erase the types.
    checker.checks("byte")(_byte)
    checker.checks("date-time")(_date_time)

    return checker
