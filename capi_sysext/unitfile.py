"""Unit files and drop-ins: a static skeleton from templates/ plus per-node entries added as data.

The skeletons hold the static keys and the comments; code adds the per-node keys through `add`,
which escapes every value for systemd, so no value reaches a unit file by string pasting. No
template engine: importing one cost `generate` ~30 ms of its 100 ms start-up budget, and a
serializer escapes every value by construction, not by a filter someone must remember.

Usage: `load("x.service").add("Service", "ExecStart", Exec((...))).render()`.
"""

import re
from functools import cache
from typing import NamedTuple

from capi_sysext.package_data import read_data

SH = "/usr/bin/sh"

_SECTION = re.compile(r"\[([A-Za-z0-9 _.-]+)\]")
_KEY = re.compile(r"[A-Za-z][A-Za-z0-9_-]*")
# C0 controls (newline included) and DEL: a newline would start a new line (a new key) in the file.
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# Command-line words that need double quotes (systemd.service(5), "Command lines"): whitespace
# separates words, quotes and backslashes are syntax, a lone `;` once separated commands.
_NEEDS_QUOTES = r"""[\s"'\\;]"""
# In a Specifiers value, % must start a specifier (a letter) or be %% (a literal %).
_SPECIFIER = r"%[A-Za-z%]"


class Quoted(str):
    """An Exec argument that is double-quoted even when it would not need it: shell scripts stay
    visibly one word, and their text does not change shape with their contents."""

    __slots__ = ()


class Exec(NamedTuple):
    """A command line for ExecStart=, ExecStartPre=, ExecStartPost=: argv, quoted per word."""

    argv: tuple[str, ...]


class Specifiers(NamedTuple):
    """A value whose `%` specifiers are meant for the program reading the file (systemd,
    systemd-sysupdate's `%a`), so `%` is not escaped. Only for constant text plus values the
    caller validated; anything else is a plain str, which `add` escapes."""

    text: str


def shell(script: str) -> Exec:
    """`sh -c SCRIPT` with the script always quoted."""
    return Exec((SH, "-c", Quoted(script)))


class Section(NamedTuple):
    name: str
    # Everything after the header up to the blank lines that end the section: comments, blank
    # lines between entries, key=value lines, each already serialized.
    lines: tuple[str, ...]
    # The blank lines separating this section from the next one (kept as in the skeleton).
    gap: int


class UnitFile(NamedTuple):
    """An immutable unit file: `add` returns a new one; `render` gives the text."""

    name: str
    preamble: tuple[str, ...]
    sections: tuple[Section, ...]

    def add(
        self, section: str, key: str, value: str | Exec | Specifiers, comment: str | None = None
    ) -> "UnitFile":
        """Append `key=value` (after its `comment` lines) at the end of `section`."""
        if _KEY.fullmatch(key) is None:
            raise ValueError(f"{self.name}: invalid key {key!r}")
        line = f"{key}={_serialize(key, value)}"
        new = (*_comment_lines(key, comment), line)
        for i, s in enumerate(self.sections):
            if s.name == section:
                sections = list(self.sections)
                sections[i] = s._replace(lines=s.lines + new)
                return self._replace(sections=tuple(sections))
        known = ", ".join(s.name for s in self.sections)
        raise ValueError(f"{self.name} has no [{section}] section (it has: {known})")

    def render(self) -> str:
        out = list(self.preamble)
        for s in self.sections:
            out.append(f"[{s.name}]")
            out.extend(s.lines)
            out.extend([""] * s.gap)
        while out and not out[-1]:
            out.pop()
        return "\n".join(out) + "\n"


def _comment_lines(key: str, comment: str | None) -> list[str]:
    if comment is None:
        return []
    lines = comment.split("\n")
    for text in lines:
        if _CONTROL.search(text):
            raise ValueError(f"the comment on {key}= contains a control character: {text!r}")
    return [f"# {text}".rstrip() for text in lines]


def _check_plain(key: str, text: str) -> None:
    if _CONTROL.search(text):
        raise ValueError(f"the value of {key}= contains a control character: {text!r}")
    # The parser strips surrounding whitespace and joins a line ending in `\` with the next one.
    if text != text.strip() or text.endswith("\\"):
        raise ValueError(
            f"the value of {key}= cannot start or end with whitespace or end with '\\': {text!r}"
        )


def _serialize(key: str, value: str | Exec | Specifiers) -> str:
    if isinstance(value, Exec):
        return _command_line(key, value.argv)
    if isinstance(value, Specifiers):
        _check_plain(key, value.text)
        if "%" in re.sub(_SPECIFIER, "", value.text):
            raise ValueError(f"the value of {key}= has a '%' that starts no specifier")
        return value.text
    _check_plain(key, value)
    return value.replace("%", "%%")


def _command_line(key: str, argv: tuple[str, ...]) -> str:
    if not argv or not argv[0].startswith("/"):
        raise ValueError(f"{key}= needs an absolute program path first: {argv!r}")
    # The program path takes no quotes or variables here: a path needing them is a bug.
    if re.search(_NEEDS_QUOTES, argv[0]) or "$" in argv[0]:
        raise ValueError(f"{key}=: unusable program path {argv[0]!r}")
    for word in argv:
        if _CONTROL.search(word):
            raise ValueError(f"an argument of {key}= contains a control character: {word!r}")
    return " ".join(_word(word) for word in argv)


def _word(word: str) -> str:
    # `%` would start a specifier and `$` a variable, quoted or not.
    escaped = word.replace("%", "%%").replace("$", "$$")
    if not isinstance(word, Quoted) and word and re.search(_NEEDS_QUOTES, word) is None:
        return escaped
    # Inside double quotes systemd reads C escapes: only `\` and `"` need one.
    escaped = escaped.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


@cache
def load(name: str) -> UnitFile:
    """The parsed skeleton templates/<name>; an unsupported construct is an error, not a guess."""
    if "/" in name or name.startswith("."):
        raise ValueError(f"not a skeleton name: {name!r}")
    return parse(name, read_data("templates", name))


def parse(name: str, text: str) -> UnitFile:
    preamble: list[str] = []
    sections: list[Section] = []
    current: str | None = None
    lines: list[str] = []

    def close() -> None:
        if current is not None:
            body = list(lines)
            gap = 0
            while body and not body[-1]:
                body.pop()
                gap += 1
            sections.append(Section(current, tuple(body), gap))

    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.rstrip()
        where = f"templates/{name} line {number}"
        if line.endswith("\\"):
            raise ValueError(f"{where}: continuation lines are not supported")
        if _CONTROL.search(line):
            raise ValueError(f"{where}: control character")
        if not line or line.startswith(("#", ";")):
            (lines if current is not None else preamble).append(line)
            continue
        header = _SECTION.fullmatch(line)
        if header is not None:
            close()
            current = header.group(1)
            if any(s.name == current for s in sections):
                raise ValueError(f"{where}: [{current}] appears twice")
            lines = []
            continue
        key, sep, _ = line.partition("=")
        if not sep or _KEY.fullmatch(key) is None:
            raise ValueError(f"{where}: expected a comment, [Section] or Key=value: {line!r}")
        if current is None:
            raise ValueError(f"{where}: {key}= before the first [Section]")
        lines.append(line)
    close()
    return UnitFile(name, tuple(preamble), tuple(sections))
