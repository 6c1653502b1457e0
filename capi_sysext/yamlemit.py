"""A block-style YAML writer for plain data, byte for byte what libyaml's emitter writes for it.

Why our own: PyYAML's representer builds a node tree in Python and libyaml's emitter then calls
back into Python for every scalar (tag resolution, path bookkeeping), three calls per node; a
fleet of clusters spent most of its time there (bench/RESULTS.md). Our data is plain dicts,
lists, strings, ints, bools and None, so the text can be written directly.

Scope: exactly the settings yamlio uses (block style, indent 2, line width 4096, unicode kept,
keys in the builder's order, no aliases). Anything this module does not write the way libyaml
would (floats, other types, keys too long for a simple key, quoted multi-line strings, lines
long enough to fold) raises Unsupported, and the caller gives the whole stream to PyYAML:
the two never mix within one output. tests/test_properties.py compares the two byte for byte
on generated data, and every golden file goes through here.

The rules follow libyaml's emitter (the 0.2.6 PyYAML bundles; yaml/libyaml src/emitter.c at
840b65c): which styles a text allows (yaml_emitter_analyze_scalar, line 1501), the style picked
(select_scalar_style, 1198), simple keys of at most 128 bytes (check_simple_key, 1147), folding
at the width (write_plain_scalar 1919, write_single_quoted_scalar 1985,
write_double_quoted_scalar 2051), block scalar hints and the "..." after a kept trailing break
(write_block_scalar_hints 2207, emit_document_start 666), and sequences under a key written
without extra indentation (increase_indent's indentless case, 403).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any

WIDTH = 4096  # yamlio's line width: a plain or quoted scalar crossing it would be folded
_SIMPLE_KEY_MAX = 128  # bytes: a longer key is written as an explicit "? " key


class Unsupported(Exception):  # a signal to the caller: write this stream another way
    """This data is outside what the writer reproduces exactly."""


# Characters libyaml writes as they are: LF, printable ASCII, and the BMP outside surrogates,
# U+FEFF and U+FFFE/FFFF. Everything else (tab, CR, C0/C1 controls, NEL, astral characters) is
# "special": the scalar can only be double-quoted, with escapes. Written as the complement:
# classes with wide ranges take CPython's re milliseconds to compile (see yamlio's
# NON_PRINTABLE_FAST), and the wide one is compiled only for text that is not ASCII.
_SPECIAL_ASCII = re.compile(r"[\x00-\x09\x0b-\x1f\x7f]")
_SPECIAL_WIDE = r"[\x00-\x09\x0b-\x1f\x7f-\x9f\ud800-\udfff\ufeff\ufffe\uffff\U00010000-\U0010ffff]"
# What a double-quoted scalar escapes: the special characters above, line breaks, '"' and '\'.
_ESCAPED_ASCII = re.compile(r'[\x00-\x1f"\\\x7f]')
_ESCAPED_WIDE = (
    r'[\x00-\x1f"\\\x7f-\x9f\u2028\u2029\ud800-\udfff\ufeff\ufffe\uffff\U00010000-\U0010ffff]'
)
_WIDE: dict[str, re.Pattern[str]] = {}


def _wide(pattern: str) -> re.Pattern[str]:
    compiled = _WIDE.get(pattern)
    if compiled is None:
        compiled = _WIDE[pattern] = re.compile(pattern)
    return compiled


def _special(text: str) -> bool:
    found = (_SPECIAL_ASCII if text.isascii() else _wide(_SPECIAL_WIDE)).search(text)
    return found is not None


_BREAK = "\r\n\x85\u2028\u2029"
_BLANKZ = " \t\r\n\x85\u2028\u2029\x00"
_ANY_BREAK = re.compile(r"[\r\n\x85\u2028\u2029]")
# A ':' before a blank or the end, or a '#' after a blank, is an indicator anywhere.
_INNER_INDICATOR = re.compile(
    r"[:](?=[ \t\r\n\x85\u2028\u2029\x00]|\Z)|(?<=[ \t\r\n\x85\u2028\u2029\x00])#"
)
_FIRST_INDICATORS = "#,[]{}&*!|>'\"%@`"
_SPACE_BREAK = re.compile(r"[ ][\r\n\x85\u2028\u2029]")
_BREAK_SPACE = re.compile(r"[\r\n\x85\u2028\u2029][ ]")

_ESCAPES = {
    "\x00": "\\0",
    "\x07": "\\a",
    "\x08": "\\b",
    "\x09": "\\t",
    "\x0a": "\\n",
    "\x0b": "\\v",
    "\x0c": "\\f",
    "\x0d": "\\r",
    "\x1b": "\\e",
    '"': '\\"',
    "\\": "\\\\",
    "\x85": "\\N",
    "\u2028": "\\L",
    "\u2029": "\\P",
}


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    known = _ESCAPES.get(char)
    if known is not None:
        return known
    code = ord(char)
    if 0xD800 <= code <= 0xDFFF:
        raise Unsupported  # a lone surrogate: no UTF-8 for it; PyYAML says so
    if code <= 0xFF:
        return f"\\x{code:02X}"
    if code <= 0xFFFF:
        return f"\\u{code:04X}"
    return f"\\U{code:08X}"


def double_quoted(text: str) -> str:
    escaped = _ESCAPED_ASCII if text.isascii() else _wide(_ESCAPED_WIDE)
    return '"' + escaped.sub(_escape, text) + '"'


def _block_indicators(text: str) -> bool:
    first = text[0]
    if first in _FIRST_INDICATORS or text.startswith(("---", "...")):
        return True
    if first in "-?" and (len(text) == 1 or text[1] in _BLANKZ):
        return True
    return _INNER_INDICATOR.search(text) is not None


def _quoting(text: str, plain_implicit: bool) -> str:
    """The style libyaml picks for a string asked to be written plain: '', "'" or '"'."""
    if not text:
        return "'"  # empty: readers would see null; and a plain empty key is not allowed
    special = _special(text)
    space_break = _SPACE_BREAK.search(text) is not None
    break_space = _BREAK_SPACE.search(text) is not None
    multiline = _ANY_BREAK.search(text) is not None
    plain = (
        plain_implicit
        and not (special or space_break or break_space or multiline)
        and text[0] != " "
        and text[-1] != " "
        and not _block_indicators(text)
    )
    if plain:
        return ""
    if special or space_break or break_space:
        return '"'
    return "'"


def _folded(token: str, column: int, indent: int) -> str:
    """A plain or quoted scalar starting at `column` and crossing the width, broken the way
    libyaml breaks it: at the first space of a run once past the width, the space replaced by
    a line break and the scalar's indentation. Quoted scalars never break at their first or
    last character; double-quoted ones keep a following space with a backslash, the others
    never break before a second space. (Escapes, doubled quotes and spaces count the same in
    the token as on the line: one column per character.)"""
    quote = token[0] if token[0] in "'\"" else ""
    body = token[1:-1] if quote else token
    col = column + len(quote)
    last = len(body) - 1
    out: list[str] = [quote]
    previous_space = False
    for index, char in enumerate(body):
        if char != " ":
            out.append(char)
            col += 1
            previous_space = False
            continue
        next_space = index < last and body[index + 1] == " "
        fold = not previous_space and col > WIDTH
        if quote:
            fold = fold and 0 < index < last
        if quote != '"':
            fold = fold and not next_space
        if fold:
            out.append("\n" + " " * indent)
            col = indent
            if quote == '"' and next_space:
                out.append("\\")
                col += 1
        else:
            out.append(" ")
            col += 1
        previous_space = True
    out.append(quote)
    return "".join(out)


def _check_simple_key(text: str) -> None:
    if _ANY_BREAK.search(text) or len(text.encode("utf-8", "surrogatepass")) > _SIMPLE_KEY_MAX:
        raise Unsupported  # not a simple key: libyaml writes an explicit "? " key


def _literal_allowed(text: str) -> bool:
    return not (text[-1] == " " or _SPACE_BREAK.search(text) or _special(text))


class Emitter:
    """One stream's text at a time. `style(text)` is the style a string is asked for (None, '|'
    for a literal block, '"'); `plain_implicit(text)` whether a plain scalar with that text
    reads back as that string in every reader (the caller's ambiguity rules); `double` a str
    subclass always written double-quoted."""

    def __init__(
        self,
        style: Callable[[str], str | None],
        plain_implicit: Callable[[str], bool],
        double: type[str],
    ) -> None:
        self._style = style
        self._plain_implicit = plain_implicit
        self._double = double
        # Token per text, by position (value or key), kept across streams: texts repeat. ""
        # marks a literal block, which is written in place (its lines depend on the indent).
        self._values: dict[str, str] = {}
        self._keys: dict[str, str] = {}
        self._open_ended = False

    # ---- scalars ----

    def _string_token(self, text: str, key: bool) -> str:
        table = self._keys if key else self._values
        token = table.get(text)
        if token is not None:
            return token
        if key:
            _check_simple_key(text)
        style = self._style(text)
        if style == "|" and not key:
            token = ""
        elif style == '"':
            token = double_quoted(text)
        else:
            quoting = _quoting(text, self._plain_implicit(text))
            if quoting == "":
                token = text
            elif quoting == "'":
                if _ANY_BREAK.search(text):
                    raise Unsupported  # single-quoted across lines: libyaml's line handling
                token = "'" + text.replace("'", "''") + "'"
            else:
                token = double_quoted(text)
        if len(text) <= 256:
            if len(table) >= 65536:
                table.clear()
            table[text] = token
        return token

    def _scalar(self, value: Any, key: bool) -> str:
        kind = type(value)
        if kind is str:
            return self._string_token(value, key)
        if kind is bool:
            return "true" if value else "false"
        if kind is int:
            text = str(value)
            if key and len(text) > _SIMPLE_KEY_MAX:
                raise Unsupported
            return text
        if value is None:
            return "null"
        if kind is self._double:
            text = str(value)
            if key:
                _check_simple_key(text)
            return double_quoted(text)
        raise Unsupported

    def _literal_block(self, text: str, indent: int) -> str:
        """' |<hints>' and the block, ending in a line break."""
        if not _literal_allowed(text):
            # libyaml falls back to double quotes; a literal needs no trailing space, no space
            # before a break, nothing special.
            return " " + double_quoted(text) + "\n"
        hints = "|"
        if text[0] in " \r\n\x85\u2028\u2029":
            hints += "2"
        if text[-1] not in _BREAK:
            hints += "-"
            keep = False
        elif len(text) == 1 or text[-2] in _BREAK:
            hints += "+"
            keep = True
        else:
            keep = False
        if _ANY_BREAK.search(text.replace("\n", "")):
            raise Unsupported  # CR, NEL, LS, PS inside a block: rare, left to libyaml
        self._open_ended = keep
        pad = " " * indent
        body = "\n".join(pad + line if line else "" for line in text.split("\n"))
        return " " + hints + "\n" + body + ("\n" if not keep and text[-1] != "\n" else "")

    def _value(self, value: Any, indent: int, column: int) -> str:
        """A scalar after 'key:' or '-' at `column`: ' token\\n' (or a literal block)."""
        token = self._values.get(value) if type(value) is str else None
        if token is None:
            token = self._scalar(value, False)
        if not token:
            return self._literal_block(value, indent)
        if column + 1 + len(token) > WIDTH and " " in token:
            return " " + _folded(token, column + 1, indent) + "\n"
        return " " + token + "\n"

    # ---- collections ----

    def _mapping(self, data: dict[Any, Any], indent: int, lead: str, out: list[str]) -> None:
        pad = " " * indent
        inner = indent + 2
        keys = self._keys
        for key, value in data.items():
            token = keys.get(key) if type(key) is str else None
            if token is None:
                token = self._scalar(key, True)
            kind = type(value)
            if kind is dict:
                if value:
                    out.append(lead + token + ":\n")
                    self._mapping(value, inner, " " * inner, out)
                else:
                    out.append(lead + token + ": {}\n")
            elif kind is list:
                if value:
                    out.append(lead + token + ":\n")
                    # A sequence under a key is not indented further (libyaml's indentless
                    # sequence in a mapping context).
                    self._sequence(value, indent, pad, out)
                else:
                    out.append(lead + token + ": []\n")
            else:
                out.append(lead + token + ":" + self._value(value, inner, indent + len(token) + 1))
            lead = pad

    def _sequence(self, data: list[Any], indent: int, lead: str, out: list[str]) -> None:
        pad = " " * indent
        inner = indent + 2
        for item in data:
            kind = type(item)
            if kind is dict:
                if item:
                    self._mapping(item, inner, lead + "- ", out)
                else:
                    out.append(lead + "- {}\n")
            elif kind is list:
                if item:
                    self._sequence(item, inner, lead + "- ", out)
                else:
                    out.append(lead + "- []\n")
            else:
                out.append(lead + "-" + self._value(item, inner, indent + 1))
            lead = pad

    # ---- streams ----

    def stream(self, docs: Iterable[Any], explicit_start: bool) -> str:
        out: list[str] = []
        self._open_ended = False
        for index, doc in enumerate(docs):
            self._open_ended = False
            start = "---" if explicit_start or index else ""
            kind = type(doc)
            if kind is dict and doc:
                if start:
                    out.append(start + "\n")
                self._mapping(doc, 0, "", out)
            elif kind is list and doc:
                if start:
                    out.append(start + "\n")
                self._sequence(doc, 0, "", out)
            elif kind is dict or kind is list:
                flow = "{}" if kind is dict else "[]"
                out.append((start + " " if start else "") + flow + "\n")
            else:
                raise Unsupported  # a scalar document
        if self._open_ended:
            out.append("...\n")
        return "".join(out)
