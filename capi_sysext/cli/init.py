"""`capi-sysext init --provider P`: a commented values file listing every input."""

from __future__ import annotations

import click

from capi_sysext import clouds
from capi_sysext.cli import cli


@cli.command()
@click.option("--provider", required=True, type=click.Choice(clouds.NAMES))
@click.option(
    "-o", "--output", default="values.yaml", show_default=True, type=click.Path(dir_okay=False)
)
@click.option("--force", is_flag=True, help="Overwrite an existing file.")
def init(provider: str, output: str, force: bool) -> None:
    """Write a values file with every input: required first, defaults as comments."""
    from pathlib import Path

    from capi_sysext.output import check_writable, write_atomic
    from capi_sysext.roundtrip import init_values
    from capi_sysext.spec import describe_variables
    from capi_sysext.specbuild import cluster_variables

    p = clouds.get(provider)
    text = init_values(
        provider, describe_variables(cluster_variables(provider)), p.title, p.prerequisites
    )
    if output == "-":
        click.echo(text, nl=False)
        return
    target = Path(output)
    check_writable(target, force)
    write_atomic(target, text)
    click.echo(
        f"wrote {target}; fill in the required values, then: "
        f"capi-sysext generate --values {target}",
        err=True,
    )
