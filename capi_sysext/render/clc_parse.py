"""Read rendered node configs (CLC, Ignition 3.3 JSON) back into the model.

Used to prove the renderers lossless and equivalent: `parse_clc(render_clc(cfg)) == cfg` and
`parse_ignition(render_ignition(cfg)) == cfg`. Deliberately strict: anything the renderers would
not emit (unknown keys, other filesystems, sha512, overwrite other than true, undecodable data
URLs) is rejected with the location of the offending value, never skipped.
"""

from __future__ import annotations

import base64
import re
import urllib.parse
from collections.abc import Callable
from typing import Any, TypeVar

from capi_sysext.errors import InputError
from capi_sysext.model import (
    PINNED_SUMS_PATH,
    Directory,
    Dropin,
    File,
    Link,
    NodeConfig,
    Remote,
    Unit,
    parse_pinned_sums,
)
from capi_sysext.render.ignition import IGNITION_VERSION
from capi_sysext.yamlio import load_all

T = TypeVar("T")


class ConfigParseError(InputError):
    """A node config that the renderers could not have produced."""


def parse_clc(text: str) -> NodeConfig:
    """CLC YAML from render_clc -> NodeConfig; remote sha256 is restored from the pinned sums."""
    docs = load_all(text, "CLC config")
    if len(docs) > 1:
        raise ConfigParseError(f"CLC config: expected one YAML document, found {len(docs)}")
    doc = _obj(docs[0] if docs else {}, "CLC config", {"storage", "systemd"})
    storage = _obj(doc.get("storage", {}), "storage", {"directories", "files", "links"})
    dirs = _each(storage, "directories", "storage", _clc_directory)
    files = _each(storage, "files", "storage", _clc_file)
    links = _each(storage, "links", "storage", _clc_link)
    systemd = _obj(doc.get("systemd", {}), "systemd", {"units"})
    units = _each(systemd, "units", "systemd", _unit)
    return NodeConfig(directories=dirs, files=_restore_sums(files), links=links, units=units)


def parse_ignition(config: dict[str, Any]) -> NodeConfig:
    """Ignition 3.3.0 config (as from render_ignition) -> NodeConfig."""
    doc = _obj(config, "Ignition config", {"ignition", "storage", "systemd"})
    ign = _obj(doc.get("ignition"), "ignition", {"version"})
    if ign.get("version") != IGNITION_VERSION:
        raise ConfigParseError(f"ignition.version: expected {IGNITION_VERSION!r}")
    storage = _obj(doc.get("storage", {}), "storage", {"directories", "files", "links"})
    dirs = _each(storage, "directories", "storage", _ign_directory)
    files = _each(storage, "files", "storage", _ign_file)
    links = _each(storage, "links", "storage", _ign_link)
    systemd = _obj(doc.get("systemd", {}), "systemd", {"units"})
    units = _each(systemd, "units", "systemd", _unit)
    return NodeConfig(directories=dirs, files=files, links=links, units=units)


# --- CLC entries -------------------------------------------------------------------------------


def _clc_directory(v: Any, where: str) -> Directory:
    d = _obj(v, where, {"filesystem", "path", "mode"}, required={"filesystem", "path", "mode"})
    _root_fs(d, where)
    return Directory(path=_path(d, where), mode=_mode(d, where))


def _clc_file(v: Any, where: str) -> File:
    keys = {"filesystem", "path", "mode", "overwrite", "contents"}
    f = _obj(v, where, keys, required=keys)
    _root_fs(f, where)
    _overwrite(f, where)
    c = _obj(f["contents"], f"{where}.contents", {"inline", "remote"})
    if len(c) != 1:
        raise ConfigParseError(f"{where}.contents: expected exactly one of inline or remote")
    path, mode = _path(f, where), _mode(f, where)
    if "inline" in c:
        return File(path=path, mode=mode, inline=_str(c["inline"], f"{where}.contents.inline"))
    r = _obj(c["remote"], f"{where}.contents.remote", {"url"}, required={"url"})
    return File(path=path, mode=mode, remote=Remote(_str(r["url"], f"{where}.contents.remote.url")))


def _clc_link(v: Any, where: str) -> Link:
    keys = {"filesystem", "path", "target", "hard", "overwrite"}
    link = _obj(v, where, keys, required={"filesystem", "path", "target", "overwrite"})
    _root_fs(link, where)
    _overwrite(link, where)
    return Link(
        path=_path(link, where),
        target=_str(link["target"], f"{where}.target"),
        hard=_bool(link.get("hard", False), f"{where}.hard"),
    )


def _root_fs(v: dict[str, Any], where: str) -> None:
    if v["filesystem"] != "root":
        raise ConfigParseError(f"{where}.filesystem: only 'root' is supported")


def _restore_sums(files: tuple[File, ...]) -> tuple[File, ...]:
    guard = next((f for f in files if f.path == PINNED_SUMS_PATH), None)
    if guard is None:
        return files
    try:
        sums = parse_pinned_sums(guard.inline if guard.inline is not None else "")
    except ValueError as exc:
        raise ConfigParseError(str(exc)) from None
    return tuple(
        File(f.path, f.mode, remote=Remote(f.remote.url, sums[f.path]))
        if f.remote is not None and f.path in sums
        else f
        for f in files
    )


# --- Ignition entries --------------------------------------------------------------------------

_HASH = re.compile(r"^sha256-([0-9a-f]{64})$")
_DATA_URL = re.compile(r"^data:([^,]*),(.*)$", re.DOTALL)


def _ign_directory(v: Any, where: str) -> Directory:
    d = _obj(v, where, {"path", "mode"}, required={"path", "mode"})
    return Directory(path=_path(d, where), mode=_mode(d, where))


def _ign_file(v: Any, where: str) -> File:
    keys = {"path", "mode", "overwrite", "contents"}
    f = _obj(v, where, keys, required=keys)
    _overwrite(f, where)
    c = _obj(f["contents"], f"{where}.contents", {"source", "verification"}, required={"source"})
    source = _str(c["source"], f"{where}.contents.source")
    path, mode = _path(f, where), _mode(f, where)
    if source.startswith("data:"):
        if "verification" in c:
            raise ConfigParseError(f"{where}.contents.verification: unexpected on inline contents")
        text = decode_data_url(source, f"{where}.contents.source")
        return File(path=path, mode=mode, inline=text)
    sha256 = None
    if "verification" in c:
        ver = _obj(c["verification"], f"{where}.contents.verification", {"hash"}, {"hash"})
        m = _HASH.match(_str(ver["hash"], f"{where}.contents.verification.hash"))
        if m is None:
            raise ConfigParseError(
                f"{where}.contents.verification.hash: expected 'sha256-<64 lowercase hex>'"
            )
        sha256 = m.group(1)
    return File(path=path, mode=mode, remote=Remote(source, sha256))


def _ign_link(v: Any, where: str) -> Link:
    keys = {"path", "target", "hard", "overwrite"}
    link = _obj(v, where, keys, required={"path", "target", "overwrite"})
    _overwrite(link, where)
    return Link(
        path=_path(link, where),
        target=_str(link["target"], f"{where}.target"),
        hard=_bool(link.get("hard", False), f"{where}.hard"),
    )


def decode_data_url(url: str, where: str = "data URL") -> str:
    """Text of a `data:` URL: `data:,<percent-encoded>` or `data:;base64,<b64>`, UTF-8 only."""
    m = _DATA_URL.match(url)
    if m is None:
        raise ConfigParseError(f"{where}: not a data URL")
    params, payload = m.group(1).split(";"), m.group(2)
    base64_encoded = params[-1] == "base64"
    if base64_encoded:
        params = params[:-1]
    if params[0] not in ("", "text/plain") or any(p.lower() != "charset=utf-8" for p in params[1:]):
        raise ConfigParseError(f"{where}: unsupported data URL media type {m.group(1)!r}")
    try:
        raw = (
            base64.b64decode(payload, validate=True)
            if base64_encoded
            else urllib.parse.unquote_to_bytes(payload)
        )
        return raw.decode("utf-8")
    except ValueError as exc:  # binascii.Error and UnicodeDecodeError are ValueErrors
        raise ConfigParseError(f"{where}: cannot decode: {exc}") from None


# --- shared ------------------------------------------------------------------------------------


def _unit(v: Any, where: str) -> Unit:
    u = _obj(v, where, {"name", "enabled", "mask", "contents", "dropins"}, required={"name"})
    enabled = u.get("enabled")
    dropins = _each(u, "dropins", where, _dropin)
    return Unit(
        name=_str(u["name"], f"{where}.name"),
        enabled=None if enabled is None else _bool(enabled, f"{where}.enabled"),
        mask=_bool(u.get("mask", False), f"{where}.mask"),
        contents=None if "contents" not in u else _str(u["contents"], f"{where}.contents"),
        dropins=dropins,
    )


def _dropin(v: Any, where: str) -> Dropin:
    d = _obj(v, where, {"name", "contents"}, required={"name", "contents"})
    return Dropin(name=_str(d["name"], f"{where}.name"), contents=_str(d["contents"], where))


def _obj(
    v: Any, where: str, allowed: set[str], required: set[str] | frozenset[str] = frozenset()
) -> dict[str, Any]:
    if not isinstance(v, dict):
        raise ConfigParseError(f"{where}: expected a mapping")
    unknown = sorted(str(k) for k in v if k not in allowed)
    if unknown:
        raise ConfigParseError(f"{where}: unsupported key(s) {', '.join(unknown)}")
    missing = sorted(required - v.keys())
    if missing:
        raise ConfigParseError(f"{where}: missing key(s) {', '.join(missing)}")
    return v


def _each(
    parent: dict[str, Any], key: str, where: str, conv: Callable[[Any, str], T]
) -> tuple[T, ...]:
    items = parent.get(key, [])
    if not isinstance(items, list):
        raise ConfigParseError(f"{where}.{key}: expected a list")
    try:
        return tuple(conv(item, f"{where}.{key}[{i}]") for i, item in enumerate(items))
    except ValueError as exc:  # the model's own invariants (absolute paths, one content source)
        raise ConfigParseError(f"{where}.{key}: {exc}") from None


def _overwrite(v: dict[str, Any], where: str) -> None:
    if v["overwrite"] is not True:
        raise ConfigParseError(f"{where}.overwrite: expected true")


def _path(v: dict[str, Any], where: str) -> str:
    path = _str(v["path"], f"{where}.path")
    if not path.startswith("/"):
        raise ConfigParseError(f"{where}.path: must be absolute")
    return path


def _mode(v: dict[str, Any], where: str) -> int:
    m = v["mode"]
    if isinstance(m, bool) or not isinstance(m, int) or not 0 <= m <= 0o7777:
        raise ConfigParseError(f"{where}.mode: expected an integer permission mode")
    return m


def _str(v: Any, where: str) -> str:
    if not isinstance(v, str):
        raise ConfigParseError(f"{where}: expected a string")
    return v


def _bool(v: Any, where: str) -> bool:
    if not isinstance(v, bool):
        raise ConfigParseError(f"{where}: expected true or false")
    return v
