"""Deterministic YAML in and out (ruamel.yaml).

Output rules: keys keep the order the builder gave them (builders are deterministic), multi-line
strings become literal blocks, no anchors/aliases, no document end markers. Same data, same bytes.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.representer import RoundTripRepresenter

from capi_sysext.errors import InputError, Problem

# kubectl and the API server read YAML 1.1, where these plain scalars are booleans or numbers.
_YAML11_SPECIAL = re.compile(
    r"^(?:y|Y|yes|Yes|YES|n|N|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF"
    r"|~|null|Null|NULL|[-+]?(?:0|[1-9][0-9_]*)|0[0-7_]+|0x[0-9a-fA-F_]+|0b[01_]+"
    r"|[-+]?(?:[0-9][0-9_]*)?\.[0-9_]*(?:[eE][-+]?[0-9]+)?|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN)"
    r"|[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?)$"
)


class _Representer(RoundTripRepresenter):
    def ignore_aliases(self, data: Any) -> bool:
        return True

    def represent_str(self, data: str) -> Any:
        tag = "tag:yaml.org,2002:str"
        if "\n" in data and _literal_safe(data):
            return self.represent_scalar(tag, data, style="|")
        if _YAML11_SPECIAL.match(data):
            return self.represent_scalar(tag, data, style="'")
        return super().represent_str(data)


_Representer.add_representer(str, _Representer.represent_str)


def _dumper() -> YAML:
    y = YAML(typ="rt")
    y.Representer = _Representer
    y.width = 4096  # never fold long lines: folded URLs and commands are hard to review
    y.indent(mapping=2, sequence=2, offset=0)
    return y


def _literal_safe(text: str) -> bool:
    """Literal blocks cannot carry trailing spaces or tabs faithfully; those strings stay quoted."""
    return all(line == line.rstrip() for line in text.split("\n")) and "\t" not in text


def dump(data: Any) -> str:
    buf = io.StringIO()
    _dumper().dump(data, buf)
    return buf.getvalue()


def dump_all(docs: Iterable[Any]) -> str:
    return "".join("---\n" + dump(d) for d in docs)


def load_all(text: str, source: str) -> list[Any]:
    """Parse multi-document YAML into plain Python data; a syntax error names the source."""
    y = YAML(typ="safe", pure=True)
    try:
        return [d for d in y.load_all(text) if d is not None]
    except Exception as exc:  # ruamel raises several unrelated error classes
        raise InputError([Problem(f"{source}: not valid YAML: {exc}")]) from None


def load_file(path: Path) -> Any:
    try:
        text = path.read_text("utf-8")
    except OSError as exc:
        raise InputError([Problem(f"cannot read {path}: {exc.strerror}")]) from None
    docs = load_all(text, str(path))
    if len(docs) > 1:
        raise InputError([Problem(f"{path}: expected one YAML document, found {len(docs)}")])
    return docs[0] if docs else {}
