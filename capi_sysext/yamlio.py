"""Deterministic YAML in and out.

PyYAML with libyaml's C emitter and parser when available: the generate path dumps a whole
cluster in ~2 ms, where a pure-Python emitter takes ~20 ms. It speaks YAML 1.1, the dialect
kubectl, the API server and ct read, so strings like `yes`, `on` or `0644` are quoted on output
exactly when those readers would otherwise turn them into booleans or numbers.

Output rules: keys keep the order the builder gave them (builders are deterministic), multi-line
strings become literal blocks, no anchors/aliases. Same data, same bytes.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from capi_sysext.errors import InputError, Problem

if TYPE_CHECKING:
    from os import PathLike

# PyYAML's pure-Python reader compiles this pattern when `yaml` is imported. Its wide ranges make
# CPython's re compiler walk some 60,000 code points: ~15 ms, a sixth of the start-up budget of
# `generate`, for a pattern the C loader and emitter used here never run (upstream: yaml/pyyaml
# pull requests 124 and 301, open since 2018). Its complement, negated back, is the same set of
# characters and compiles ~13x faster; tests/test_yamlio.py checks every code point.
PYYAML_NON_PRINTABLE = "[^\x09\x0a\x0d\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]"
NON_PRINTABLE_FAST = "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x84\x86-\x9f\ud800-\udfff\ufffe\uffff]"


def _import_pyyaml() -> None:
    """Import PyYAML with that one pattern swapped for its fast equivalent.

    Only the first import is affected, only for that exact pattern, and re.compile is restored
    before this returns; if PyYAML ever changes the pattern, nothing is swapped.
    """
    if "yaml" in sys.modules:
        return
    original = re.compile

    def compile_fast(pattern: Any, flags: Any = 0) -> re.Pattern[Any]:
        if pattern == PYYAML_NON_PRINTABLE and flags == 0:
            pattern = NON_PRINTABLE_FAST
        return original(pattern, flags)

    re.compile = compile_fast
    try:
        import yaml  # noqa: F401
    finally:
        re.compile = original


_import_pyyaml()
import yaml  # noqa: E402  (already loaded by _import_pyyaml; this binds the name for typing)

_Dumper: type[yaml.SafeDumper] = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _OutputDumper(_Dumper):  # type: ignore[misc,valid-type]
    def ignore_aliases(self, data: Any) -> bool:
        return True


def _literal_safe(text: str) -> bool:
    """Literal blocks cannot carry trailing spaces or tabs faithfully; those strings stay quoted."""
    return all(line == line.rstrip() for line in text.split("\n")) and "\t" not in text


# Strings some reader would take for a number even where PyYAML's YAML 1.1 resolver would not:
# go-yaml (kubectl) parses `075585003325` as a float, YAML 1.2 readers take `0o644` as octal.
_NUMBER_LIKE = re.compile(
    r"^[-+]?(?:\.[0-9]+|[0-9][0-9_]*(?:\.[0-9_]*)?)(?:[eE][-+]?[0-9]+)?$"
    r"|^0o[0-7]+$|^0x[0-9a-fA-F]+$|^[-+]?\.(?:inf|Inf|INF)$|^\.(?:nan|NaN|NAN)$"
)


def _represent_str(dumper: yaml.SafeDumper, data: str) -> yaml.ScalarNode:
    style = None
    if "\n" in data and _literal_safe(data):
        style = "|"
    elif _NUMBER_LIKE.match(data):
        style = "'"
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=style)


_OutputDumper.add_representer(str, _represent_str)
_OPTIONS: dict[str, Any] = {
    "Dumper": _OutputDumper,
    "sort_keys": False,
    "default_flow_style": False,
    "allow_unicode": True,
    "width": 4096,  # never fold long lines: folded URLs and commands are hard to review
}


def dump(data: Any) -> str:
    text: str = yaml.dump(data, **_OPTIONS)
    return text


def dump_all(docs: Iterable[Any]) -> str:
    text: str = yaml.dump_all(docs, explicit_start=True, **_OPTIONS)
    return text


def load_all(text: str, source: str) -> list[Any]:
    """Parse multi-document YAML into plain Python data; a syntax error names the source."""
    try:
        return [d for d in yaml.load_all(text, Loader=LOADER) if d is not None]
    except yaml.YAMLError as exc:
        raise InputError([Problem(f"{source}: not valid YAML{describe_yaml_error(exc)}")]) from None


def describe_yaml_error(exc: Exception) -> str:
    """' at line L, column C: problem' on one line (PyYAML's text names "<unicode string>")."""
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None)
    if mark is None or problem is None:
        return ": " + " ".join(line.strip() for line in str(exc).strip().splitlines())
    return f" at line {mark.line + 1}, column {mark.column + 1}: {problem}"


def load_file(path: str | PathLike[str]) -> Any:
    try:
        # open(), not pathlib: the start-up path of `generate` does not import pathlib (issue #2).
        with open(path, encoding="utf-8") as f:  # noqa: PTH123
            text = f.read()
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise InputError([Problem(f"cannot read {path}: {reason}")]) from None
    docs = load_all(text, str(path))
    if len(docs) > 1:
        raise InputError([Problem(f"{path}: expected one YAML document, found {len(docs)}")])
    return docs[0] if docs else {}
