"""Registers every command module with the group. One import line per command module."""

from capi_sysext.cli import apply, generate, mirror, render_node, validate, versions  # noqa: F401
