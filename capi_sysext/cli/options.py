"""Click options generated from the Variable tables, so flags, help and precedence never drift."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import click

from capi_sysext.inputs import RawInputs, Variable

if TYPE_CHECKING:
    from pathlib import Path

F = TypeVar("F", bound=Callable[..., Any])


def param_name(var: Variable) -> str:
    assert var.flag is not None
    # "--sysupdate/--no-sysupdate" is a boolean flag pair named after its first half.
    return var.flag.split("/")[0].lstrip("-").replace("-", "_")


def variable_options(variables: Sequence[Variable]) -> Callable[[F], F]:
    """One string option per flagged variable; parsing happens in the core, which reports every
    problem at once instead of click stopping at the first."""

    def decorate(func: F) -> F:
        for var in reversed([v for v in variables if v.flag]):
            extra = f" [default: {var.default}]" if var.default not in (None, ()) else ""
            choices = f" ({'|'.join(var.choices)})" if var.choices else ""
            env = f" [env: {var.env}]" if var.env else ""
            assert var.flag is not None
            help_text = f"{var.help}{choices}{extra}{env}"
            if "/" in var.flag:  # boolean pair; None when absent so other sources still apply
                func = click.option(var.flag, param_name(var), default=None, help=help_text)(func)
                continue
            func = click.option(
                var.flag, param_name(var), default=None, metavar="TEXT", help=help_text
            )(func)
        return func

    return decorate


def values_options(func: F) -> F:
    func = click.option(
        "--set",
        "sets",
        multiple=True,
        metavar="KEY=VALUE",
        help="Set a values key (dotted), repeatable; beats values files.",
    )(func)
    return click.option(
        "--values",
        "-f",
        "values_files",
        multiple=True,
        metavar="FILE",
        type=click.Path(dir_okay=False),
        help="YAML values file, repeatable; later files win.",
    )(func)


def raw_inputs(variables: Sequence[Variable], params: dict[str, Any]) -> RawInputs:
    return RawInputs(
        flags={v.key: params.get(param_name(v)) for v in variables if v.flag},
        sets=params.get("sets", ()),
        values_files=params.get("values_files", ()),
        env=dict(os.environ),
    )


def output_options(help_text: str) -> Callable[[F], F]:
    """-o/--output FILE|DIR and --force, the same for every command that writes a result."""

    def decorate(func: F) -> F:
        func = click.option("--force", is_flag=True, help="Overwrite an existing output file.")(
            func
        )
        return click.option("-o", "--output", type=click.Path(), default=None, help=help_text)(func)

    return decorate


def output_target(output: str | None, default_name: str, force: bool) -> Path | None:
    """Where to write (None: stdout); refuses an existing file before the catalog or rendering."""
    if output is None:
        return None
    from capi_sysext.output import check_writable, output_path

    target = output_path(output, default_name)
    check_writable(target, force)
    return target


def emit(text: str, target: Path | None) -> None:
    if target is None:
        try:
            sys.stdout.write(text)
            sys.stdout.flush()  # a full disk (stdout > /dev/full) shows here, not at exit
        except BrokenPipeError:
            raise  # `| head`: the CLI boundary exits quietly
        except OSError as exc:
            from capi_sysext.output import OutputError

            raise OutputError(f"cannot write to stdout: {exc.strerror or exc}") from None
        return
    from capi_sysext.output import write_output

    # force=True: output_target already refused an existing file without --force; re-checking
    # catches a FIFO, device or symlink that appeared while rendering.
    write_output(target, text, force=True)
    click.echo(f"wrote {target}", err=True)
