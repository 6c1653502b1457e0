"""User inputs from every source, merged by precedence and validated all at once.

Sources, strongest first: command-line flags > --set key=value > values files (later wins) >
environment variables (the names clusterctl users already export) > defaults.
Every input is a Variable with one values key (dotted), optionally one flag and one env var, so a
missing or bad value can always be reported with the three ways to fix it.
"""

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from os import PathLike
from types import MappingProxyType
from typing import Any, NamedTuple

from capi_sysext.durations import DAY, format_duration, parse_seconds
from capi_sysext.errors import InputError, Problem

# A file path as the CLI gives it (str) or a caller passes it (pathlib.Path).
StrPath = str | PathLike[str]

Parser = Callable[[Any], Any]  # raises ValueError with a user-facing reason


class Variable(NamedTuple):
    key: str  # dotted values-file key, also what --set uses
    help: str
    parse: Parser
    default: Any = None
    required: bool = False
    flag: str | None = None
    env: str | None = None
    choices: tuple[str, ...] = ()

    def fixes(self) -> str:
        # Boolean pairs: name the positive flag ("--sysupdate"), the negative is obvious.
        flag = self.flag.split("/")[0] if self.flag else None
        ways = [
            w
            for w in (
                flag and f"flag {flag}",
                f"values key {self.key}",
                self.env and f"env {self.env}",
            )
            if w
        ]
        return "set it with " + ", ".join(ways)

    def source_name(self, source: str) -> str:
        return {
            "flag": (self.flag or self.key).split("/")[0],
            "set": f"--set {self.key}",
            "env": self.env or self.key,
        }.get(source, f"values key {self.key}")


# ---- parsers: accept strings (flags, --set, env) and native YAML values (values files) ----


# Bytes that are not UTF-8 arrive from argv and the environment as lone surrogates
# (PEP 383, surrogateescape); they cannot be written out as UTF-8, so they are refused here.
_UNDECODABLE = re.compile("[\ud800-\udfff]")
# C0 and C1 controls and DEL: no single-line value has a use for them, and in a URL, a unit file
# or a YAML scalar each one changes what the next reader sees.
_CONTROLS = re.compile("[\x00-\x1f\x7f-\x9f]")
_MAX_TEXT = 4096  # no single value of ours is longer; bounds every message that quotes one


def check_text(value: Any) -> None:
    """Refuse undecodable bytes anywhere in a raw value (strings, and strings inside lists)."""
    items = value if isinstance(value, list | tuple) else (value,)
    for item in items:
        if isinstance(item, str) and _UNDECODABLE.search(item):
            raise ValueError(
                "contains bytes that are not UTF-8 text (check the shell quoting or the "
                "file's encoding)"
            )


def short(text: str) -> str:
    """repr() of a value for a message, cut to a readable length."""
    return repr(text if len(text) <= 60 else text[:57] + "...")


def parse_str(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ValueError(f"must be a string, got {type(value).__name__}")
    text = str(value).strip()
    if not text:
        raise ValueError("must not be empty")
    check_text(text)
    if len(text) > _MAX_TEXT:
        raise ValueError(f"must be at most {_MAX_TEXT} characters, got {len(text)}")
    if _CONTROLS.search(text):
        raise ValueError(
            f"must not contain control characters (newline, tab, ...), got {short(text)}"
        )
    return text


# ASCII digits only: int() and re's \d also take other scripts' digits ('\u0661\u0662' is 12).
_INT = re.compile(r"[-+]?[0-9]{1,18}")


def parse_int(minimum: int, maximum: int) -> Parser:
    def parse(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, str | int):
            raise ValueError("must be a whole number")
        text = str(value).strip()
        if _INT.fullmatch(text) is None:
            raise ValueError(f"must be a whole number, got {short(text)}")
        number = int(text, 10)
        if not minimum <= number <= maximum:
            raise ValueError(f"must be between {minimum} and {maximum}, got {number}")
        return number

    return parse


def parse_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in {"true", "yes", "1", "on"}:
        return True
    if text in {"false", "no", "0", "off"}:
        return False
    raise ValueError(f"must be true or false, got {value!r}")


def parse_choice(choices: Sequence[str], aliases: Mapping[str, str] | None = None) -> Parser:
    table = {c: c for c in choices} | dict(aliases or {})

    def parse(value: Any) -> str:
        text = parse_str(value).lower()
        if text not in table:
            raise ValueError(f"must be one of {', '.join(choices)}, got {value!r}")
        return table[text]

    return parse


def parse_str_list(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        items = [v for v in (x.strip() for x in value.split(",")) if v]
    elif isinstance(value, list | tuple):
        items = [parse_str(v) for v in value]
    else:
        raise ValueError("must be a list of strings")
    return tuple(items)


def parse_lines(value: Any) -> tuple[str, ...]:
    """Like parse_str_list, but a string is split on newlines (SSH keys contain commas)."""
    if isinstance(value, str):
        return tuple(parse_str(v) for v in value.splitlines() if v.strip())
    return parse_str_list(value)


_DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")


def parse_dns_label(max_len: int = 63) -> Parser:
    def parse(value: Any) -> str:
        text = parse_str(value)
        if len(text) > max_len or not _DNS1123_LABEL.match(text):
            raise ValueError(
                f"must be a DNS-1123 label of at most {max_len} characters (lower-case letters, "
                f"digits and '-', starting and ending with a letter or digit), got {text!r}"
            )
        return text

    return parse


def parse_url(value: Any) -> str:
    text = parse_str(value).rstrip("/")
    if not re.match(r"^https?://[^\s/$.?#][^\s]*$", text):
        raise ValueError(f"must be an http:// or https:// URL, got {value!r}")
    return text


def parse_duration(minimum_s: int = 0, maximum_s: int = 7 * DAY) -> Parser:
    """A Go-style duration of hours/minutes/seconds (30m, 1h30m, 90s) -> whole seconds, with
    an upper bound (Go's time.Duration overflows past ~292 years; ours end far earlier)."""

    def parse(value: Any) -> int:
        text = parse_str(value).lower()
        seconds = parse_seconds(text)
        if seconds is None:
            raise ValueError(f"must be a duration like 30m, 1h30m or 90s, got {value!r}")
        total = int(seconds)
        if total < minimum_s:
            raise ValueError(f"must be at least {format_duration(minimum_s)}, got {text}")
        if total > maximum_s:
            raise ValueError(f"must be at most {format_duration(maximum_s)}, got {text}")
        return total

    return parse


def parse_cidr(value: Any) -> str:
    import ipaddress  # cheap, and only needed when validating CIDRs

    text = parse_str(value)
    try:
        net = ipaddress.ip_network(text, strict=True)
    except ValueError as exc:
        raise ValueError(f"must be a CIDR block like 192.168.0.0/16: {exc}") from None
    return str(net)


# clusterctl and Flux post-build substitution replace `${VAR}` in the output we write; a user value
# carrying one would silently change after `generate`. `$$` is their escape for a literal `$`, so
# it would arrive as `$` (clusterctl: drone/envsubst parse/scan.go:191-201 and eval_test.go:170-173
# at 1790424, the version kubernetes-sigs/cluster-api go.mod:15 pins; Flux: fluxcd/
# kustomize-controller docs/spec/v1/kustomizations.md:817-820). A bare `$VAR` neither replaces
# (eval_test.go:177-178; kustomizations.md:817-819), but GNU gettext's envsubst does ("$VARIABLE
# or ${VARIABLE}", envsubst(1)), so it is refused as well, the rule README "Inputs" states.
# Escaping for them instead is no option: the same output also goes straight to `kubectl apply`,
# where `$$` stays `$$`. So a user value may hold a `$` only where no substitution tool changes
# it (`^Watchdog$`, `a$ b`); README "Inputs" says so.
_SUBSTITUTION = re.compile(r"\$(\{|[A-Za-z_]|\$)")


def _refuse_substitution(value: Any) -> None:
    items = value if isinstance(value, tuple | list) else (value,)
    for item in items:
        if isinstance(item, str) and _SUBSTITUTION.search(item):
            raise ValueError(
                f"{short(item)} contains ${{...}}, $$ or $NAME, which clusterctl and Flux "
                "substitute in the generated YAML (envsubst: $NAME too); use the literal value "
                "instead"
            )


# ---- the raw inputs and their resolution ----


_EMPTY: Mapping[str, Any] = MappingProxyType({})


class RawInputs(NamedTuple):
    flags: Mapping[str, Any] = _EMPTY  # values key -> value (None = not given)
    sets: Sequence[str] = ()
    values_files: Sequence[StrPath] = ()
    env: Mapping[str, str] = _EMPTY


class Layered(NamedTuple):
    """Raw values per source, keyed by dotted key, with unknown-key problems not yet judged."""

    flags: dict[str, Any]
    sets: dict[str, Any]
    files: dict[str, tuple[Any, str]]  # key -> (value, file name)
    env: Mapping[str, str]
    problems: list[Problem]
    # A values file could not be read: it may hold the required values, so do not call them missing.
    unread_files: bool = False


def _flatten(data: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(data, Mapping) and data:
        out: dict[str, Any] = {}
        for k, v in data.items():
            out.update(_flatten(v, f"{prefix}{k}."))
        return out
    return {prefix[:-1]: data} if prefix else {}


def layer(raw: RawInputs, load_yaml: Callable[[StrPath], Any]) -> Layered:
    problems: list[Problem] = []
    sets: dict[str, Any] = {}
    for item in raw.sets:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            problems.append(
                Problem(f"--set {item!r} is not key=value", "e.g. --set azure.location=westeurope")
            )
            continue
        sets[key.strip()] = value
    files: dict[str, tuple[Any, str]] = {}
    unread = False
    for path in raw.values_files:
        try:
            data = load_yaml(path)
        except InputError as exc:
            problems.extend(exc.problems)
            unread = True
            continue
        if not isinstance(data, Mapping):
            problems.append(Problem(f"values file {path}: top level must be a mapping of keys"))
            unread = True
            continue
        for key, value in _flatten(data).items():
            files[key] = (value, str(path))
    flags = {k: v for k, v in raw.flags.items() if v is not None}
    return Layered(flags, sets, files, raw.env, problems, unread_files=unread)


def resolve(
    variables: Iterable[Variable], layered: Layered
) -> tuple[dict[str, Any], list[Problem]]:
    """Pick each variable's value by precedence and parse it. Returns values and all problems."""
    values: dict[str, Any] = {}
    problems: list[Problem] = []
    for var in variables:
        found: tuple[Any, str] | None = None
        if var.key in layered.flags:
            found = (layered.flags[var.key], var.source_name("flag"))
        elif var.key in layered.sets:
            found = (layered.sets[var.key], var.source_name("set"))
        elif var.key in layered.files and layered.files[var.key][0] is not None:
            # An empty key (`name:`) is unset, so a values file can list keys still to fill.
            value, fname = layered.files[var.key]
            found = (value, f"values key {var.key} in {fname}")
        elif var.env and layered.env.get(var.env, "").strip():
            found = (layered.env[var.env], f"env {var.env}")
        if found is None:
            if var.required and not layered.unread_files:
                problems.append(
                    Problem(f"missing required value {var.key} ({var.help})", var.fixes())
                )
            values[var.key] = var.default
            continue
        value, where = found
        try:
            check_text(value)
            values[var.key] = var.parse(value)
            _refuse_substitution(values[var.key])
        except ValueError as exc:
            problems.append(Problem(f"{where}: {exc}", var.fixes()))
            values[var.key] = var.default
    return values, problems


def unknown_keys(
    known: Iterable[str], layered: Layered, ignore_prefixes: Sequence[str] = ()
) -> list[Problem]:
    """Typos in values files or --set must not be silently ignored."""
    known_set = set(known)
    problems: list[Problem] = []

    def check(key: str, where: str) -> None:
        if key in known_set or any(key.startswith(p) for p in ignore_prefixes):
            return
        import difflib  # only when there is a typo to explain

        close = difflib.get_close_matches(key, sorted(known_set), n=1)
        hint = f"did you mean {close[0]}?" if close else "see --list-variables for the keys"
        problems.append(Problem(f"{where}: unknown key {key}", hint))

    for key in layered.sets:
        check(key, "--set")
    for key, (_, fname) in layered.files.items():
        check(key, f"values file {fname}")
    return problems
