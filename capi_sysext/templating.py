"""Text artifacts (unit files, drop-ins) from jinja2 templates in templates/.

StrictUndefined turns a missing variable into an error instead of an empty string, and values reach
unit files only through filters that escape for systemd, never by pasting.
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Any

from capi_sysext.resources import data_dir

if TYPE_CHECKING:
    import jinja2


def systemd_quote(value: str) -> str:
    """One Exec= argument: double-quoted, systemd specifier and variable expansion escaped."""
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    escaped = escaped.replace("%", "%%").replace("$", "$$")
    return f'"{escaped}"'


def systemd_value(value: str) -> str:
    """A plain unit-file value (paths, descriptions): no newlines, specifiers escaped."""
    if "\n" in value:
        raise ValueError(f"unit file values cannot contain newlines: {value!r}")
    return value.replace("%", "%%")


@cache
def _env() -> jinja2.Environment:
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(data_dir("templates"))),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,
    )
    env.filters["systemd_quote"] = systemd_quote
    env.filters["systemd_value"] = systemd_value
    return env


def render(name: str, **values: Any) -> str:
    return _env().get_template(name).render(**values)
