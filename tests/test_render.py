"""Renderers: lossless round trips, equivalence of the three formats, validity, determinism."""

from __future__ import annotations

import importlib
from typing import Any

import pytest

from capi_sysext.errors import RenderError
from capi_sysext.model import (
    PINNED_SUMS_PATH,
    Directory,
    Dropin,
    File,
    Link,
    NodeConfig,
    Remote,
    Unit,
    format_pinned_sums,
)
from capi_sysext.render.clc import ADDITIONAL_CONFIG_MAX, render_clc
from capi_sysext.render.clc_parse import ConfigParseError, parse_clc
from capi_sysext.yamlio import load_all

SHA = "0123456789abcdef" * 4
IMAGE = "/opt/extensions/kubernetes/kubernetes-v1.33.2-x86-64.raw"
TRICKY = (
    "quote \" and ' $HOME ${NODE} $$ 100% %24 \\n\n  indented\nunicode é ☃ 𝄞\ttab \ntrailing  \n\n"
)


def sample() -> NodeConfig:
    return NodeConfig(
        directories=(Directory("/opt/extensions/kubernetes", 0o755),),
        files=(
            File(PINNED_SUMS_PATH, 0o644, inline=format_pinned_sums({IMAGE: SHA})),
            File("/etc/sysupdate.d/noop.conf", 0o644, inline="[Transfer]\nVerify=false\n"),
            File("/opt/bin/fetch-node-name", 0o755, inline="#!/bin/bash\nset -euo pipefail\n"),
            File(IMAGE, 0o644, remote=Remote("https://extensions.flatcar.org/k.raw", SHA)),
            File("/opt/extensions/other.raw", 0o644, remote=Remote("https://example.org/o.raw")),
            File("/etc/tricky", 0o600, inline=TRICKY),
        ),
        links=(Link("/etc/extensions/kubernetes.raw", IMAGE),),
        units=(
            Unit("locksmithd.service", mask=True),
            Unit(
                "sysext-guard.service",
                enabled=True,
                contents="[Unit]\nBefore=systemd-sysext.service\n[Install]\nWantedBy=sysinit.target\n",
            ),
            Unit(
                "systemd-sysupdate.service",
                dropins=(Dropin("kubernetes.conf", "[Service]\nExecStartPre=/usr/bin/true\n"),),
            ),
            Unit("systemd-sysupdate.timer", enabled=False),
        ),
    )


# --- CLC -----------------------------------------------------------------------------------------

# The part of the CLC spec (ct v0.9.4, doc/configuration.md) that the model can use. Keys map to
# the allow-list of their value: a dict for objects, a one-element list for lists of objects,
# a type for scalars.
_CLC_ALLOWED: dict[str, Any] = {
    "storage": {
        "directories": [{"filesystem": str, "path": str, "mode": int, "overwrite": bool}],
        "files": [
            {
                "filesystem": str,
                "path": str,
                "mode": int,
                "overwrite": bool,
                "contents": {"inline": str, "remote": {"url": str}},
            }
        ],
        "links": [{"filesystem": str, "path": str, "target": str, "hard": bool, "overwrite": bool}],
    },
    "systemd": {
        "units": [
            {
                "name": str,
                "enabled": bool,
                "mask": bool,
                "contents": str,
                "dropins": [{"name": str, "contents": str}],
            }
        ]
    },
}


def _walk_allowed(value: Any, allowed: Any, where: str) -> None:
    if isinstance(allowed, dict):
        assert isinstance(value, dict), where
        for k, v in value.items():
            assert k in allowed, f"{where}.{k} is not a CLC key"
            _walk_allowed(v, allowed[k], f"{where}.{k}")
    elif isinstance(allowed, list):
        assert isinstance(value, list), where
        for i, item in enumerate(value):
            _walk_allowed(item, allowed[0], f"{where}[{i}]")
    else:
        assert isinstance(value, allowed), f"{where}: {value!r} is not {allowed.__name__}"
        if allowed is int:
            assert not isinstance(value, bool), where


def assert_strict_clc(text: str) -> None:
    """What ct strict mode needs; replaced by capi_sysext.clccheck once that lands."""
    assert len(text.encode()) < ADDITIONAL_CONFIG_MAX
    (doc,) = load_all(text, "clc")
    _walk_allowed(doc, _CLC_ALLOWED, "clc")
    storage = doc.get("storage", {})
    for kind in ("files", "directories", "links"):
        for entry in storage.get(kind, []):
            assert entry["filesystem"] == "root", entry
            if kind != "links":
                assert type(entry["mode"]) is int, entry
    try:
        clccheck = importlib.import_module("capi_sysext.clccheck")
    except ModuleNotFoundError:
        return
    assert clccheck.check_clc(text) == []


def test_clc_round_trip() -> None:
    cfg = sample()
    assert parse_clc(render_clc(cfg)) == cfg


def test_clc_is_strict_and_carries_no_hash() -> None:
    text = render_clc(sample())
    assert_strict_clc(text)
    assert "verification" not in text
    assert "sha512" not in text


def test_clc_modes_are_decimal_ints() -> None:
    text = render_clc(sample())
    assert "mode: 420\n" in text
    assert "mode: 493\n" in text
    assert "mode: 0" not in text


def test_clc_readable_by_a_yaml_1_1_parser() -> None:
    # ct reads YAML with a Go YAML 1.1-style parser; PyYAML is the nearest stand-in here.
    yaml = pytest.importorskip("yaml")
    text = render_clc(sample())
    assert yaml.safe_load(text) == load_all(text, "clc")[0]


def test_clc_deterministic() -> None:
    assert render_clc(sample()) == render_clc(sample())


def test_clc_special_characters_byte_for_byte() -> None:
    cfg = NodeConfig(
        files=tuple(
            File(f"/etc/t{i}", 0o644, inline=s)
            for i, s in enumerate(
                [TRICKY, "", "\n", "no newline", "yes", "0644", "- a: b", "  lead", "a\r\nb\x7f"]
            )
        )
    )
    parsed = parse_clc(render_clc(cfg))
    assert [f.inline for f in parsed.files] == [f.inline for f in cfg.files]


def test_clc_introduces_no_envsubst_sequences() -> None:
    cfg = NodeConfig(files=(File("/etc/a", 0o644, inline="plain\n"),))
    assert "$" not in render_clc(cfg)


def test_clc_refuses_unpinned_sha256() -> None:
    cfg = NodeConfig(files=(File(IMAGE, 0o644, remote=Remote("https://e/k.raw", SHA)),))
    with pytest.raises(RenderError, match="not listed"):
        render_clc(cfg)
    other = "f" * 64
    cfg = NodeConfig(
        files=(
            File(PINNED_SUMS_PATH, 0o644, inline=format_pinned_sums({IMAGE: other})),
            File(IMAGE, 0o644, remote=Remote("https://e/k.raw", SHA)),
        )
    )
    with pytest.raises(RenderError, match="differs"):
        render_clc(cfg)


def test_clc_size_limit() -> None:
    cfg = NodeConfig(files=(File("/etc/big", 0o644, inline="x" * ADDITIONAL_CONFIG_MAX),))
    with pytest.raises(RenderError, match="32768"):
        render_clc(cfg)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("passwd: {}\n", "unsupported key"),
        (
            "storage:\n  files:\n  - {filesystem: oem, path: /a, mode: 420, overwrite: true,"
            " contents: {inline: x}}\n",
            "only 'root'",
        ),
        (
            "storage:\n  files:\n  - {filesystem: root, path: /a, mode: '420', overwrite: true,"
            " contents: {inline: x}}\n",
            "mode",
        ),
        (
            "storage:\n  files:\n  - {filesystem: root, path: /a, mode: 420, overwrite: true,"
            " contents: {remote: {url: u, verification: {hash: {function: sha512, sum: a}}}}}\n",
            "verification",
        ),
        (
            "storage:\n  files:\n  - {filesystem: root, path: /a, mode: 420,"
            " contents: {inline: x}}\n",
            "missing key",
        ),
        (
            "storage:\n  links:\n  - {filesystem: root, path: a, target: /b, overwrite: true}\n",
            "absolute",
        ),
        ("systemd:\n  units:\n  - {name: a.service, enable: true}\n", "unsupported key"),
        (
            "storage:\n  files:\n  - {filesystem: root, path: " + PINNED_SUMS_PATH + ", mode: 420,"
            " overwrite: true, contents: {inline: 'nonsense'}}\n",
            "expected",
        ),
    ],
)
def test_parse_clc_rejects(text: str, message: str) -> None:
    with pytest.raises(ConfigParseError, match=message):
        parse_clc(text)
