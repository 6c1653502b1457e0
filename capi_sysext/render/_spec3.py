"""The storage/systemd tree shared by Butane flatcar 1.0.0 and Ignition 3.3.0.

The two differ only in how inline contents are spelled (Butane `inline`, Ignition `data:` URL),
so both renderers build from here and cannot drift apart. CLC (render/clc.py) shares the
section layout (node_tree) and the unit spelling (unit_tree).

`overwrite: true` on files and links: Ignition 3 defaults to false and then fails the boot if the
path already exists. These are paths the node config owns, so on a re-provisioned disk or a
re-run (e.g. `flatcar-reset`) we want our version written, not a failed first boot. Directories
keep the default: overwriting one would delete its contents.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from capi_sysext.model import Directory, File, Link, NodeConfig, Unit, User
from capi_sysext.render._pins import pinned_sums

InlineSpelling = Callable[[str], dict[str, Any]]


def node_tree(
    cfg: NodeConfig,
    directory: Callable[[Directory], dict[str, Any]],
    file: Callable[[File], dict[str, Any]],
    link: Callable[[Link], dict[str, Any]],
) -> dict[str, Any]:
    """`storage` and `systemd` sections (omitted when empty) in the key order of all three formats;
    each format spells directories, files and links its own way."""
    pinned_sums(cfg)  # one consistency rule for every format, so all outputs carry the same sums
    doc: dict[str, Any] = {}
    storage: dict[str, Any] = {}
    if cfg.directories:
        storage["directories"] = [directory(d) for d in cfg.directories]
    if cfg.files:
        storage["files"] = [file(f) for f in cfg.files]
    if cfg.links:
        storage["links"] = [link(x) for x in cfg.links]
    if storage:
        doc["storage"] = storage
    if cfg.units:
        doc["systemd"] = {"units": [unit_tree(u) for u in cfg.units]}
    return doc


def spec3_tree(cfg: NodeConfig, inline: InlineSpelling, keys_field: str) -> dict[str, Any]:
    """The spec 3 tree (Butane key order); only inline contents and the spelling of the SSH key
    list (Butane `ssh_authorized_keys`, Ignition `sshAuthorizedKeys`) differ between the two."""
    doc: dict[str, Any] = {}
    if cfg.users:
        doc["passwd"] = {"users": [_user(u, keys_field) for u in cfg.users]}
    doc.update(node_tree(cfg, _directory, lambda f: _file(f, inline), _link))
    return doc


def _user(u: User, keys_field: str) -> dict[str, Any]:
    out: dict[str, Any] = {"name": u.name}
    if u.ssh_authorized_keys:
        out[keys_field] = list(u.ssh_authorized_keys)
    return out


def _directory(d: Directory) -> dict[str, Any]:
    return {"path": d.path, "mode": d.mode}


def _file(f: File, inline: InlineSpelling) -> dict[str, Any]:
    contents: dict[str, Any]
    if f.remote is not None:
        contents = {"source": f.remote.url}
        if f.remote.sha256 is not None:
            contents["verification"] = {"hash": f"sha256-{f.remote.sha256}"}
    else:
        contents = inline(f.inline or "")
    return {"path": f.path, "mode": f.mode, "overwrite": True, "contents": contents}


def _link(link: Link) -> dict[str, Any]:
    out: dict[str, Any] = {"path": link.path, "target": link.target}
    if link.hard:
        out["hard"] = True
    out["overwrite"] = True
    return out


def unit_tree(u: Unit) -> dict[str, Any]:
    """A unit as spec 3 and CLC (2.x) both spell it: same keys in both."""
    out: dict[str, Any] = {"name": u.name}
    if u.enabled is not None:
        out["enabled"] = u.enabled
    if u.mask:
        out["mask"] = True
    if u.contents is not None:
        out["contents"] = u.contents
    if u.dropins:
        out["dropins"] = [{"name": d.name, "contents": d.contents} for d in u.dropins]
    return out
