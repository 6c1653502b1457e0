"""Round-trip edits of user-owned YAML (the lock on upgrade, values files) and the commented
values file of `capi-sysext init`, with ruamel.yaml.

ruamel.yaml keeps comments, key order and quoting through load/modify/dump, which PyYAML cannot:
a user's notes in a committed lock or values file survive `capi-sysext lock --upgrade`. It is
imported only here, and only the `lock` and `init` commands import this module: `generate` reads
locks and values files with the fast PyYAML loader (yamlio.py) and must not pay ruamel's import
(tests/test_startup.py).
"""

from __future__ import annotations

import io
from collections.abc import Mapping, MutableMapping, Sequence
from typing import TYPE_CHECKING, Any

from capi_sysext.errors import InputError, Problem

if TYPE_CHECKING:
    from ruamel.yaml import YAML


def _yaml() -> YAML:
    from ruamel.yaml import YAML

    y = YAML()  # round-trip mode
    y.preserve_quotes = True
    y.width = 4096  # never fold: folded URLs are hard to review
    return y


def load(path: str) -> Any:
    from ruamel.yaml.error import YAMLError

    try:
        with open(path, encoding="utf-8") as f:  # noqa: PTH123  (str paths throughout)
            text = f.read()
    except (OSError, UnicodeDecodeError) as exc:
        why = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise InputError([Problem(f"cannot read {path}: {why}")]) from None
    try:
        return _yaml().load(text)
    except YAMLError as exc:
        from capi_sysext.yamlio import not_valid_yaml

        raise InputError([Problem(f"{path}: {not_valid_yaml(exc)}")]) from None


def dump(data: Any) -> str:
    out = io.StringIO()
    _yaml().dump(data, out)
    return out.getvalue()


def merge_into(
    target: MutableMapping[str, Any], new: Mapping[str, Any], prune: Sequence[str] = ()
) -> None:
    """Set new's values in target in place: existing keys keep their position and comments, new
    keys are appended, and in the sub-mappings named by prune, keys absent from new go away."""
    for key, value in new.items():
        current = target.get(key)
        if isinstance(value, Mapping) and isinstance(current, MutableMapping):
            merge_into(current, value)
            if key in prune:
                for gone in [k for k in current if k not in value]:
                    del current[gone]
        elif key not in target or current != value:
            target[key] = value


def write(path: str, text: str) -> None:
    from pathlib import Path

    from capi_sysext.output import write_atomic

    write_atomic(Path(path), text)


def update_file(path: str, new: Mapping[str, Any], prune: Sequence[str] = ()) -> bool:
    """Round-trip update of a YAML mapping file; True when its text changed."""
    data = load(path)
    if not isinstance(data, MutableMapping):
        raise InputError([Problem(f"{path}: top level must be a mapping")])
    before = dump(data)
    merge_into(data, new, prune)
    after = dump(data)
    if after == before:
        return False
    write(path, after)
    return True


def set_top_level(path: str, key: str, value: Any) -> bool:
    """Change one top-level key of a values file when present; True when the file changed."""
    data = load(path)
    if not isinstance(data, MutableMapping) or key not in data or data[key] == value:
        return False
    data[key] = value
    write(path, dump(data))
    return True


# ---------------------------------------------------------------------------------------------
# `capi-sysext init`


def init_values(provider: str, rows: list[dict[str, Any]], title: str, prerequisites: str) -> str:
    """A values file listing every input: required keys first (empty, to fill in), then every
    optional key commented out with its default, each with its flag and environment variable.

    Keys are dotted at the top level (values files accept both forms), so a commented-out line
    can be enabled by removing its `# ` alone.
    """
    from ruamel.yaml.comments import CommentedMap

    doc = CommentedMap()
    required = [r for r in rows if r["required"]]
    optional = [r for r in rows if not r["required"]]
    header = (
        f"capi-sysext values file for {title} (capi-sysext init --provider {provider}).\n"
        "Use it: capi-sysext generate --values FILE. Precedence: flags > --set > values files >\n"
        "environment > defaults, so an environment variable named below only applies while its\n"
        "key is unset or commented out here.\n"
        f"Needs a {prerequisites}\n\n"
        "Required: fill these in (an empty value counts as unset)."
    )
    for i, row in enumerate(required):
        doc[row["key"]] = provider if row["key"] == "provider" else None
        text = _describe(row)
        doc.yaml_set_comment_before_after_key(
            row["key"], before=f"{header}\n\n{text}" if i == 0 else text
        )
    lines = ["", "# Optional: defaults shown; remove the leading '# ' to change one.", ""]
    for row in optional:
        lines.append(f"# {_describe(row)}")
        lines += [f"# {line}" for line in _default_line(row).splitlines()]
    return dump(doc) + "\n".join(lines) + "\n"


def _describe(row: Mapping[str, Any]) -> str:
    ways = ", ".join(
        w for w in (row["flag"] and f"flag {row['flag']}", row["env"] and f"env ${row['env']}") if w
    )
    choices = f" ({'|'.join(row['choices'])})" if row["choices"] else ""
    return f"{row['help']}{choices}" + (f"  [{ways}]" if ways else "")


def _default_line(row: Mapping[str, Any]) -> str:
    """`key: default` serialized as data (quoted where YAML needs it), or `key:` when unset."""
    from capi_sysext import yamlio

    default = row["default"]
    if default is None or default == ():
        return f"{row['key']}:"
    if isinstance(default, tuple):
        default = list(default)
    return yamlio.dump({row["key"]: default}).rstrip("\n")
