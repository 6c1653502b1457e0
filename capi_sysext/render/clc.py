"""Container Linux Config for CABPK's `ignition.containerLinuxConfig.additionalConfig`.

CAPI feeds this through ct v0.9.4 with `strict: true`, where every warning is fatal: only keys from
the CLC spec, `filesystem: root` and an integer `mode` on every file and directory. Modes are
emitted as decimal integers, which every YAML parser reads the same way (YAML 1.1 and 1.2 disagree
on `0644`). CLC verifies only sha512, so remote files carry no hash here; their sha256 travels in
the pinned-sums guard file (model.PINNED_SUMS_PATH), which the node builder pairs with a guard unit.
"""

from __future__ import annotations

from typing import Any

from capi_sysext.errors import RenderError
from capi_sysext.model import Directory, File, Link, NodeConfig
from capi_sysext.render._spec3 import node_tree
from capi_sysext.yamlio import dump

# CABPK's KubeadmConfig rejects a longer additionalConfig (CRD maxLength).
ADDITIONAL_CONFIG_MAX = 32768

ROOT_FS = "root"


# Rendered texts by node config: the clusters of a fleet that share a release, provider and node
# settings share their node configs, so each distinct one is rendered once. Keyed by the tree's
# repr, not the tree: NamedTuple equality takes True for 1 and 1.0, which render differently.
# Bounded; failures are not kept.
_RENDERED: dict[str, str] = {}
_RENDERED_MAX = 64


def render_clc(cfg: NodeConfig) -> str:
    """The model as CLC YAML; raises RenderError if it cannot be expressed faithfully."""
    key = repr(cfg)
    text = _RENDERED.get(key)
    if text is None:
        text = _render(cfg)
        if len(_RENDERED) >= _RENDERED_MAX:
            _RENDERED.clear()
        _RENDERED[key] = text
    return text


def _render(cfg: NodeConfig) -> str:
    if cfg.users:
        # CABPK writes its own passwd section from KubeadmConfig.users (capi.py puts the SSH
        # keys there); a second one in additionalConfig would compete with it.
        raise RenderError("users belong in KubeadmConfig.users, not in the CLC node config")
    doc = node_tree(cfg, _directory, _file, _link)
    text = dump(doc)
    size = len(text.encode("utf-8"))
    if size > ADDITIONAL_CONFIG_MAX:
        raise RenderError(
            f"the CLC node config is {size} bytes; CABPK's additionalConfig allows "
            f"{ADDITIONAL_CONFIG_MAX}"
        )
    return text


def _directory(d: Directory) -> dict[str, Any]:
    return {"filesystem": ROOT_FS, "path": d.path, "mode": d.mode}


def _file(f: File) -> dict[str, Any]:
    contents: dict[str, Any] = (
        {"remote": {"url": f.remote.url}} if f.remote is not None else {"inline": f.inline}
    )
    # overwrite is the 2.x default for files; spelled out so the meaning survives Flatcar's
    # conversion to spec 3 at boot, where the default flips to false.
    return {
        "filesystem": ROOT_FS,
        "path": f.path,
        "mode": f.mode,
        "overwrite": True,
        "contents": contents,
    }


def _link(link: Link) -> dict[str, Any]:
    out: dict[str, Any] = {"filesystem": ROOT_FS, "path": link.path, "target": link.target}
    if link.hard:
        out["hard"] = True
    # We own these paths: replace whatever is there (e.g. a link left by an earlier provisioning).
    out["overwrite"] = True
    return out


__all__ = ["ADDITIONAL_CONFIG_MAX", "RenderError", "render_clc"]
