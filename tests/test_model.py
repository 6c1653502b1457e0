"""The node provisioning model's own rules: file contents, unique paths, merging units."""

from __future__ import annotations

import pytest

from capi_sysext.model import Dropin, File, Link, NodeConfig, NodeConfigBuilder, Remote, Unit


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({}, "exactly one of inline or remote"),
        ({"inline": "x", "remote": Remote("https://e/x")}, "exactly one of inline or remote"),
    ],
)
def test_a_file_has_exactly_one_source(kwargs: dict[str, object], needle: str) -> None:
    with pytest.raises(ValueError, match=needle):
        File("/etc/x", 0o644, **kwargs)  # type: ignore[arg-type]


def test_file_paths_are_absolute() -> None:
    with pytest.raises(ValueError, match="paths must be absolute"):
        File("etc/x", 0o644, inline="x")


def test_records_compare_by_value() -> None:
    assert File("/etc/x", 0o644, inline="x") == File("/etc/x", 0o644, inline="x")
    assert File("/etc/x", 0o644, inline="x") != File("/etc/x", 0o600, inline="x")


def test_builder_refuses_two_writers_of_one_path() -> None:
    b = NodeConfigBuilder()
    b.file(File("/etc/x", 0o644, inline="a"))
    with pytest.raises(ValueError, match="two contributions write /etc/x"):
        b.link(Link("/etc/x", "/etc/y"))


def test_builder_merges_units_without_overriding() -> None:
    b = NodeConfigBuilder()
    b.unit(Unit("a.service", enabled=True, dropins=(Dropin("20-b.conf", "B"),)))
    b.unit(Unit("a.service", mask=False, dropins=(Dropin("10-a.conf", "A"),)))
    (unit,) = b.build().units
    assert unit.enabled is True
    assert [d.name for d in unit.dropins] == ["10-a.conf", "20-b.conf"]  # sorted: stable output
    with pytest.raises(ValueError, match="disagree on enabling"):
        b.unit(Unit("a.service", enabled=False))
    with pytest.raises(ValueError, match=r"drop-in a\.service/10-a\.conf"):
        b.unit(Unit("a.service", dropins=(Dropin("10-a.conf", "again"),)))


def test_build_is_independent_of_contribution_order() -> None:
    parts = [
        NodeConfig(files=(File("/etc/b", 0o644, inline="b"),)),
        NodeConfig(files=(File("/etc/a", 0o644, inline="a"),), units=(Unit("z.service"),)),
    ]
    one, two = NodeConfigBuilder(), NodeConfigBuilder()
    for p in parts:
        one.add(p)
    for p in reversed(parts):
        two.add(p)
    assert one.build() == two.build()
