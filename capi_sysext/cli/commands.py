"""The command table: command name -> module defining it. Modules load on first use."""

COMMANDS = {
    "apply": "capi_sysext.cli.apply",
    "generate": "capi_sysext.cli.generate",
    "init": "capi_sysext.cli.init",
    "lock": "capi_sysext.cli.lock",
    "mirror": "capi_sysext.cli.mirror",
    "render-cluster": "capi_sysext.cli.render_cluster",
    "render-node": "capi_sysext.cli.render_node",
    "validate": "capi_sysext.cli.validate",
    "versions": "capi_sysext.cli.versions",
}
