"""CustomResourceDefinitions -> strict JSON schemas, and validation of documents against them.

The API server prunes unknown fields (or, with strict field validation, rejects them); plain JSON
schema validation of a CRD's openAPIV3Schema accepts them silently. So every object schema with
`properties` is closed here, which is what turns a typo like `vmsize` into an error.

Not enforced (documented limits): `x-kubernetes-validations` (CEL rules), list-map key uniqueness,
defaulting. apiVersion/kind/metadata are checked here by hand because CRD schemas leave them open.

`jsonschema` is imported inside functions only: the CLI must start fast for every other command.
"""

from __future__ import annotations

import base64
import binascii
import copy
import hashlib
import json
import os
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from capi_sysext.errors import InputError, Problem


@dataclass(frozen=True, order=True)
class Issue:
    """One validation finding: where (a JSON path from the document root) and what."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


@dataclass(frozen=True)
class CRDVersion:
    group: str
    version: str
    kind: str
    served: bool
    schema: Mapping[str, Any]
    source: str  # file (or "cluster") the CRD came from, for messages and `shadowed`
    namespaced: bool = True


# --- names ---------------------------------------------------------------------------------

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


# --- JSON paths and value descriptions -------------------------------------------------------

_SIMPLE_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def json_path(parts: Iterable[str | int], root: str = "$") -> str:
    out = [root]
    for p in parts:
        if isinstance(p, int):
            out.append(f"[{p}]")
        elif _SIMPLE_KEY.match(p):
            out.append(f".{p}")
        else:
            out.append(f"[{json.dumps(p)}]")
    return "".join(out)


def describe(value: Any) -> str:
    """`string "3"`, `integer 3`, `boolean true`, `null`, `object`, `array`: short and stable."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"boolean {'true' if value else 'false'}"
    if isinstance(value, int):
        return f"integer {value}"
    if isinstance(value, float):
        return f"number {value:g}"
    if isinstance(value, str):
        text = value if len(value) <= 60 else value[:57] + "..."
        return f"string {json.dumps(text)}"
    if isinstance(value, Mapping):
        return "object"
    if isinstance(value, list):
        return "array"
    return type(value).__name__


def _scalar(value: Any) -> str:
    return json.dumps(value) if isinstance(value, str) else describe(value).split(" ")[-1]


# --- CRD -> strict JSON schema -----------------------------------------------------------------

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


def _format_checker() -> Any:
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


# --- messages ----------------------------------------------------------------------------------

_TYPE_ORDER = ("object", "array", "string", "integer", "number", "boolean", "null")


def _type_list(t: Any) -> str:
    names = [t] if isinstance(t, str) else list(t)
    return " or ".join(names)


def _issues_from_error(err: Any) -> Iterator[Issue]:
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
        yield Issue(where, f"must be one of: {choices}; got {_scalar(inst)}")
    elif kw == "const":
        yield Issue(where, f"must be {_scalar(val)}, got {_scalar(inst)}")
    elif kw == "pattern":
        yield Issue(where, f"must match the pattern {val}, got {_scalar(inst)}")
    elif kw == "format":
        yield Issue(where, f"must be a valid {val}, got {_scalar(inst)}")
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
        yield Issue(where, f"must be >= {val}, got {_scalar(inst)}")
    elif kw == "maximum":
        yield Issue(where, f"must be <= {val}, got {_scalar(inst)}")
    elif kw == "exclusiveMinimum":
        yield Issue(where, f"must be > {val}, got {_scalar(inst)}")
    elif kw == "exclusiveMaximum":
        yield Issue(where, f"must be < {val}, got {_scalar(inst)}")
    elif kw == "multipleOf":
        yield Issue(where, f"must be a multiple of {val}, got {_scalar(inst)}")
    elif kw == "uniqueItems":
        yield Issue(where, "must not contain duplicate items")
    elif kw in ("anyOf", "oneOf", "allOf"):
        # Nested errors of the closest alternative are the useful ones.
        ctx = sorted(err.context or [], key=lambda e: (len(list(e.absolute_path)), str(e.message)))
        if kw == "allOf" and ctx:
            for sub in ctx:
                yield from _issues_from_error(sub)
        else:
            yield Issue(where, f"does not match any allowed shape ({kw})")
    elif kw == "not":
        yield Issue(where, "matches a shape that is not allowed")
    else:
        yield Issue(where, f"fails the {kw!s} rule")


# --- metadata (not part of CRD schemas) --------------------------------------------------------

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


# --- built-in kinds that cluster definitions commonly carry -----------------------------------

_STRING_MAP = {"type": "object", "additionalProperties": {"type": "string"}}
_BUILTIN: dict[tuple[str, str, str], dict[str, Any]] = {
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


# --- loading -----------------------------------------------------------------------------------


def _is_crd(doc: Any) -> bool:
    return (
        isinstance(doc, Mapping)
        and doc.get("kind") == "CustomResourceDefinition"
        and str(doc.get("apiVersion", "")).startswith("apiextensions.k8s.io/")
    )


def crd_versions(crd: Mapping[str, Any], source: str) -> list[CRDVersion]:
    spec = crd.get("spec") or {}
    group = str(spec.get("group", ""))
    kind = str((spec.get("names") or {}).get("kind", ""))
    namespaced = spec.get("scope", "Namespaced") != "Cluster"
    out = []
    for v in spec.get("versions") or []:
        schema = ((v.get("schema") or {}).get("openAPIV3Schema")) or {"type": "object"}
        out.append(
            CRDVersion(
                group,
                str(v.get("name", "")),
                kind,
                bool(v.get("served")),
                schema,
                source,
                namespaced,
            )
        )
    return out


def _load_yaml_fast(text: str, source: str) -> list[Any]:
    """CRD files are large (up to 360 KB each); yamlio uses libyaml's C parser when present."""
    from capi_sysext.yamlio import load_all

    return load_all(text, source)


def default_cache_dir() -> Path:
    from capi_sysext.cachedir import cache_dir

    return Path(cache_dir("crds"))


def _crds_in_file(data: bytes, path: Path, cache_dir: Path | None) -> list[Mapping[str, Any]]:
    cached = None
    if cache_dir is not None:
        digest = hashlib.sha256(data).hexdigest()
        cached = cache_dir / f"{digest}.json"
        try:
            loaded = json.loads(cached.read_bytes())
            if isinstance(loaded, list):
                return loaded
        except (OSError, ValueError):
            pass  # missing or damaged: parse again
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError([Problem(f"cannot read CRD file {path}: {exc}")]) from None
    crds = [doc for doc in _load_yaml_fast(text, str(path)) if _is_crd(doc)]
    if cached is not None:
        try:
            cached.parent.mkdir(parents=True, exist_ok=True)
            tmp = cached.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text(json.dumps(crds, default=str), "utf-8")
            tmp.replace(cached)  # atomic: parallel runs never read half a file
        except OSError:
            pass  # a read-only home only costs speed
    return crds


def _yaml_files(directory: Path) -> list[Path]:
    if directory.is_file():
        return [directory]
    if not directory.is_dir():
        raise InputError([Problem(f"CRD directory {directory} does not exist")])
    files = [
        p for p in directory.rglob("*") if p.suffix in (".yaml", ".yml", ".json") and p.is_file()
    ]
    # Sort by path components, so `cluster-api/` comes before `cluster-api-v1.14.0/`.
    return sorted(files, key=lambda p: p.relative_to(directory).parts)


@dataclass
class SchemaStore:
    """CRD schemas indexed by (group, version, kind); validators are built on first use.

    Precedence: the first CRD seen for a (group, kind) wins, whole, versions included; later
    definitions of the same kind are recorded in `shadowed` and ignored. `from_dirs` reads the
    directories in the order given and each one's files sorted by path, so the caller chooses
    which copy wins by the order of `--crds`.
    """

    versions: dict[tuple[str, str, str], CRDVersion] = field(default_factory=dict)
    shadowed: list[tuple[str, str, str]] = field(default_factory=list)  # (group, kind, source)
    _owners: dict[tuple[str, str], str] = field(default_factory=dict)
    _validators: dict[tuple[str, str, str], Any] = field(default_factory=dict)
    _checker: Any = None

    @classmethod
    def from_dirs(cls, dirs: Sequence[Path], cache_dir: Path | None = None) -> SchemaStore:
        """Read every CRD under `dirs` (recursively; non-CRD documents are skipped).

        With `cache_dir`, each CRD file's parsed CRDs are kept there as JSON, keyed by the
        file's sha256: parsing YAML is most of the cost, and the CRDs rarely change.
        """
        store = cls()
        for d in dirs:
            for path in _yaml_files(Path(d)):
                try:
                    data = path.read_bytes()
                except OSError as exc:
                    raise InputError([Problem(f"cannot read CRD file {path}: {exc}")]) from None
                if b"CustomResourceDefinition" not in data:
                    continue  # cheap skip for the many non-CRD files in a components dir
                for doc in _crds_in_file(data, path, cache_dir):
                    store.add_crd(doc, str(path))
        return store

    @classmethod
    def from_crds(cls, crds: Iterable[Mapping[str, Any]], source: str) -> SchemaStore:
        store = cls()
        for crd in crds:
            if _is_crd(crd):
                store.add_crd(crd, source)
        return store

    def add_crd(self, crd: Mapping[str, Any], source: str) -> None:
        vs = crd_versions(crd, source)
        if not vs:
            return
        owner_key = (vs[0].group, vs[0].kind)
        if owner_key in self._owners and self._owners[owner_key] != source:
            self.shadowed.append((vs[0].group, vs[0].kind, source))
            return
        self._owners[owner_key] = source
        for v in vs:
            self.versions[(v.group, v.version, v.kind)] = v

    def kinds(self) -> list[tuple[str, str, str]]:
        return sorted(k for k, v in self.versions.items() if v.served)

    def groups(self) -> set[str]:
        return {g for (g, _v, _k) in self.versions}

    def served(self, api_version: str, kind: str) -> bool:
        group, version = split_api_version(api_version)
        if (group, version, kind) in _BUILTIN or (group, version, kind) in BUILTIN_METADATA_ONLY:
            return True
        v = self.versions.get((group, version, kind))
        return v is not None and v.served

    def schema_checked(self, api_version: str, kind: str) -> bool:
        """False for built-in kinds validated for metadata only (Namespace, RBAC, ...)."""
        group, version = split_api_version(api_version)
        return (group, version, kind) not in BUILTIN_METADATA_ONLY

    def has_kind(self, group: str, kind: str) -> bool:
        return bool(self.served_versions(group, kind))

    def namespaced(self, group: str, kind: str) -> bool:
        """Scope of a kind; unknown kinds count as namespaced (the common case)."""
        return all(
            v.namespaced for (g, _, k), v in self.versions.items() if g == group and k == kind
        )

    def served_versions(self, group: str, kind: str) -> list[str]:
        return sorted(
            v.version
            for (g, _, k), v in self.versions.items()
            if g == group and k == kind and v.served
        )

    def _validator(self, key: tuple[str, str, str]) -> Any:
        validator = self._validators.get(key)
        if validator is None:
            from jsonschema import Draft7Validator

            if self._checker is None:
                self._checker = _format_checker()
            raw = _BUILTIN.get(key) or self.versions[key].schema
            schema = strict_schema(raw)
            # Top-level metadata is ObjectMeta, checked by check_metadata, whatever the CRD says.
            if isinstance(schema.get("properties"), dict):
                schema["properties"]["metadata"] = {}
                schema["properties"].setdefault("apiVersion", {"type": "string"})
                schema["properties"].setdefault("kind", {"type": "string"})
            validator = Draft7Validator(schema, format_checker=self._checker)
            self._validators[key] = validator
        return validator

    def validate(self, doc: Mapping[str, Any]) -> list[Issue]:
        """All issues of one document, sorted by path; [] when the document is valid."""
        if not isinstance(doc, Mapping):
            return [Issue("$", f"must be object, got {describe(doc)}")]
        issues: list[Issue] = []
        api_version, kind = doc.get("apiVersion"), doc.get("kind")
        for fname, value in (("apiVersion", api_version), ("kind", kind)):
            if value is None:
                issues.append(Issue("$", f"required field {json.dumps(fname)} is missing"))
            elif not isinstance(value, str) or not value:
                issues.append(
                    Issue(f"$.{fname}", f"must be non-empty string, got {describe(value)}")
                )
        issues.extend(check_metadata(doc))
        if not (isinstance(api_version, str) and isinstance(kind, str) and api_version and kind):
            return sorted(set(issues))
        group, version = split_api_version(api_version)
        key = (group, version, kind)
        crd = self.versions.get(key)
        if key in BUILTIN_METADATA_ONLY:
            return sorted(set(issues))
        if key not in _BUILTIN and (crd is None or not crd.served):
            served = self.served_versions(group, kind)
            hint = f" (served: {', '.join(served)})" if served else ""
            issues.append(Issue("$.apiVersion", f"no CRD serves {api_version} {kind}{hint}"))
            return sorted(set(issues))
        for err in self._validator(key).iter_errors(doc):
            issues.extend(_issues_from_error(err))
        return sorted(set(issues))
