"""Renderers: the node provisioning model (capi_sysext.model) in CLC, Butane and Ignition form.

NODE_FORMATS is the one table of node formats: each format's renderer and file extension. A new
format is a renderer module plus a row here. Renderers load on first use, so the commands that
only list the choices (every command's --help) do not pay for them.
"""

from importlib import import_module
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from capi_sysext.model import NodeConfig


class NodeFormat(NamedTuple):
    name: str  # the --format value
    extension: str  # of a file holding one node's config
    renderer: str  # "module:function" turning a NodeConfig into text
    machine_config: bool  # a whole machine's first-boot config (not a CABPK fragment)

    def render(self, cfg: "NodeConfig") -> str:
        module, function = self.renderer.split(":")
        text: str = getattr(import_module(module), function)(cfg)
        return text


NODE_FORMATS: dict[str, NodeFormat] = {
    f.name: f
    for f in (
        NodeFormat("clc", "clc.yaml", "capi_sysext.render.clc:render_clc", False),
        NodeFormat("butane", "bu", "capi_sysext.render.butane:render_butane", True),
        NodeFormat("ignition", "ign", "capi_sysext.render.ignition:render_ignition_json", True),
    )
}
FORMATS = tuple(NODE_FORMATS)
# What a machine outside CAPI boots from (render-cluster): CLC needs CABPK around it.
MACHINE_FORMATS = tuple(name for name, f in NODE_FORMATS.items() if f.machine_config)
