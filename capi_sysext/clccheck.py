"""A strict checker for Container Linux Config (CLC), the YAML dialect of `ct` v0.9.4.

CABPK runs `additionalConfig` through ct; with `strict: false` an unknown key or an unset `mode`
is only a warning in the controller log, and the node silently misses the file. This checker
treats every such warning as an error, plus what ct itself rejects (several content sources,
relative paths, bad unit names, non-sha512 hashes) and the 32 KiB field limit.

The key tables below follow ct's documented configuration specification (doc/configuration.md
at v0.9.4). Paths in issues are relative to the CLC document root (`$.storage.files[0].mode`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from capi_sysext.crdschema import Issue, describe, json_path

MAX_BYTES = 32768  # CABPK's maxLength on additionalConfig

# Spec nodes: a Python type for scalars, a dict for an object (key -> node), a one-element list
# for "list of node", OPEN for an object that takes any keys (etcd and flannel options).
OPEN = "open"
Node = Any

_OWNER = {"id": int, "name": str}
_HASH = {"function": str, "sum": str}
_SOURCE = {"source": str, "verification": {"hash": _HASH}}

_FILE = {
    "filesystem": str,
    "path": str,
    "overwrite": bool,
    "append": bool,
    "contents": {
        "inline": str,
        "local": str,
        "remote": {"compression": str, "url": str, "verification": {"hash": _HASH}},
    },
    "mode": int,
    "user": _OWNER,
    "group": _OWNER,
}
_DIRECTORY = {
    "filesystem": str,
    "path": str,
    "overwrite": bool,
    "mode": int,
    "user": _OWNER,
    "group": _OWNER,
}
_LINK = {
    "filesystem": str,
    "path": str,
    "overwrite": bool,
    "user": _OWNER,
    "group": _OWNER,
    "target": str,
    "hard": bool,
}
_DROPIN = {"name": str, "contents": str}
_USER_CREATE = {
    "uid": int,
    "gecos": str,
    "home_dir": str,
    "no_create_home": bool,
    "primary_group": str,
    "groups": [str],
    "no_user_group": bool,
    "no_log_init": bool,
    "shell": str,
}

SPEC: dict[str, Node] = {
    "ignition": {
        "config": {"append": [_SOURCE], "replace": _SOURCE},
        "timeouts": {"http_response_headers": int, "http_total": int},
        "security": {
            "tls": {"certificate_authorities": [{"source": str, "verification": {"hash": str}}]}
        },
    },
    "storage": {
        "disks": [
            {
                "device": str,
                "wipe_table": bool,
                "partitions": [
                    {
                        "label": str,
                        "number": int,
                        "size": str,
                        "start": str,
                        "type_guid": str,
                        "guid": str,
                    }
                ],
            }
        ],
        "raid": [{"name": str, "level": str, "devices": [str], "spares": int, "options": [str]}],
        "filesystems": [
            {
                "name": str,
                "mount": {
                    "device": str,
                    "format": str,
                    "wipe_filesystem": bool,
                    "label": str,
                    "uuid": str,
                    "options": [str],
                    "create": {"force": bool, "options": [str]},
                },
                "path": str,
            }
        ],
        "files": [_FILE],
        "directories": [_DIRECTORY],
        "links": [_LINK],
    },
    "systemd": {
        "units": [
            {
                "name": str,
                "enable": bool,
                "enabled": bool,
                "mask": bool,
                "contents": str,
                "dropins": [_DROPIN],
            }
        ]
    },
    "networkd": {"units": [{"name": str, "contents": str, "dropins": [_DROPIN]}]},
    "passwd": {
        "users": [
            {
                "name": str,
                "password_hash": str,
                "ssh_authorized_keys": [str],
                **_USER_CREATE,
                "system": bool,
                "create": _USER_CREATE,
            }
        ],
        "groups": [{"name": str, "gid": int, "password_hash": str}],
    },
    "etcd": OPEN,
    "flannel": OPEN,
    "docker": {"flags": [str]},
    "update": {
        "group": str,
        "server": str,
        "pcr_policy_server": str,
        "download_user": str,
        "download_password": str,
        "machine_alias": str,
    },
    "locksmith": {
        "reboot_strategy": str,
        "window_start": str,
        "window_length": str,
        "group": str,
        "etcd_endpoints": str,
        "etcd_cafile": str,
        "etcd_certfile": str,
        "etcd_keyfile": str,
    },
}

_TYPE_NAMES = {str: "string", int: "integer", bool: "boolean"}
UNIT_SUFFIXES = (
    ".service",
    ".socket",
    ".device",
    ".mount",
    ".automount",
    ".swap",
    ".target",
    ".path",
    ".timer",
    ".slice",
    ".scope",
)
NETWORKD_SUFFIXES = (".network", ".netdev", ".link")
URL_SCHEMES = ("http", "https", "tftp", "s3", "data")
_SHA512 = re.compile(r"^[0-9a-fA-F]{128}$")


def _load(text: str) -> tuple[Any, Issue | None]:
    import yaml

    from capi_sysext.yamlio import documents, not_valid_yaml

    # ct reads YAML with go-yaml, where `mode: 0644` is octal 420; YAML 1.1 rules agree. The
    # bounded loader (only plain types, nesting, aliases) as for every input we read.
    try:
        docs = [d for _, _, d in documents(text)]
    except yaml.YAMLError as exc:
        return None, Issue("$", not_valid_yaml(exc))
    if len(docs) > 1:
        return None, Issue("$", f"expected one YAML document, found {len(docs)}")
    return (docs[0] if docs else None), None


def _check_shape(value: Any, node: Node, parts: list[str | int], out: list[Issue]) -> None:
    where = json_path(parts)
    if node is OPEN:
        if not isinstance(value, Mapping):
            out.append(Issue(where, f"must be object, got {describe(value)}"))
        return
    if isinstance(node, dict):
        if not isinstance(value, Mapping):
            out.append(Issue(where, f"must be object, got {describe(value)}"))
            return
        for key, sub in value.items():
            if key not in node:
                out.append(Issue(where, f"unknown field {json.dumps(str(key))}"))
            elif sub is not None:
                _check_shape(sub, node[key], [*parts, key], out)
        return
    if isinstance(node, list):
        if not isinstance(value, list):
            out.append(Issue(where, f"must be array, got {describe(value)}"))
            return
        for i, item in enumerate(value):
            _check_shape(item, node[0], [*parts, i], out)
        return
    ok = isinstance(value, node) and not (node is int and isinstance(value, bool))
    if not ok:
        out.append(Issue(where, f"must be {_TYPE_NAMES[node]}, got {describe(value)}"))


def _items(doc: Mapping[str, Any], section: str, key: str) -> list[tuple[int, Mapping[str, Any]]]:
    block = doc.get(section)
    items = block.get(key) if isinstance(block, Mapping) else None
    if not isinstance(items, list):
        return []
    return [(i, it) for i, it in enumerate(items) if isinstance(it, Mapping)]


def _check_hash(h: Any, parts: list[str | int], out: list[Issue]) -> None:
    if not isinstance(h, Mapping):
        return
    where = json_path(parts)
    fn, total = h.get("function"), h.get("sum")
    if fn != "sha512":
        out.append(
            Issue(
                json_path([*parts, "function"]),
                f'must be "sha512" (the only hash CLC supports), got {describe(fn)}',
            )
        )
    if not isinstance(total, str):
        out.append(Issue(where, 'required field "sum" is missing'))
    elif not _SHA512.match(total):
        out.append(
            Issue(json_path([*parts, "sum"]), "must be 128 hexadecimal digits (a sha512 sum)")
        )


def _check_url(url: Any, parts: list[str | int], out: list[Issue]) -> None:
    if isinstance(url, str):
        scheme = url.split(":", 1)[0] if ":" in url else ""
        if scheme not in URL_SCHEMES:
            out.append(
                Issue(
                    json_path(parts),
                    f"URL scheme must be one of: {', '.join(URL_SCHEMES)}; got {json.dumps(url)}",
                )
            )


def _check_node(
    it: Mapping[str, Any],
    parts: list[str | int],
    filesystems: set[str],
    out: list[Issue],
    *,
    needs_mode: bool,
) -> None:
    where = json_path(parts)
    path = it.get("path")
    if path is None:
        out.append(Issue(where, 'required field "path" is missing'))
    elif isinstance(path, str) and not path.startswith("/"):
        out.append(
            Issue(json_path([*parts, "path"]), f"must be an absolute path, got {json.dumps(path)}")
        )
    fs = it.get("filesystem")
    if isinstance(fs, str) and fs not in filesystems:
        out.append(
            Issue(
                json_path([*parts, "filesystem"]),
                f'filesystem {json.dumps(fs)} is not defined (use "root")',
            )
        )
    if needs_mode:
        mode = it.get("mode")
        if mode is None:
            out.append(Issue(where, 'required field "mode" is missing'))
        elif isinstance(mode, int) and not isinstance(mode, bool):
            if not 0 <= mode <= 0o7777:
                out.append(
                    Issue(json_path([*parts, "mode"]), f"must be between 0 and 07777, got {mode}")
                )
            elif mode > 0o777 and set(str(mode)) <= set("01234567"):
                # 644 written without the leading 0 is 0o1204: sticky bit, no owner read.
                out.append(
                    Issue(
                        json_path([*parts, "mode"]),
                        f"{mode} looks like an octal mode written in decimal; write 0{mode}",
                    )
                )


def _check_semantics(doc: Mapping[str, Any], out: list[Issue]) -> None:
    filesystems = {"root"}
    for _i, fsd in _items(doc, "storage", "filesystems"):
        if isinstance(fsd.get("name"), str):
            filesystems.add(fsd["name"])

    for i, f in _items(doc, "storage", "files"):
        parts: list[str | int] = ["storage", "files", i]
        _check_node(f, parts, filesystems, out, needs_mode=True)
        contents = f.get("contents")
        if isinstance(contents, Mapping):
            given = [k for k in ("inline", "local", "remote") if contents.get(k) is not None]
            if len(given) > 1:
                out.append(
                    Issue(
                        json_path([*parts, "contents"]),
                        f"only one of inline, local, remote may be set; got {', '.join(given)}",
                    )
                )
            if contents.get("local") is not None:
                out.append(
                    Issue(
                        json_path([*parts, "contents", "local"]),
                        "cannot be used through CABPK (ct runs without --files-dir)",
                    )
                )
            remote = contents.get("remote")
            if isinstance(remote, Mapping):
                rparts: list[str | int] = [*parts, "contents", "remote"]
                if remote.get("url") is None:
                    out.append(Issue(json_path(rparts), 'required field "url" is missing'))
                _check_url(remote.get("url"), [*rparts, "url"], out)
                comp = remote.get("compression")
                if comp not in (None, "", "gzip"):
                    out.append(
                        Issue(
                            json_path([*rparts, "compression"]),
                            f'must be "gzip" or empty, got {describe(comp)}',
                        )
                    )
                ver = remote.get("verification")
                if isinstance(ver, Mapping) and ver.get("hash") is not None:
                    _check_hash(ver["hash"], [*rparts, "verification", "hash"], out)
        if f.get("append") is True and f.get("overwrite") is True:
            out.append(Issue(json_path(parts), "append cannot be combined with overwrite: true"))

    for i, d in _items(doc, "storage", "directories"):
        _check_node(d, ["storage", "directories", i], filesystems, out, needs_mode=True)

    for i, link in _items(doc, "storage", "links"):
        parts = ["storage", "links", i]
        _check_node(link, parts, filesystems, out, needs_mode=False)
        if link.get("target") is None:
            out.append(Issue(json_path(parts), 'required field "target" is missing'))

    for section, suffixes in (("systemd", UNIT_SUFFIXES), ("networkd", NETWORKD_SUFFIXES)):
        for i, unit in _items(doc, section, "units"):
            parts = [section, "units", i]
            name = unit.get("name")
            if name is None:
                out.append(Issue(json_path(parts), 'required field "name" is missing'))
            elif isinstance(name, str) and not (
                name.endswith(suffixes) and len(name) > len(name.rsplit(".", 1)[-1]) + 1
            ):
                out.append(
                    Issue(
                        json_path([*parts, "name"]),
                        f"must end with one of {', '.join(suffixes)}; got {json.dumps(name)}",
                    )
                )
            dropins = unit.get("dropins")
            for j, drop in enumerate(dropins if isinstance(dropins, list) else []):
                if not isinstance(drop, Mapping):
                    continue
                dname = drop.get("name")
                dparts: list[str | int] = [*parts, "dropins", j]
                if dname is None:
                    out.append(Issue(json_path(dparts), 'required field "name" is missing'))
                elif isinstance(dname, str) and (not dname.endswith(".conf") or dname == ".conf"):
                    out.append(
                        Issue(
                            json_path([*dparts, "name"]),
                            f'must end with ".conf", got {json.dumps(dname)}',
                        )
                    )

    for section, key in (("passwd", "users"), ("passwd", "groups")):
        for i, entry in _items(doc, section, key):
            if entry.get("name") is None:
                out.append(Issue(json_path([section, key, i]), 'required field "name" is missing'))

    ign = doc.get("ignition")
    config = ign.get("config") if isinstance(ign, Mapping) else None
    if isinstance(config, Mapping):
        sources: list[tuple[list[str | int], Any]] = []
        app = config.get("append")
        if isinstance(app, list):
            sources += [(["ignition", "config", "append", i], s) for i, s in enumerate(app)]
        if config.get("replace") is not None:
            sources.append((["ignition", "config", "replace"], config["replace"]))
        for parts, src in sources:
            if not isinstance(src, Mapping):
                continue
            if src.get("source") is None:
                out.append(Issue(json_path(parts), 'required field "source" is missing'))
            _check_url(src.get("source"), [*parts, "source"], out)
            ver = src.get("verification")
            if isinstance(ver, Mapping) and ver.get("hash") is not None:
                _check_hash(ver["hash"], [*parts, "verification", "hash"], out)

    lock = doc.get("locksmith")
    if isinstance(lock, Mapping):
        strategy = lock.get("reboot_strategy")
        if strategy is not None and strategy not in ("reboot", "etcd-lock", "off"):
            out.append(
                Issue(
                    "$.locksmith.reboot_strategy",
                    f"must be one of: reboot, etcd-lock, off; got {describe(strategy)}",
                )
            )
        if (lock.get("window_start") is None) != (lock.get("window_length") is None):
            out.append(Issue("$.locksmith", "window_start and window_length must be set together"))


def check_clc(text: str) -> list[Issue]:
    """All problems of one CLC document, sorted by path; [] when ct would accept it silently."""
    out: list[Issue] = []
    size = len(text.encode("utf-8"))
    if size > MAX_BYTES:
        out.append(Issue("$", f"is {size} bytes; the limit is {MAX_BYTES} bytes (32 KiB)"))
    doc, err = _load(text)
    if err is not None:
        return [*out, err]
    if doc is None:
        return out  # an empty additionalConfig merges nothing; ct accepts it
    if not isinstance(doc, Mapping):
        return [*out, Issue("$", f"must be object, got {describe(doc)}")]
    _check_shape(doc, SPEC, [], out)
    _check_semantics(doc, out)
    return sorted(set(out))
