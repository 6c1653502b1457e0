"""Renderers: the node provisioning model (capi_sysext.model) in CLC, Butane and Ignition form."""

FORMATS = ("clc", "butane", "ignition")
