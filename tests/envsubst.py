"""clusterctl's variable rules, for tests: what `clusterctl generate cluster --from FILE` does.

Our own reading of drone/envsubst v2 as clusterctl uses it (cluster-api
cmd/clusterctl/client/yamlprocessor/simple_processor.go:98-131, 148-184; drone/envsubst
parse/scan.go scanLbrack/scanEscaped, parse/parse.go parseAny/parseFunc, template.go
lookupFunc), limited to the forms templates use:
- only `${` opens a substitution; `$NAME` and a lone `$` stay as they are;
- outside `${...}`, `$$` is one literal `$` (so `$${X}` is the text `${X}`);
- `${VAR}`; `${VAR:=x}`, `${VAR:-x}`, `${VAR=x}`, `${VAR-x}`: x when VAR is unset or empty
  (envsubst's toDefault treats all four alike); x may itself be `${OTHER}`;
- `--list-variables` lists each top-level variable (not those inside a default), required when
  it has no default; a missing required variable is an error naming all missing ones.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

_NAME = re.compile(r"[A-Za-z0-9_]+")


class MissingVariables(Exception):
    pass


def _parse(text: str, pos: int) -> tuple[list[object], int]:
    """Nodes of `text` from pos to the end, or to an unmatched '}' when nested."""
    nodes: list[object] = []
    buf: list[str] = []
    while pos < len(text):
        ch = text[pos]
        if ch == "$" and text.startswith("$$", pos):
            buf.append("$")
            pos += 2
        elif ch == "$" and text.startswith("${", pos):
            nodes.append("".join(buf))
            buf = []
            name = _NAME.match(text, pos + 2)
            if name is None:
                raise ValueError(f"bad substitution at {pos}")
            pos = name.end()
            default: list[object] | None = None
            op = re.match(r":?[=-]", text[pos:])
            if op:
                default, pos = _parse_default(text, pos + op.end())
            if not text.startswith("}", pos):
                raise ValueError(f"missing closing brace at {pos}")
            nodes.append((name.group(), default))
            pos += 1
        else:
            buf.append(ch)
            pos += 1
    nodes.append("".join(buf))
    return nodes, pos


def _parse_default(text: str, pos: int) -> tuple[list[object], int]:
    out: list[object] = []
    buf: list[str] = []
    while pos < len(text) and text[pos] != "}":
        if text.startswith("${", pos):
            out.append("".join(buf))
            buf = []
            name = _NAME.match(text, pos + 2)
            if name is None or not text.startswith("}", name.end()):
                raise ValueError(f"unsupported default at {pos}")
            out.append((name.group(), None))
            pos = name.end() + 1
        else:
            buf.append(text[pos])
            pos += 1
    out.append("".join(buf))
    return out, pos


def list_variables(text: str) -> dict[str, str | None]:
    """Variable -> its default text (None: required), as --list-variables reports them."""
    nodes, _ = _parse(text, 0)
    found: dict[str, str | None] = {}
    for node in nodes:
        if isinstance(node, tuple) and node[0] not in found:
            name, default = node
            found[name] = (
                None
                if default is None
                else "".join(d if isinstance(d, str) else f"${{{d[0]}}}" for d in default)
            )
    return found


def substitute(text: str, values: Mapping[str, str]) -> str:
    missing = sorted(n for n, d in list_variables(text).items() if d is None and n not in values)
    if missing:
        raise MissingVariables(", ".join(missing))
    nodes, _ = _parse(text, 0)

    def value(node: object) -> str:
        if isinstance(node, str):
            return node
        name, default = node  # type: ignore[misc]
        if values.get(name):
            return values[name]
        return "".join(value(d) for d in default or ())

    return "".join(value(n) for n in nodes)
