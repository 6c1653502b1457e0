"""jsonschema errors -> one Issue each, worded for a person fixing a YAML file."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

from capi_sysext.crdschema.findings import Issue, describe, json_path, scalar


def _type_list(t: Any) -> str:
    names = [t] if isinstance(t, str) else list(t)
    return " or ".join(names)


def issues_from_error(err: Any) -> Iterator[Issue]:
    """Turn one jsonschema ValidationError into stable, readable issues (no Python reprs)."""
    parts = list(err.absolute_path)
    where = json_path(parts)
    kw = err.validator
    val = err.validator_value
    inst = err.instance
    if kw == "additionalProperties" and val is False and isinstance(inst, Mapping):
        known = err.schema.get("properties", {})
        for key in inst:
            if key not in known:
                yield Issue(where, f"unknown field {json.dumps(str(key))}")
    elif kw == "required" and isinstance(inst, Mapping):
        for key in val:
            if key not in inst:
                yield Issue(where, f"required field {json.dumps(key)} is missing")
    elif kw == "type":
        yield Issue(where, f"must be {_type_list(val)}, got {describe(inst)}")
    elif kw == "enum":
        choices = ", ".join("null" if v is None else str(v) for v in val)
        yield Issue(where, f"must be one of: {choices}; got {scalar(inst)}")
    elif kw == "const":
        yield Issue(where, f"must be {scalar(val)}, got {scalar(inst)}")
    elif kw == "pattern":
        yield Issue(where, f"must match the pattern {val}, got {scalar(inst)}")
    elif kw == "format":
        yield Issue(where, f"must be a valid {val}, got {scalar(inst)}")
    elif kw == "minLength":
        unit = "character" if val == 1 else "characters"
        yield Issue(where, f"must be at least {val} {unit} long, got {len(inst)}")
    elif kw == "maxLength":
        yield Issue(where, f"must be at most {val} characters long, got {len(inst)}")
    elif kw == "minItems":
        yield Issue(
            where, f"must have at least {val} item{'s' if val != 1 else ''}, got {len(inst)}"
        )
    elif kw == "maxItems":
        yield Issue(
            where, f"must have at most {val} item{'s' if val != 1 else ''}, got {len(inst)}"
        )
    elif kw == "minProperties":
        yield Issue(where, f"must have at least {val} field{'s' if val != 1 else ''}")
    elif kw == "maxProperties":
        yield Issue(where, f"must have at most {val} field{'s' if val != 1 else ''}")
    elif kw == "minimum":
        yield Issue(where, f"must be >= {val}, got {scalar(inst)}")
    elif kw == "maximum":
        yield Issue(where, f"must be <= {val}, got {scalar(inst)}")
    elif kw == "exclusiveMinimum":
        yield Issue(where, f"must be > {val}, got {scalar(inst)}")
    elif kw == "exclusiveMaximum":
        yield Issue(where, f"must be < {val}, got {scalar(inst)}")
    elif kw == "multipleOf":
        yield Issue(where, f"must be a multiple of {val}, got {scalar(inst)}")
    elif kw == "uniqueItems":
        yield Issue(where, "must not contain duplicate items")
    elif kw in ("anyOf", "oneOf", "allOf"):
        # Nested errors of the closest alternative are the useful ones.
        ctx = sorted(err.context or [], key=lambda e: (len(list(e.absolute_path)), str(e.message)))
        if kw == "allOf" and ctx:
            for sub in ctx:
                yield from issues_from_error(sub)
        else:
            yield Issue(where, f"does not match any allowed shape ({kw})")
    elif kw == "not":
        yield Issue(where, "matches a shape that is not allowed")
    else:
        yield Issue(where, f"fails the {kw!s} rule")


def value_issues(openapi: Mapping[str, Any], value: Any) -> list[Issue]:
    """Issues of one value against an openAPIV3Schema (a ClusterClass variable's), as the API
    server's strict validation would report them; [] when it fits."""
    from jsonschema import Draft7Validator

    from capi_sysext.crdschema.convert import format_checker, strict_schema

    validator = Draft7Validator(strict_schema(openapi), format_checker=format_checker())
    return sorted({i for err in validator.iter_errors(value) for i in issues_from_error(err)})
