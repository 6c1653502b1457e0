"""Issue #13, classes 1, 2, 3 and 7: one negative test (at least) per class of defect.

1. YAML that kubectl reads differently, 2. values that parse into the wrong Python type,
3. text that is not what it claims, 7. text pasted into files.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner, Result
from crd_fixtures import crds_root

from capi_sysext import yamlio
from capi_sysext.cli import cli
from capi_sysext.cli import commands as _commands  # noqa: F401  (registers the commands)
from capi_sysext.errors import InputError

REPO = Path(__file__).resolve().parent.parent
GCP = ["generate", "--provider", "gcp", "--k8s", "1.33", "--offline"]
GCP_VALUES = [*GCP, "--values", str(REPO / "examples" / "gcp.yaml")]


def run(args: list[str], env: dict[str, str] | None = None, stdin: str | None = None) -> Result:
    return CliRunner().invoke(cli, args, env=env or {}, input=stdin)


def assert_usage_error(result: Result, *needles: str) -> None:
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exc_info
    assert "Traceback" not in result.output
    assert result.stdout == ""
    for needle in needles:
        assert needle in result.stderr, f"{needle!r} not in:\n{result.stderr}"


# ---- 1. YAML that kubectl reads differently -----------------------------------------------------

AMBIGUOUS = [
    "y", "n", "Y", "N", "yes", "No", "ON", "off", "oN", "yEs", "true", "False", "null", "Null",
    "~", "", "=", "<<", "0777", "0o17", "0x1F", "0b101", "1_000", "1:20", "190:20:30.15", ".inf",
    "-.Inf", ".NaN", "1e5", "1.5", "+1", "-0", "2024-01-02", "2024-13-45",
    "2001-12-14t21:59:43.10-05:00", "2024-1-2", "._",
]  # fmt: skip


@pytest.mark.parametrize("text", AMBIGUOUS)
def test_every_ambiguous_string_is_quoted_and_reads_back_in_yaml_1_1_and_1_2(text: str) -> None:
    out = yamlio.dump({text: [text]})
    assert yaml.load(out, Loader=yaml.SafeLoader) == {text: [text]}, out  # pure-Python 1.1
    from ruamel.yaml import YAML

    assert YAML(typ="safe", pure=True).load(out) == {text: [text]}, out  # YAML 1.2
    assert f"{text}:" not in out.splitlines()[0] or out.startswith(("'", '"')), out


@pytest.mark.parametrize("text", ["demo", "v1.33.2", "10.0.0.1", "eu-west-1", "a b", "1.2.3"])
def test_plain_strings_stay_plain(text: str) -> None:
    assert yamlio.dump(text).startswith(text)


def test_name_y_namespace_n_are_quoted_in_generate_output() -> None:
    result = run([*GCP_VALUES, "--name", "y", "--namespace", "n"])
    assert result.exit_code == 0, result.output
    assert "  name: 'y'\n" in result.stdout and "  namespace: 'n'\n" in result.stdout
    assert "name: y\n" not in result.stdout
    for doc in yaml.load_all(result.stdout, Loader=yaml.SafeLoader):
        if doc:
            assert doc["metadata"].get("namespace", "n") == "n"


def test_validate_flags_plain_scalars_that_readers_disagree_on(tmp_path: Path) -> None:
    f = tmp_path / "c.yaml"
    f.write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: y\n  namespace: default\n"
        "data:\n  mode: 0777\n  quoted: 'on'\n  tagged: !!str off\n  fine: 'x'\n"
    )
    crds = str(crds_root())
    result = run(["validate", "--crds", crds, "--no-cache", str(f)])
    assert result.exit_code == 1, result.output
    lines = result.stdout.splitlines()
    assert any("$.metadata.name: line 4: plain 'y' is a boolean" in line for line in lines), lines
    assert any("$.data.mode: line 7: plain '0777'" in line and "quote it" in line for line in lines)
    assert not any("quoted" in line or "tagged" in line for line in lines), lines


# ---- 2. values that parse into the wrong Python type --------------------------------------------

LAUGHS = "a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join([f'*{chr(97 + i)}'] * 9)}]\n" for i in range(9)
)


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ('name: !!int ""', "line 1, column 7: '' is not an integer"),
        ("name: !!timestamp x", "the tag !!timestamp is not supported"),
        ("name: !!bool maybe", "'maybe' is not a boolean"),
        ("name: !!float x", "'x' is not a number"),
        ("name: !!binary aGk=", "the tag !!binary is not supported"),
        ("name: " + "1" * 5000, "integer out of range"),
        ("name: " + ":".join(["1"] * 50), "integer out of range"),
        (LAUGHS, "aliases expand to more than"),
        ("a: &a [*a]", "an alias refers to its own anchor"),
        ("a: " + "[" * 100_000 + "]" * 100_000, "nested deeper than 100 levels"),
        ("a:\n" + "- " * 50_000 + "x", "nested deeper than 100 levels"),
    ],
)
def test_values_files_only_build_plain_types_within_bounds(
    tmp_path: Path, text: str, needle: str
) -> None:
    f = tmp_path / "v.yaml"
    f.write_text(text)
    started = time.monotonic()
    result = run([*GCP_VALUES, "--values", str(f)])
    assert time.monotonic() - started < 5
    assert_usage_error(result, f"{f}: not valid YAML", needle)


def test_impossible_dates_are_strings_not_tracebacks(tmp_path: Path) -> None:
    assert yamlio.load_all("name: 2024-13-45\nwhen: 2024-01-02", "s") == [
        {"name": "2024-13-45", "when": "2024-01-02"}
    ]


def test_apply_and_validate_refuse_hostile_yaml_without_a_traceback(tmp_path: Path) -> None:
    for text in ['a: !!int ""', LAUGHS, "a: !!timestamp x"]:
        assert_usage_error(run(["apply", "-f", "-", "--dry-run"], stdin=text), "<stdin>: not valid")
        f = tmp_path / "d.yaml"
        f.write_text(text)
        result = run(["validate", "--crds", str(crds_root()), str(f)])
        assert result.exit_code == 1 and "Traceback" not in result.output, result.output
        assert "not valid YAML at line" in result.stdout


def test_input_size_is_bounded(tmp_path: Path) -> None:
    big = tmp_path / "big.yaml"
    big.write_text("a: " + "x" * (yamlio.MAX_VALUES_BYTES + 1))
    assert_usage_error(run([*GCP_VALUES, "--values", str(big)]), "larger than 1024 KiB")
    with pytest.raises(InputError, match="larger than"):
        yamlio.load_all("x" * (yamlio.MAX_DOCUMENTS_BYTES + 1), "s")


# ---- 3. text that is not what it claims ---------------------------------------------------------


def test_undecodable_bytes_in_arguments_and_env_are_refused() -> None:
    bad = b"\xff".decode("utf-8", "surrogateescape")  # what Python makes of argv byte 0xff
    result = run([*GCP_VALUES, "--set", f"gcp.region={bad}"])
    assert_usage_error(result, "--set gcp.region: contains bytes that are not UTF-8 text")
    result = run(GCP_VALUES, env={"CAPI_SYSEXT_BASE_URL": f"http://a{bad}b"})
    assert_usage_error(result, "env CAPI_SYSEXT_BASE_URL: contains bytes that are not UTF-8")


def test_binary_values_file_and_kubeconfig_are_bad_input(tmp_path: Path) -> None:
    binary = tmp_path / "bin"
    binary.write_bytes(bytes(range(256)))
    assert_usage_error(run([*GCP_VALUES, "--values", str(binary)]), "not UTF-8 text")
    docs = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: x\n"
    result = run(["apply", "-f", "-", "--kubeconfig", str(binary)], stdin=docs)
    assert_usage_error(result, f"cannot load {binary}")


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--worker-count", "\u0661\u0662"], "--worker-count: must be a whole number"),
        (["--k8s", "\u0661.\u0663\u0663"], "is not a Kubernetes version"),
        (["--flatcar-version", "\u0661.2.3"], "--flatcar-version: must be 'latest'"),
        (["--kured", "--kured-window", "\u0662\u0662:00-04:00"], "--kured-window: must be"),
        (["--kured", "--kured-timezone", "Europe"], "must be an IANA time zone"),
        (["--kured", "--kured-timezone", "../../etc/passwd"], "must be an IANA time zone"),
        (["--kured", "--kured-drain-timeout", "99999999h"], "must be at most 24h"),
        (["--kured", "--kured-lock-ttl", "9" * 50 + "s"], "must be a duration"),
        (["--kured", "--kured-lock-ttl", "9" * 5000 + "s"], "at most 4096 characters"),
        (["--set", "workers.count=" + "9" * 5000], "must be a whole number"),
        (["--sysext-base-url", "http://x/\x01"], "must not contain control characters"),
        (["--sysext-base-url", "http://x/\x85y"], "must not contain control characters"),
        (["--set", "gcp.region=eu\x1b[31m"], "must not contain control characters"),
    ],
)
def test_text_that_is_not_what_it_claims_is_refused(args: list[str], needle: str) -> None:
    assert_usage_error(run([*GCP_VALUES, "--name", "x", *args]), needle)


def test_apply_timeout_takes_ascii_digits_and_a_bound() -> None:
    for timeout in ["\u0662\u0660m", "\u00b2", "99999999999", "1e9"]:
        result = run(["apply", "-f", "-", "--timeout", timeout], stdin="a: b\n")
        assert_usage_error(result, "--timeout")


def test_output_is_utf8_whatever_the_locale(tmp_path: Path) -> None:
    values = tmp_path / "v.yaml"
    values.write_text(
        'ssh:\n  authorizedKeys: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5 d\u00e9faut"\n',
        encoding="utf-8",
    )
    args = [*GCP_VALUES[1:], "--name", "x", "--values", str(values)]
    code = "from capi_sysext.entry import main; main()"
    outputs = []
    for env in (
        {"LANG": "C.UTF-8"},
        {"LANG": "C", "LC_ALL": "C", "PYTHONCOERCECLOCALE": "0", "PYTHONIOENCODING": "ascii"},
        {"LANG": "C", "LC_ALL": "C", "PYTHONUTF8": "0"},
    ):
        full = {k: v for k, v in os.environ.items() if not k.startswith(("LC_", "PYTHON"))}
        full.update(env, PYTHONPATH=str(REPO), CAPI_SYSEXT_OFFLINE="1")
        proc = subprocess.run(
            [sys.executable, "-c", code, "generate", *args],
            capture_output=True,
            env=full,
            timeout=60,
            check=False,
        )
        assert proc.returncode == 0, proc.stderr.decode("utf-8", "replace")
        outputs.append(proc.stdout)
    assert "d\u00e9faut".encode() in outputs[0]
    assert outputs[0] == outputs[1] == outputs[2]


# ---- 7. text pasted into files ------------------------------------------------------------------


def test_mirror_transfer_file_is_serialized_not_pasted() -> None:
    from capi_sysext.mirror import transfer_conf

    conf = transfer_conf("http://mirror.example/ext%20x", "v1.33")
    assert "Path=http://mirror.example/ext%%20x/kubernetes/\n" in conf  # systemd's % escaped
    with pytest.raises(ValueError, match="control character"):
        transfer_conf("http://mirror.example/ext\n[Source]\nPath=http://evil/", "v1.33")


def test_mirror_base_url_with_a_newline_is_refused(tmp_path: Path) -> None:
    dest = tmp_path / "m"
    result = run(
        ["mirror", "--k8s", "1.33", "--to", str(dest), "--offline", "--base-url",
         "http://m/\n[Source]\nPath=http://evil/"]
    )  # fmt: skip
    assert_usage_error(result, "--base-url: must not contain control characters")
    assert not dest.exists()


@pytest.mark.parametrize("value", ["${AZURE_LOCATION}", "$HOME", "eu$$", "a$$b", "x${y"])
def test_values_that_substitution_would_change_are_refused(value: str) -> None:
    result = run([*GCP_VALUES, "--name", "x", "--set", f"gcp.region={value}"])
    assert_usage_error(result, "which clusterctl and Flux substitute")


def test_a_lone_dollar_passes_unchanged(tmp_path: Path) -> None:
    result = run(
        [*GCP_VALUES, "--name", "x", "--kured", "--set", "kured.alertFilterRegexp=^Watchdog$"]
    )
    assert result.exit_code == 0, result.output
    assert "--alert-filter-regexp=^Watchdog$\n" in result.stdout
