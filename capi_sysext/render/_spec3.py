"""The storage/systemd tree shared by Butane flatcar 1.0.0 and Ignition 3.3.0.

The two differ only in how inline contents are spelled (Butane `inline`, Ignition `data:` URL),
so both renderers build from here and cannot drift apart.

`overwrite: true` on files and links: Ignition 3 defaults to false and then fails the boot if the
path already exists. These are paths the node config owns, so on a re-provisioned disk or a
re-run (e.g. `flatcar-reset`) we want our version written, not a failed first boot. Directories
keep the default: overwriting one would delete its contents.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from capi_sysext.model import Directory, File, Link, NodeConfig, Unit
from capi_sysext.render._pins import pinned_sums

InlineSpelling = Callable[[str], dict[str, Any]]


def spec3_tree(cfg: NodeConfig, inline: InlineSpelling) -> dict[str, Any]:
    """`storage` and `systemd` sections (omitted when empty), Butane key order."""
    pinned_sums(cfg)  # same consistency rule as CLC, so all three outputs carry the same sums
    doc: dict[str, Any] = {}
    storage: dict[str, Any] = {}
    if cfg.directories:
        storage["directories"] = [_directory(d) for d in cfg.directories]
    if cfg.files:
        storage["files"] = [_file(f, inline) for f in cfg.files]
    if cfg.links:
        storage["links"] = [_link(link) for link in cfg.links]
    if storage:
        doc["storage"] = storage
    if cfg.units:
        doc["systemd"] = {"units": [unit_tree(u) for u in cfg.units]}
    return doc


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
