"""--list-variables output."""

from __future__ import annotations

import click

from capi_sysext import clouds, features, yamlio
from capi_sysext.errors import InputError, Problem
from capi_sysext.inputs import RawInputs, layer, resolve
from capi_sysext.spec import describe_variables
from capi_sysext.specbuild import PROVIDER_VARIABLE, cluster_variables, feature_variables


def print_variables(raw: RawInputs) -> None:
    layered = layer(raw, yamlio.load_file)
    values, problems = resolve([PROVIDER_VARIABLE], layered)
    if problems or values["provider"] is None:
        raise InputError(
            [
                *layered.problems,  # e.g. the unreadable values file that named the provider
                Problem(
                    "--list-variables needs the provider",
                    f"add --provider ({'|'.join(clouds.NAMES)})",
                ),
            ]
        )
    provider = clouds.get(values["provider"])
    rows = describe_variables(cluster_variables(provider.name))
    click.echo(f"{provider.title}: {provider.prerequisites}")
    # What the chosen features need too (e.g. the Helm add-on provider); a bad value falls back to
    # its default here, `generate` reports it.
    feature_values, _ = resolve(feature_variables(), layered)
    for feature in features.all_features():
        for line in feature.prerequisites(feature.settings(feature_values)):
            click.echo(f"  also: {line}")
    for required in (True, False):
        click.echo("\nRequired:" if required else "\nOptional:")
        for r in (r for r in rows if r["required"] == required):
            ways = ", ".join(w for w in (r["flag"], r["env"] and f"${r['env']}") if w)
            default = "" if required else f"  [default: {_fmt(r['default'])}]"
            choices = f"  ({'|'.join(r['choices'])})" if r["choices"] else ""
            click.echo(f"  {r['key']:<34} {ways}")
            click.echo(f"      {r['help']}{choices}{default}")


def _fmt(value: object) -> str:
    if value in (None, ()):
        return "unset"
    return str(value)
