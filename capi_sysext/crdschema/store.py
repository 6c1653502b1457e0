"""The schema store: CRDs loaded from directories (with a content-addressed parse cache) or a
cluster, looked up by group/version/kind, and documents validated against them."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from capi_sysext.crdschema.builtins import BUILTIN_METADATA_ONLY, BUILTIN_SCHEMAS, split_api_version
from capi_sysext.crdschema.convert import CRDVersion, format_checker, strict_schema
from capi_sysext.crdschema.findings import Issue, describe
from capi_sysext.crdschema.messages import issues_from_error
from capi_sysext.crdschema.names import check_metadata
from capi_sysext.errors import InputError, Problem


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
        key = (group, version, kind)
        if key in BUILTIN_SCHEMAS or key in BUILTIN_METADATA_ONLY:
            return True
        v = self.versions.get(key)
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
                self._checker = format_checker()
            raw = BUILTIN_SCHEMAS.get(key) or self.versions[key].schema
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
        if key not in BUILTIN_SCHEMAS and (crd is None or not crd.served):
            served = self.served_versions(group, kind)
            hint = f" (served: {', '.join(served)})" if served else ""
            issues.append(Issue("$.apiVersion", f"no CRD serves {api_version} {kind}{hint}"))
            return sorted(set(issues))
        for err in self._validator(key).iter_errors(doc):
            issues.extend(issues_from_error(err))
        return sorted(set(issues))
