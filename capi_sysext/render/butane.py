"""Butane `variant: flatcar`, `version: 1.0.0` (translates to Ignition 3.3.0, as render_ignition).

Remote files use `contents.source` (+ `verification.hash: sha256-<hex>` when known), inline ones
`contents.inline`; no `filesystem` key (that is CLC). Modes are decimal integers: Butane only
warns about decimal modes that look like mistyped octal (e.g. 644), never about 420 or 493.
"""

from __future__ import annotations

from typing import Any

from capi_sysext.model import NodeConfig
from capi_sysext.render._spec3 import spec3_tree
from capi_sysext.yamlio import dump

BUTANE_VARIANT = "flatcar"
BUTANE_VERSION = "1.0.0"


def render_butane(cfg: NodeConfig) -> str:
    """The model as Butane YAML."""
    doc: dict[str, Any] = {"variant": BUTANE_VARIANT, "version": BUTANE_VERSION}
    doc.update(spec3_tree(cfg, lambda text: {"inline": text}, "ssh_authorized_keys"))
    return dump(doc)
