"""The command line: a thin click layer over the core.

Each command module turns options into one typed input object, calls the core and prints what it
returns. This package is the one boundary where domain errors become messages and exit codes.
"""

from __future__ import annotations

import sys
from importlib import import_module
from typing import Any

import click

from capi_sysext import __version__
from capi_sysext.errors import CapiSysextError


class _Group(click.Group):
    """Loads a command's module only when that command runs: `generate` must not pay for the
    imports of `apply` or `validate` (start-up time is a product requirement)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        from capi_sysext.cli.commands import COMMANDS

        return sorted(set(super().list_commands(ctx)) | set(COMMANDS))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        from capi_sysext.cli.commands import COMMANDS

        if cmd_name not in self.commands and cmd_name in COMMANDS:
            import_module(COMMANDS[cmd_name])  # its @cli.command decorator registers it
        return super().get_command(ctx, cmd_name)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except CapiSysextError as exc:
            report_error(exc)
            ctx.exit(exc.exit_code)
        except BrokenPipeError:
            # `capi-sysext generate ... | head` must not print a traceback.
            sys.stderr.close()
            ctx.exit(1)


def report_error(exc: CapiSysextError) -> None:
    problems = exc.problems
    if len(problems) == 1:
        click.echo(f"error: {problems[0]}", err=True)
        return
    click.echo(f"error: {len(problems)} problems:", err=True)
    for p in problems:
        click.echo(f"  - {p}", err=True)


def warn(message: str) -> None:
    click.echo(f"warning: {message}", err=True)


def note(message: str) -> None:
    click.echo(f"note: {message}", err=True)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="capi-sysext")
def cli() -> None:
    """Cluster API clusters of stock Flatcar nodes that pull Kubernetes as a systemd-sysext."""


def utf8_streams() -> None:
    """Output is UTF-8 whatever the locale says (LANG=C, PYTHONIOENCODING=ascii): the bytes of
    `generate` must not depend on the environment. Messages on stderr never fail to print."""
    for stream, errors in ((sys.stdout, "strict"), (sys.stderr, "backslashreplace")):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(encoding="utf-8", errors=errors)


def main() -> None:
    utf8_streams()
    cli(prog_name="capi-sysext")
