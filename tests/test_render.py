"""Renderers: lossless round trips, equivalence of the three formats, validity, determinism."""

from __future__ import annotations

import importlib
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from crd_fixtures import missing, shared_reference

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
from capi_sysext.render import clc
from capi_sysext.render.butane import render_butane
from capi_sysext.render.clc import ADDITIONAL_CONFIG_MAX, render_clc
from capi_sysext.render.clc_parse import (
    ConfigParseError,
    decode_data_url,
    parse_clc,
    parse_ignition,
)
from capi_sysext.render.ignition import data_url, render_ignition, render_ignition_json
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


def test_clc_render_cache_tells_configs_apart_that_compare_equal() -> None:
    # NamedTuples compare True == 1: the cache must not hand one config the other's text.
    as_bool = NodeConfig(units=(Unit("a.service", enabled=True),))
    as_int = NodeConfig(units=(Unit("a.service", enabled=1),))  # type: ignore[arg-type]
    assert as_bool == as_int
    assert "enabled: true" in render_clc(as_bool)
    assert "enabled: 1" in render_clc(as_int)


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
    cfg = NodeConfig(
        files=(
            File(PINNED_SUMS_PATH, 0o644, inline=format_pinned_sums({IMAGE: SHA})),
            File(IMAGE, 0o644, remote=Remote("https://e/k.raw")),
        )
    )
    for render in (render_clc, render_butane, render_ignition):
        with pytest.raises(RenderError, match="no sha256"):
            render(cfg)


def test_clc_size_limit() -> None:
    cfg = NodeConfig(files=(File("/etc/big", 0o644, inline="x" * ADDITIONAL_CONFIG_MAX),))
    with pytest.raises(RenderError, match="32768"):
        render_clc(cfg)
    with pytest.raises(RenderError, match="32768"):  # a failure is not remembered as a text
        render_clc(cfg)


def test_clc_of_an_equal_config_is_the_same_text_once_rendered() -> None:
    # A fleet renders each distinct node config once; an equal, separately built one (another
    # cluster's) gets the text a fresh render gives.
    first = render_clc(sample())
    assert render_clc(sample()) == first == clc._render(sample())
    changed = sample()._replace(directories=(Directory("/opt/other", 0o755),))
    assert render_clc(changed) == clc._render(changed) != first


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


# --- shared reference, external tools ------------------------------------------------------------


def _schema(version: str) -> Any:
    path = shared_reference() / "ignition" / "schema" / version / "ignition.json"
    if not path.is_file():
        missing(f"{path} (set CAPI_SYSEXT_SHARED to the shared folder)")
    return json.loads(path.read_text("utf-8"))


def _schema_errors(schema: Any, doc: Any) -> list[str]:
    jsonschema = pytest.importorskip("jsonschema")
    validator = jsonschema.Draft4Validator(schema)
    return [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(doc)]


def _ignition_validate(tmp_path: Path, text: str) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("ignition-validate") or "/usr/bin/ignition-validate"
    if not Path(exe).exists():
        missing("ignition-validate (Debian package ignition)")
    cfg = tmp_path / "config.ign"
    cfg.write_text(text, "utf-8")
    return subprocess.run([exe, str(cfg)], capture_output=True, text=True, check=False)


# --- Ignition ------------------------------------------------------------------------------------


def test_ignition_round_trip() -> None:
    cfg = sample()
    assert parse_ignition(render_ignition(cfg)) == cfg
    assert parse_ignition(json.loads(render_ignition_json(cfg))) == cfg


def test_ignition_matches_schema() -> None:
    assert _schema_errors(_schema("v3_3"), render_ignition(sample())) == []


def test_ignition_validate_binary(tmp_path: Path) -> None:
    result = _ignition_validate(tmp_path, render_ignition_json(sample()))
    # Warnings (e.g. about unit syntax) also count: they print even when the exit code is 0.
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


def test_ignition_validate_binary_is_not_vacuous(tmp_path: Path) -> None:
    doc = render_ignition(sample())
    doc["storage"]["files"][0]["contents"]["verification"] = {"hash": "sha256-abc"}
    assert _ignition_validate(tmp_path, json.dumps(doc)).returncode != 0


def test_ignition_json_shape() -> None:
    text = render_ignition_json(sample())
    assert text == render_ignition_json(sample())
    assert text.endswith("}\n")
    assert text == json.dumps(json.loads(text), indent=2, sort_keys=True) + "\n"
    doc = json.loads(text)
    image = next(f for f in doc["storage"]["files"] if f["path"] == IMAGE)
    assert image["contents"]["verification"] == {"hash": f"sha256-{SHA}"}
    assert all(f["overwrite"] is True for f in doc["storage"]["files"] + doc["storage"]["links"])
    assert all("overwrite" not in d for d in doc["storage"]["directories"])


@pytest.mark.parametrize(
    "text", [TRICKY, "", "\n", "a%b", "$HOME ${X} $$", "/\\~-._", "\x00\x7f\r\n", "𝄞 é\u2028"]
)
def test_data_url_byte_for_byte(text: str) -> None:
    url = data_url(text)
    assert decode_data_url(url) == text
    assert "$" not in url
    assert url.isascii()


def test_data_url_accepts_base64_and_rejects_other_media_types() -> None:
    assert decode_data_url("data:;base64,aMOp") == "hé"
    assert decode_data_url("data:text/plain;charset=utf-8,a%20b") == "a b"
    with pytest.raises(ConfigParseError, match="media type"):
        decode_data_url("data:application/gzip;base64,H4sI")
    with pytest.raises(ConfigParseError, match="decode"):
        decode_data_url("data:,%FF")


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d["ignition"].update(version="3.4.0"), "3.3.0"),
        (lambda d: d.update(passwd={}), "unsupported key"),
        (
            lambda d: d["storage"]["files"][3]["contents"]["verification"].update(hash="sha512-a"),
            "sha256",
        ),
        (lambda d: d["storage"]["files"][0].update(overwrite=False), "overwrite"),
        (
            lambda d: d["storage"]["files"][0]["contents"].update(compression="gzip"),
            "unsupported key",
        ),
        (lambda d: d["storage"]["directories"][0].update(mode=True), "mode"),
        (lambda d: d["systemd"]["units"][0].update(mask="yes"), "true or false"),
    ],
)
def test_parse_ignition_rejects(mutate: Any, message: str) -> None:
    doc = render_ignition(sample())
    mutate(doc)
    with pytest.raises(ConfigParseError, match=message):
        parse_ignition(doc)


# --- Butane --------------------------------------------------------------------------------------

_BUTANE_ALLOWED: dict[str, Any] = {
    "variant": str,
    "version": str,
    "storage": {
        "directories": [{"path": str, "mode": int, "overwrite": bool}],
        "files": [
            {
                "path": str,
                "mode": int,
                "overwrite": bool,
                "contents": {"inline": str, "source": str, "verification": {"hash": str}},
            }
        ],
        "links": [{"path": str, "target": str, "hard": bool, "overwrite": bool}],
    },
    "systemd": _CLC_ALLOWED["systemd"],
}


def butane_to_ignition(doc: dict[str, Any]) -> dict[str, Any]:
    """What `butane` does to the subset we emit: inline -> data URL, header -> ignition.version."""
    assert (doc.pop("variant"), doc.pop("version")) == ("flatcar", "1.0.0")
    for f in doc.get("storage", {}).get("files", []):
        if "inline" in f["contents"]:
            f["contents"] = {"source": data_url(f["contents"].pop("inline"))}
    return {"ignition": {"version": "3.3.0"}, **doc}


def test_butane_keys_and_header() -> None:
    text = render_butane(sample())
    assert text.startswith("variant: flatcar\nversion: 1.0.0\n")
    assert "filesystem" not in text
    (doc,) = load_all(text, "butane")
    _walk_allowed(doc, _BUTANE_ALLOWED, "butane")


def test_butane_is_equivalent_to_ignition() -> None:
    (doc,) = load_all(render_butane(sample()), "butane")
    translated = butane_to_ignition(doc)
    assert translated == render_ignition(sample())
    assert parse_ignition(translated) == sample()


def test_butane_deterministic() -> None:
    assert render_butane(sample()) == render_butane(sample())


# --- all three -----------------------------------------------------------------------------------


def test_three_formats_equivalent() -> None:
    cfg = sample()
    (butane,) = load_all(render_butane(cfg), "butane")
    assert (
        parse_clc(render_clc(cfg))
        == parse_ignition(json.loads(render_ignition_json(cfg)))
        == parse_ignition(butane_to_ignition(butane))
        == cfg
    )


def test_special_characters_survive_every_format() -> None:
    texts = [TRICKY, "", "\n\n", " x ", "yes", "~", "0o755", "# c", "a: b", "'q'", '"', "\t"]
    cfg = NodeConfig(
        files=tuple(File(f"/etc/t{i}", 0o644, inline=t) for i, t in enumerate(texts)),
        units=(Unit("t.service", contents=TRICKY, dropins=(Dropin("x.conf", TRICKY),)),),
    )
    (butane,) = load_all(render_butane(cfg), "butane")
    for parsed in (
        parse_clc(render_clc(cfg)),
        parse_ignition(json.loads(render_ignition_json(cfg))),
        parse_ignition(butane_to_ignition(butane)),
    ):
        assert [f.inline for f in parsed.files] == texts
        assert parsed == cfg


def test_renderers_add_no_dollar() -> None:
    cfg = sample()
    dollars_in_model = sum((f.inline or "").count("$") for f in cfg.files) + sum(
        (u.contents or "").count("$") for u in cfg.units
    )
    assert render_clc(cfg).count("$") == dollars_in_model
    assert render_butane(cfg).count("$") == dollars_in_model
    assert "$" not in render_ignition_json(cfg)  # data URLs percent-encode it


def test_ignition_2_3_translation_of_clc_matches_schema() -> None:
    """ct's documented mapping of our CLC subset to Ignition 2.3 passes the 2.3 schema."""
    (clc,) = load_all(render_clc(sample()), "clc")
    storage = clc["storage"]
    for f in storage["files"]:
        c = f["contents"]
        f["contents"] = {"source": c["remote"]["url"] if "remote" in c else data_url(c["inline"])}
    doc = {"ignition": {"version": "2.3.0"}, "storage": storage, "systemd": clc["systemd"]}
    assert _schema_errors(_schema("v2_3"), doc) == []


def test_empty_config() -> None:
    empty = NodeConfig()
    assert parse_clc(render_clc(empty)) == empty
    assert parse_ignition(render_ignition(empty)) == empty
    assert render_butane(empty) == "variant: flatcar\nversion: 1.0.0\n"


@pytest.mark.parametrize(
    "text", ["075585003325", "0644", "0o644", "1.30", "1e3", "yes", "on", "null", "~", "12:30"]
)
def test_number_and_bool_like_strings_stay_strings_for_every_reader(text: str) -> None:
    import yaml

    from capi_sysext import yamlio

    out = yamlio.dump({"v": text})
    assert out != f"v: {text}\n", "must be quoted"
    assert yaml.safe_load(out) == {"v": text}


def test_one_table_of_node_formats_names_every_renderer() -> None:
    """Each row's renderer loads and renders (render-node and render-cluster choose from it)."""
    from capi_sysext.render import MACHINE_FORMATS, NODE_FORMATS

    assert MACHINE_FORMATS == ("butane", "ignition")  # CLC is a CABPK fragment only
    for fmt in NODE_FORMATS.values():
        module, function = fmt.renderer.split(":")
        assert callable(getattr(__import__(module, fromlist=[function]), function)), fmt.name
