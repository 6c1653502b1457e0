"""Node-config helpers shared by the updates tests and the real-sysupdate engine tests."""

from __future__ import annotations

from typing import Any

from capi_sysext.catalog import load_embedded
from capi_sysext.generate import node_config as build_node_config
from capi_sysext.generate import resolve_release
from capi_sysext.inputs import RawInputs
from capi_sysext.model import NodeConfig
from capi_sysext.node import NodeContext
from capi_sysext.specbuild import build_node_spec
from capi_sysext.yamlio import load_file


def node_config(flags: dict[str, Any], role: str = "worker") -> NodeConfig:
    """The node config `render-node` would build from these flags (Kubernetes 1.33 unless set)."""
    node, _ = build_node_spec(RawInputs(flags={"kubernetesVersion": "1.33", **flags}), load_file)
    release = resolve_release(node, load_embedded())
    return build_node_config(NodeContext(node, release, role), None)


def file_text(cfg: NodeConfig, path: str) -> str:
    (f,) = [f for f in cfg.files if f.path == path]
    assert f.inline is not None
    return f.inline


def ini_values(text: str, key: str) -> list[str]:
    return [line.split("=", 1)[1] for line in text.splitlines() if line.startswith(f"{key}=")]
