"""The writer interface and the one serializer every output mode shares."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

from capi_sysext import yamlio

if TYPE_CHECKING:
    from capi_sysext.generate import GenerateResult


class Output(NamedTuple):
    """One cluster in one output mode.

    `shared` is what every cluster of a fleet has in common (a ClusterClass and its templates):
    a fleet writes it once; `own` is this cluster's. A single `generate` writes both, shared
    first. `header` lines become a leading YAML comment (no '#'; the serializer adds it).
    """

    own: list[dict[str, Any]]
    shared: tuple[dict[str, Any], ...] = ()
    header: tuple[str, ...] = ()


class Writer(Protocol):
    name: str

    def write(self, result: GenerateResult) -> Output: ...


def to_text(documents: list[dict[str, Any]], header: tuple[str, ...] = ()) -> str:
    """Serialize through yamlio (quoting safe for every YAML reader); header as comments."""
    comment = "".join(f"# {line}".rstrip() + "\n" for line in header)
    return comment + yamlio.dump_all(documents)


def single_file(output: Output) -> str:
    return to_text([*output.shared, *output.own], output.header)
