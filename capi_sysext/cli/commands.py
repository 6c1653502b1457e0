"""Registers every command module with the group. One import line per command module."""

from capi_sysext.cli import validate  # noqa: F401
