"""A faithful model of systemd-sysupdate's MatchPattern semantics, for tests.

Written from systemd's sysupdate.d(5) and src/sysupdate/sysupdate-pattern.c:
* specifiers (`%a` = the host architecture, `%%` = `%`) are expanded when the file is loaded;
* `@v` is the version field (mandatory), `@@` a literal `@`; two fields need a literal between;
* matching walks the elements in order: a literal must match at the current position; a field
  captures up to the *first* occurrence (strstr) of the literal that follows it, or to the end;
* a version is valid when non-empty, a valid file name and only `[A-Za-z0-9.,_+-]`;
* the whole string must be consumed.
Only the `@v` field is modelled; other field markers raise, so a pattern using them is noticed.
"""

from __future__ import annotations

import string
from dataclasses import dataclass

_VERSION_CHARS = set(string.ascii_letters + string.digits + ".,_-+")
# Every field marker systemd knows; only "v" is modelled here.
_FIELD_MARKERS = set("vufmstdlarhg")


def expand_specifiers(text: str, arch: str) -> str:
    out, i = [], 0
    while i < len(text):
        c = text[i]
        if c != "%":
            out.append(c)
            i += 1
            continue
        if i + 1 >= len(text):
            raise ValueError("trailing % in specifier string")
        spec = text[i + 1]
        if spec == "%":
            out.append("%")
        elif spec == "a":
            out.append(arch)
        else:
            raise NotImplementedError(f"specifier %{spec} is not modelled")
        i += 2
    return "".join(out)


@dataclass(frozen=True)
class _Elem:
    kind: str  # "literal", "field", "slash"
    text: str = ""


def split_pattern(pattern: str) -> list[_Elem]:
    elems: list[_Elem] = []
    at = False
    last_literal_or_slash = True
    seen: set[str] = set()
    for c in pattern:
        if c == "@" and not at:
            at = True
            continue
        if at and c != "@":
            at = False
            if c not in _FIELD_MARKERS:
                raise ValueError(f"unknown field marker @{c}")
            if c != "v":
                raise NotImplementedError(f"field @{c} is not modelled")
            if c in seen:
                raise ValueError(f"field @{c} appears twice")
            if not last_literal_or_slash:
                raise ValueError("two fields without a separating literal")
            seen.add(c)
            elems.append(_Elem("field", c))
            last_literal_or_slash = False
            continue
        at = False  # "@@" is a literal "@"
        if c == "/":
            elems.append(_Elem("slash"))
        elif elems and elems[-1].kind == "literal":
            elems[-1] = _Elem("literal", elems[-1].text + c)
        else:
            elems.append(_Elem("literal", c))
        last_literal_or_slash = True
    if at:
        raise ValueError("trailing @")
    if "v" not in seen:
        raise ValueError("@v missing")
    return elems


def _version_valid(text: str) -> bool:
    return (
        bool(text) and text not in (".", "..") and len(text) <= 255 and set(text) <= _VERSION_CHARS
    )


def match(pattern: str, name: str) -> str | None:
    """The captured version if ``name`` matches the (specifier-expanded) pattern, else None."""
    elems = split_pattern(pattern)
    pos, version = 0, None
    for i, e in enumerate(elems):
        if e.kind == "slash":
            if not name.startswith("/", pos):
                return None
            pos += 1
            continue
        if e.kind == "literal":
            if not name.startswith(e.text, pos):
                return None
            pos += len(e.text)
            continue
        nxt = elems[i + 1] if i + 1 < len(elems) else None
        if nxt is None:
            end = len(name)
        elif nxt.kind == "slash":
            end = name.find("/", pos)
            end = len(name) if end < 0 else end
        else:
            end = name.find(nxt.text, pos)
            if end < 0:
                return None
        captured = name[pos:end]
        if not _version_valid(captured):
            return None
        version, pos = captured, end
    return version if pos == len(name) else None
