"""Deterministic YAML in and out.

Reading: libyaml's parser through PyYAML, with a bounded composer. Writing: yamlemit, our own
writer for plain data, which writes what libyaml's emitter writes with the options below
(anything else goes to PyYAML whole). It speaks YAML 1.1, the dialect kubectl, the API server
and ct read, so strings like `yes`, `on` or `0644` are quoted on output exactly when those
readers would otherwise turn them into booleans or numbers.

Output rules: keys keep the order the builder gave them (builders are deterministic), multi-line
strings become literal blocks, no anchors/aliases. Same data, same bytes.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable, Iterator
from functools import cache
from typing import TYPE_CHECKING, Any, NoReturn

from capi_sysext.errors import InputError, Problem
from capi_sysext.yamlemit import Emitter, Unsupported

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
from yaml.composer import Composer, ComposerError  # noqa: E402
from yaml.constructor import ConstructorError, SafeConstructor  # noqa: E402

_Dumper: type[yaml.SafeDumper] = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

# ---- which plain scalars readers disagree about ----

# A plain (unquoted) scalar that some reader of our output would not take for the string it is.
# The union, case-insensitive wherever one reader is (a superset only costs quotes):
# - YAML 1.1 types (yaml.org/type: bool with y/n, null with ~, int with 0b/0o/0x/_ and
#   sexagesimal 1:20, float with .inf/.nan, timestamp, merge <<, value =), as PyYAML and ct read;
# - YAML 1.2 core schema (yaml.org/spec/1.2.2 10.3.2: 0o17, 0x1F, 1e5, .inf);
# - go-yaml v2 as kubectl/client-go (sigs.k8s.io/yaml) read it: gopkg.in/yaml.v2 v2.4.0
#   resolve.go, resolveMapList (y/Y/n/N/on/off..., <<), and strconv.ParseInt(s, 0, 64) for
#   ints, which takes 0b/0o/0x prefixes and `_` separators.
_AMBIGUOUS = re.compile(
    r"(?:y|n|yes|no|on|off|true|false|null|~|=|<<"
    r"|[-+]?(?:0b[01_]+|0o?[0-7_]+|0x[0-9a-f_]+(?:\.[0-9a-f_]*)?(?:p[-+]?[0-9]+)?)"
    r"|[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?"
    r"|[-+]?(?:\.[0-9_]+|[0-9][0-9_]*(?:\.[0-9_]*)?)(?:e[-+]?[0-9]+)?"
    r"|[-+]?\.(?:inf|nan)"
    r"|[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}(?:[t \t].*)?)",
    re.IGNORECASE | re.ASCII | re.DOTALL,
)


def ambiguous(text: str) -> bool:
    """True when some YAML 1.1 or 1.2 reader takes `text`, written plain, for a non-string."""
    return text == "" or _AMBIGUOUS.fullmatch(text) is not None


_NOT_A_STRING = "tag:capi-sysext,2026:ambiguous"
_STR = "tag:yaml.org,2002:str"


# What resolve() answered for a plain scalar's text: the same strings recur in every document
# and every cluster of a fleet, and the answer depends on the text alone. Bounded: long texts
# (file contents) are not kept, and the table starts over when full.
_RESOLVED: dict[str, str] = {}
_RESOLVED_MAX = 65536
_RESOLVED_TEXT_MAX = 256
_SCALAR = yaml.ScalarNode


class _OutputDumper(_Dumper):  # type: ignore[misc,valid-type]
    def ignore_aliases(self, data: Any) -> bool:
        return True

    def represent(self, data: Any) -> None:
        # PyYAML's representer dispatches every object through its generic, alias-tracking path;
        # our data is plain dicts, lists and scalars, so _node builds the same nodes directly.
        # tests/test_properties.py checks the bytes against PyYAML's own representer.
        # (No alias bookkeeping to reset: ignore_aliases keeps the representer's tables empty.)
        self.serialize(_node(self, data))

    def resolve(self, kind: Any, value: Any, implicit: Any) -> str:
        # Called from the emitter twice per scalar, so kept lean.
        if kind is _SCALAR:
            if not implicit[0]:
                # Quoted: PyYAML's answer is the plain string tag (this dumper has no path
                # resolvers), and the ambiguity rule is only asked about plain scalars.
                return _STR
            tag = _RESOLVED.get(value)
            if tag is None:
                tag = self.resolve_uncached(kind, value, implicit)
                if len(value) <= _RESOLVED_TEXT_MAX:
                    if len(_RESOLVED) >= _RESOLVED_MAX:
                        _RESOLVED.clear()
                    _RESOLVED[value] = tag
            return tag
        base: str = super().resolve(kind, value, implicit)
        return base

    def resolve_uncached(self, kind: Any, value: Any, implicit: Any) -> str:
        # The serializer (C or Python) asks which tag a plain scalar would resolve to; answering
        # "not a string" for every ambiguous text makes the emitter quote it. One rule for every
        # string, keys included, on libyaml's fast path.
        tag: str = super().resolve(kind, value, implicit)
        # Numbers, booleans and null resolve to their own tag and stay plain.
        if tag == _STR and kind is yaml.ScalarNode and implicit[0] and ambiguous(value):
            return _NOT_A_STRING
        return tag


def _literal_safe(text: str) -> bool:
    """Literal blocks cannot carry trailing spaces or tabs faithfully; those strings stay quoted."""
    return all(line == line.rstrip() for line in text.split("\n")) and "\t" not in text


# Line breaks only YAML 1.1 knows (NEL, LS, PS): a 1.2 reader keeps them as characters, a 1.1
# reader folds them, so text carrying them is written double-quoted, where both read escapes.
_ODD_BREAKS = re.compile("[\x85\u2028\u2029\ufeff]")


def _str_style(data: str) -> str | None:
    if _ODD_BREAKS.search(data):
        return '"'
    if "\n" in data and _literal_safe(data):
        return "|"
    return None


def _represent_str(dumper: yaml.SafeDumper, data: str) -> yaml.ScalarNode:
    return dumper.represent_scalar(_STR, data, style=_str_style(data))


_OutputDumper.add_representer(str, _represent_str)


class DoubleQuoted(str):
    """A string always written "double-quoted" (a template's `${VAR}`: whatever value replaces
    it, a YAML reader keeps it a string)."""

    __slots__ = ()


def _represent_quoted(dumper: yaml.SafeDumper, data: str) -> yaml.ScalarNode:
    return dumper.represent_scalar(_STR, str(data), style='"')


_OutputDumper.add_representer(DoubleQuoted, _represent_quoted)

_MAP = "tag:yaml.org,2002:map"
_SEQ = "tag:yaml.org,2002:seq"


def _node(dumper: yaml.SafeDumper, data: Any) -> yaml.Node:
    """The node PyYAML's SafeRepresenter (with the representers above, default_style None,
    default_flow_style False, sort_keys False) builds for `data`; exact types only, anything
    else (floats, subclasses) goes through the representer itself."""
    kind = type(data)
    if kind is str:
        return yaml.ScalarNode(_STR, data, style=_str_style(data))
    if kind is dict:
        pairs = [(_node(dumper, k), _node(dumper, v)) for k, v in data.items()]
        return yaml.MappingNode(_MAP, pairs, flow_style=False)
    if kind is list:
        return yaml.SequenceNode(_SEQ, [_node(dumper, v) for v in data], flow_style=False)
    if kind is bool:
        return yaml.ScalarNode("tag:yaml.org,2002:bool", "true" if data else "false")
    if kind is int:
        return yaml.ScalarNode("tag:yaml.org,2002:int", str(data))
    if data is None:
        return yaml.ScalarNode("tag:yaml.org,2002:null", "null")
    if kind is DoubleQuoted:
        return yaml.ScalarNode(_STR, str(data), style='"')
    node: yaml.Node = dumper.represent_data(data)
    return node


_OPTIONS: dict[str, Any] = {
    "Dumper": _OutputDumper,
    "sort_keys": False,
    "default_flow_style": False,
    "allow_unicode": True,
    "width": 4096,  # never fold long lines: folded URLs and commands are hard to review
}


_PLAIN_RESOLVER = yaml.resolver.Resolver()


def _plain_implicit(text: str) -> bool:
    """A plain scalar with this text reads back as this string in every reader."""
    tag = _RESOLVED.get(text)
    if tag is None:
        tag = _PLAIN_RESOLVER.resolve(_SCALAR, text, (True, False))  # type: ignore[no-untyped-call]
        if tag == _STR and ambiguous(text):
            tag = _NOT_A_STRING
    return tag == _STR


_EMITTER = Emitter(_str_style, _plain_implicit, DoubleQuoted)


def dump(data: Any) -> str:
    try:
        return _EMITTER.stream([data], explicit_start=False)
    except Unsupported:
        text: str = yaml.dump(data, **_OPTIONS)
        return text


def dump_all(docs: Iterable[Any]) -> str:
    docs = list(docs)
    try:
        return _EMITTER.stream(docs, explicit_start=True)
    except Unsupported:
        text: str = yaml.dump_all(docs, explicit_start=True, **_OPTIONS)
        return text


# ---- reading: only the types we accept, within bounds ----

MAX_DOCUMENTS_BYTES = 32 << 20  # validate / apply input (a generated cluster is ~100 KB)
MAX_VALUES_BYTES = 1 << 20  # one values file
MAX_DEPTH = 100  # nesting of collections; Kubernetes objects and CRD schemas stay far below
MAX_NODES = 1_000_000  # scalars and collections of one document after alias expansion
_INT_LIMIT = 1 << 64  # Kubernetes and Go readers hold int64/uint64; beyond is no input of ours

_INT_RE = re.compile(
    r"[-+]?(?:0b[01_]+|0x[0-9a-fA-F_]+|0[0-7_]*|[1-9][0-9_]*(?::[0-5]?[0-9])*)", re.ASCII
)
_FLOAT_RE = re.compile(
    r"[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?(?:[eE][-+]?[0-9]+)?|\.[0-9][0-9_]*(?:[eE][-+]?[0-9]+)?"
    r"|[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*|\.(?:inf|Inf|INF))|\.(?:nan|NaN|NAN)",
    re.ASCII,
)
_BOOLS = {"yes", "no", "true", "false", "on", "off"}


class _BoundedLoader(Composer, LOADER):  # type: ignore[misc,valid-type]
    """libyaml's parser with PyYAML's Python composer on top, so nesting is counted before it
    recurses (libyaml's own composer recurses in C: `[` * 100000 crashes the process), aliases
    are noted for the expansion count, and constructors only build str, int, float, bool, None,
    list and dict, each checking its text instead of raising something other than YAMLError."""

    def __init__(self, stream: str) -> None:
        LOADER.__init__(self, stream)
        self.anchors: dict[str, Any] = {}
        self.depth = 0
        self.aliases = False

    def compose_node(self, parent: Any, index: Any) -> Any:
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent):
            self.aliases = True
        elif self.depth >= MAX_DEPTH:
            raise ComposerError(
                None, None, f"nested deeper than {MAX_DEPTH} levels", event.start_mark
            )
        self.depth += 1
        try:
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1

    def compose_scalar_node(self, anchor: Any) -> Any:
        tag = self.peek_event().tag
        node = super().compose_scalar_node(anchor)
        # `!!str y` says what it means: plain_scalar_conflicts leaves tagged scalars alone.
        node.explicit_tag = tag not in (None, "!")  # type: ignore[attr-defined]
        return node


def _expanded_size(root: Any) -> None:
    """Count what the document is after alias expansion; refuse cycles and blow-ups."""
    sizes: dict[int, int] = {}
    open_nodes: set[int] = set()

    def size(node: Any, depth: int) -> int:
        key = id(node)
        if key in sizes:
            return sizes[key]
        if key in open_nodes:
            raise ComposerError(None, None, "an alias refers to its own anchor", node.start_mark)
        if depth > MAX_DEPTH:
            raise ComposerError(
                None, None, f"aliases nest deeper than {MAX_DEPTH} levels", node.start_mark
            )
        total = 1
        if isinstance(node, yaml.SequenceNode | yaml.MappingNode):
            open_nodes.add(key)
            children = (
                node.value
                if isinstance(node, yaml.SequenceNode)
                else [n for pair in node.value for n in pair]
            )
            for child in children:
                total += size(child, depth + 1)
                if total > MAX_NODES:
                    raise ComposerError(
                        None,
                        None,
                        f"aliases expand to more than {MAX_NODES} nodes",
                        node.start_mark,
                    )
            open_nodes.discard(key)
        sizes[key] = total
        return total

    size(root, 0)


def _fail(node: Any, problem: str) -> NoReturn:
    raise ConstructorError(None, None, problem, node.start_mark)


def _construct_int(loader: Any, node: Any) -> int:
    text = loader.construct_scalar(node)
    digits = text.replace("_", "").lstrip("+-0") or "0"
    if not _INT_RE.fullmatch(text) or text.replace("_", "") in {"", "+", "-"}:
        _fail(node, f"{text!r} is not an integer")
    if len(digits) > 40 and ":" not in text:
        _fail(node, "integer out of range (at most 64 bits)")
    if text.count(":") > 8:
        _fail(node, "integer out of range (at most 64 bits)")
    try:
        value: int = SafeConstructor.construct_yaml_int(loader, node)
    except ValueError:  # e.g. 0x_ matches the pattern but holds no digit
        _fail(node, f"{text!r} is not an integer")
    if not -_INT_LIMIT < value < _INT_LIMIT:
        _fail(node, "integer out of range (at most 64 bits)")
    return value


def _construct_float(loader: Any, node: Any) -> float:
    text = loader.construct_scalar(node)
    if not _FLOAT_RE.fullmatch(text) or not any(c.isalnum() for c in text.replace("_", "")):
        _fail(node, f"{text!r} is not a number")
    if text.count(":") > 8:
        _fail(node, "number out of range")
    try:
        value: float = SafeConstructor.construct_yaml_float(loader, node)
    except (ValueError, OverflowError):
        _fail(node, f"{text!r} is not a number")
    return value


def _construct_bool(loader: Any, node: Any) -> bool:
    text = loader.construct_scalar(node)
    if text.lower() not in _BOOLS:
        _fail(node, f"{text!r} is not a boolean")
    value: bool = SafeConstructor.construct_yaml_bool(loader, node)
    return value


def _construct_null(loader: Any, node: Any) -> None:
    text = loader.construct_scalar(node)
    if text not in {"", "~", "null", "Null", "NULL"}:
        _fail(node, f"{text!r} is not null")


def _construct_other(loader: Any, node: Any) -> NoReturn:
    tag = str(node.tag).replace("tag:yaml.org,2002:", "!!")
    _fail(
        node,
        f"the tag {tag} is not supported (only strings, numbers, booleans, null, lists and "
        "maps); quote the value to make it a string",
    )


_ACCEPTED = {
    "tag:yaml.org,2002:null": _construct_null,
    "tag:yaml.org,2002:bool": _construct_bool,
    "tag:yaml.org,2002:int": _construct_int,
    "tag:yaml.org,2002:float": _construct_float,
    _STR: SafeConstructor.construct_yaml_str,
    "tag:yaml.org,2002:seq": SafeConstructor.construct_yaml_seq,
    "tag:yaml.org,2002:map": SafeConstructor.construct_yaml_map,
}
_BoundedLoader.yaml_constructors = {None: _construct_other, **_ACCEPTED}
# Implicit timestamps (2024-01-02) and `=` are read as the strings they look like: no input of
# ours is a date, the YAML 1.2 core schema has neither, and an impossible date (2024-13-45) must
# not be an error in a field that wants a string. Explicit !!timestamp is an unsupported tag.
_BoundedLoader.yaml_implicit_resolvers = {
    first: [
        (tag, rx) for tag, rx in resolvers if tag.rsplit(":", 1)[-1] not in {"timestamp", "value"}
    ]
    for first, resolvers in LOADER.yaml_implicit_resolvers.items()
}


def documents(text: str, limit: int = MAX_DOCUMENTS_BYTES) -> Iterator[tuple[int, Any, Any]]:
    """(1-based index, node, data) per document, empty ones included; raises yaml.YAMLError
    (with a mark where there is one) at the first problem, after yielding what came before."""
    if len(text) > limit:
        raise yaml.YAMLError(f"larger than {limit >> 20} MiB")
    loader = _BoundedLoader(text)
    try:
        index = 0
        while loader.check_node():
            index += 1
            loader.aliases = False
            node = loader.get_node()
            if loader.aliases:
                _expanded_size(node)
            yield index, node, loader.construct_document(node)
    finally:
        loader.dispose()


def load_all(text: str, source: str, limit: int = MAX_DOCUMENTS_BYTES) -> list[Any]:
    """Parse multi-document YAML into plain Python data; any problem names the source."""
    try:
        return [d for _, _, d in documents(text, limit) if d is not None]
    except yaml.YAMLError as exc:
        raise InputError([Problem(f"{source}: {not_valid_yaml(exc)}")]) from None


def read_text(path: str | PathLike[str], limit: int) -> str:
    """A file's UTF-8 text, reading at most `limit` bytes (`-f /dev/zero` must not fill memory)."""
    try:
        # open(), not pathlib: the start-up path of `generate` does not import pathlib
        # (tests/test_startup.py).
        with open(path, "rb") as f:  # noqa: PTH123
            data = f.read(limit + 1)
    except OSError as exc:
        raise InputError([Problem(f"cannot read {path}: {exc.strerror or exc}")]) from None
    if len(data) > limit:
        raise InputError([Problem(f"cannot read {path}: larger than {limit >> 10} KiB")])
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(
            [Problem(f"cannot read {path}: not UTF-8 text (byte {exc.start + 1} is invalid)")]
        ) from None


def not_valid_yaml(exc: Exception) -> str:
    """The one message for a YAML parse error, PyYAML's or ruamel's (both mark the problem the
    same way): 'not valid YAML at line L, column C: problem', on one line."""
    return f"not valid YAML{describe_yaml_error(exc)}"


def describe_yaml_error(exc: Exception) -> str:
    """' at line L, column C: problem' on one line (PyYAML's text names "<unicode string>")."""
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None)
    if mark is None or problem is None:
        return ": " + " ".join(line.strip() for line in str(exc).strip().splitlines())
    if problem == "exceeded maximum nesting depth":
        # Newer libyaml scanners stop flow collections at 1000 levels before our composer's
        # count is reached (they scan ahead for simple keys); say it the same way either way.
        problem = f"nested deeper than {MAX_DEPTH} levels"
    return f" at line {mark.line + 1}, column {mark.column + 1}: {problem}"


def load_file(path: str | PathLike[str], limit: int = MAX_VALUES_BYTES) -> Any:
    text = read_text(path, limit)
    docs = load_all(text, str(path), limit)
    if len(docs) > 1:
        raise InputError([Problem(f"{path}: expected one YAML document, found {len(docs)}")])
    return docs[0] if docs else {}


# ---- plain scalars that YAML 1.1 and YAML 1.2 readers read differently (for validate) ----

_CORE12 = (  # YAML 1.2.2 section 10.3.2, the core schema's tag resolution
    ("null", re.compile(r"null|Null|NULL|~|")),
    ("bool", re.compile(r"true|True|TRUE|false|False|FALSE")),
    ("int", re.compile(r"[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+")),
    (
        "float",
        re.compile(
            r"[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
            r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN)"
        ),
    ),
)


def reading_12(text: str) -> str:
    """What a YAML 1.2 core-schema reader makes of a plain scalar: null, bool, int, float, str."""
    for kind, pattern in _CORE12:
        if pattern.fullmatch(text):
            return kind
    return "str"


@cache
def _resolver_11() -> Any:
    return yaml.resolver.Resolver()


def reading_11(text: str) -> str:
    """What a YAML 1.1 reader makes of a plain scalar: PyYAML's resolver (kubectl's go-yaml v2
    agrees), plus y/Y/n/N, booleans in the 1.1 type set and in go-yaml v2's resolveMapList."""
    if text in {"y", "Y", "n", "N"}:
        return "bool"
    tag: str = _resolver_11().resolve(yaml.ScalarNode, text, (True, False))
    return tag.rsplit(":", 1)[-1]


def _readers_disagree(text: str) -> tuple[str, str] | None:
    old, new = reading_11(text), reading_12(text)
    # 0777: an int to both, but octal 511 to YAML 1.1 and decimal 777 to YAML 1.2.
    octal = old == new == "int" and re.fullmatch(r"[-+]?0[0-9]+", text) is not None
    return (old, new) if old != new or octal else None


def plain_scalar_conflicts(node: Any) -> list[tuple[list[str | int], int, str, str, str]]:
    """(path, line, text, YAML 1.1 reading, YAML 1.2 reading) of each plain scalar, key or
    value, that the two read differently: kubectl would apply another value than it says."""
    found: list[tuple[list[str | int], int, str, str, str]] = []
    seen: set[int] = set()

    def visit(n: Any, path: list[str | int]) -> None:
        if isinstance(n, yaml.ScalarNode):
            # Plain: None from the Python parser, "" from libyaml.
            if not n.style and not getattr(n, "explicit_tag", False):
                readings = _readers_disagree(n.value)
                if readings is not None:
                    found.append((path, n.start_mark.line + 1, n.value, *readings))
            return
        if id(n) in seen:  # an alias: its anchor was visited already
            return
        seen.add(id(n))
        if isinstance(n, yaml.SequenceNode):
            for i, child in enumerate(n.value):
                visit(child, [*path, i])
        elif isinstance(n, yaml.MappingNode):
            for key, value in n.value:
                name = key.value if isinstance(key, yaml.ScalarNode) else "?"
                visit(key, [*path, name])
                visit(value, [*path, name])

    visit(node, [])
    return found
