"""A tiny evaluator of exactly the Go text/template subset `--format clusterclass` emits.

CAPI renders a patch's `valueFrom.template` with Go's text/template (plus sprig) and parses the
output as YAML (cluster-api core/reconcilers/topology/cluster/patches/inline/
json_patch_generator.go:320-350). The writer emits only:
  - literal text,
  - `{{ "{{" }}` and `{{ "{" }}` (a literal `{{` / `{`),
  - `{{ .a.b.c }}` (a field path into the variables),
  - `{{ index .m .a.b }}` (a map lookup keyed by a field path),
  - `{{ (semver .a.b).Major }}` / `.Minor` (sprig's semver: Masterminds/semver, which accepts a
    leading `v`; the uint64 prints in decimal).
Anything else is refused, so a test fails if the writer starts emitting more than this models.
A missing key prints Go's `<no value>`, as text/template does for a nil interface.
"""

from __future__ import annotations

import re
from typing import Any

_ACTION = re.compile(r"\{\{(.*?)\}\}", re.S)
_SEMVER = re.compile(r"^\(semver (\S+)\)\.(Major|Minor)$")
_VERSION = re.compile(r"^v?(\d+)\.(\d+)\.(\d+)$")
_PATH = re.compile(r"^(\.[A-Za-z_][A-Za-z0-9_]*)+$")
NO_VALUE = "<no value>"


def _lookup(data: Any, path: str) -> Any:
    assert _PATH.match(path), f"not a field path: {path!r}"
    value = data
    for key in path[1:].split("."):
        if not isinstance(value, dict) or key not in value:
            return None
        value = value[key]
    return value


def _show(value: Any) -> str:
    if value is None:
        return NO_VALUE
    assert isinstance(value, str), f"only strings are printed here, got {value!r}"
    return value


def evaluate(template: str, data: dict[str, Any]) -> str:
    out: list[str] = []
    pos = 0
    for m in _ACTION.finditer(template):
        out.append(template[pos : m.start()])
        pos = m.end()
        body = m.group(1)
        assert not body.startswith("-") and not body.endswith("-"), "trim markers not modelled"
        words = body.split()
        semver = _SEMVER.match(body.strip())
        if semver:
            version = _lookup(data, semver.group(1))
            parsed = _VERSION.match(version) if isinstance(version, str) else None
            # sprig's semver fails the render on a bad version; CAPI then reports the patch.
            assert parsed, f"semver of {version!r} fails in Go"
            out.append(str(int(parsed.group(1 if semver.group(2) == "Major" else 2))))
        elif words in (['"{{"'], ['"{"']):
            out.append(words[0][1:-1])
        elif len(words) == 1:
            out.append(_show(_lookup(data, words[0])))
        elif len(words) == 3 and words[0] == "index":
            mapping = _lookup(data, words[1])
            key = _lookup(data, words[2])
            assert isinstance(mapping, dict | None) and isinstance(key, str), body
            out.append(_show((mapping or {}).get(key)))
        else:
            raise AssertionError(f"action outside the modelled subset: {{{{{body}}}}}")
    out.append(template[pos:])
    return "".join(out)
