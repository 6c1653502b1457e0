"""Native Ignition spec 3.3.0 JSON: what Butane `variant: flatcar` 1.0.0 would produce.

Inline contents become `data:,<text>` URLs where the text's UTF-8 bytes are percent-encoded except
RFC 3986 unreserved characters (`A-Z a-z 0-9 - . _ ~`). That is deterministic, byte-exact for any
text (newlines, quotes, unicode, trailing spaces), and leaves no `$` in the output for
clusterctl/Flux envsubst to eat. Unlike Butane we never gzip: readable beats a few bytes here.

JSON: object keys sorted, lists in model order (the model builder sorts them), two-space indent,
trailing newline; same model, same bytes.
"""

from __future__ import annotations

import json
import urllib.parse
from typing import Any

from capi_sysext.model import NodeConfig
from capi_sysext.render._spec3 import spec3_tree

IGNITION_VERSION = "3.3.0"


def data_url(text: str) -> str:
    """`data:` URL carrying `text` exactly (see the module docstring for the encoding)."""
    return "data:," + urllib.parse.quote(text, safe="", encoding="utf-8", errors="strict")


def render_ignition(cfg: NodeConfig) -> dict[str, Any]:
    """The model as an Ignition 3.3.0 config (plain dicts and lists)."""
    doc: dict[str, Any] = {"ignition": {"version": IGNITION_VERSION}}
    doc.update(spec3_tree(cfg, lambda text: {"source": data_url(text)}, "sshAuthorizedKeys"))
    return doc


def render_ignition_json(cfg: NodeConfig) -> str:
    """render_ignition serialized deterministically."""
    return json.dumps(render_ignition(cfg), indent=2, sort_keys=True, ensure_ascii=True) + "\n"
