"""File safety (issue #13 class 5): what -o, --force, -f and stdout do with unusual files."""

from __future__ import annotations

import errno
import os
import stat
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

import capi_sysext.cli.commands  # noqa: F401  (registers the commands)
from capi_sysext import output as output_mod
from capi_sysext import readers
from capi_sysext.cli import cli

REPO = Path(__file__).resolve().parent.parent
GENERATE = [
    "generate",
    "--provider",
    "gcp",
    "--k8s",
    "1.33",
    "--name",
    "demo",
    "--values",
    str(REPO / "examples" / "gcp.yaml"),
]


def run(args: list[str], stdin: bytes | None = None) -> Result:
    return CliRunner().invoke(cli, args, input=stdin)


def assert_clean_failure(result: Result, code: int, *needles: str) -> None:
    assert result.exit_code == code, result.output
    assert isinstance(result.exception, SystemExit)  # a message, not a traceback
    assert result.stdout == ""
    for needle in needles:
        assert needle in result.stderr, result.stderr


@pytest.mark.parametrize("kind", ["fifo", "symlink", "device", "directory-link"])
def test_force_replaces_only_regular_files(tmp_path: Path, kind: str) -> None:
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    target = tmp_path / "out.yaml"
    if kind == "fifo":
        os.mkfifo(target)
        expected = "a FIFO"
    elif kind == "symlink":
        target.symlink_to(victim)
        expected = "a symbolic link"
    elif kind == "device":
        target = Path("/dev/null")
        expected = "a character device"
    else:
        target.symlink_to(tmp_path / "missing-target")  # dangling: still a link
        expected = "a symbolic link"
    result = run([*GENERATE, "--offline", "-o", str(target), "--force"])
    assert_clean_failure(result, 2, expected, "only a regular file is ever replaced")
    assert victim.read_text() == "precious\n"
    if kind == "fifo":
        assert stat.S_ISFIFO(target.lstat().st_mode)
    if kind in ("symlink", "directory-link"):
        assert target.is_symlink()


def test_force_still_replaces_a_regular_file(tmp_path: Path) -> None:
    target = tmp_path / "out.yaml"
    target.write_text("old\n")
    result = run([*GENERATE, "--offline", "-o", str(target), "--force"])
    assert result.exit_code == 0, result.output
    assert target.read_text().startswith("apiVersion") or "kind:" in target.read_text()


@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002])
def test_new_files_follow_the_umask(tmp_path: Path, umask: int) -> None:
    target = tmp_path / "out.yaml"
    old = os.umask(umask)
    try:
        result = run([*GENERATE, "--offline", "-o", str(target)])
    finally:
        os.umask(old)
    assert result.exit_code == 0, result.output
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~umask


@pytest.mark.parametrize("err", [errno.ENOSPC, errno.EROFS, errno.EACCES])
def test_a_failed_write_is_a_message_and_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, err: int
) -> None:
    # Running as root makes chmod-based read-only directories useless; inject the errno instead.
    def refuse(fd: int) -> None:
        raise OSError(err, os.strerror(err))

    monkeypatch.setattr(output_mod.os, "fsync", refuse)
    target = tmp_path / "out.yaml"
    result = run([*GENERATE, "--offline", "-o", str(target)])
    assert_clean_failure(result, 1, f"cannot write {target}: {os.strerror(err)}", "nothing was")
    assert list(tmp_path.iterdir()) == []  # no temporary file left behind


def test_a_name_too_long_is_a_message(tmp_path: Path) -> None:
    target = tmp_path / ("x" * 300)
    result = run([*GENERATE, "--offline", "-o", str(target)])
    assert result.exit_code in (1, 2), result.output
    assert isinstance(result.exception, SystemExit)
    assert "File name too long" in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_stdout_on_a_full_disk_is_a_message(monkeypatch: pytest.MonkeyPatch) -> None:
    from capi_sysext.cli.options import emit
    from capi_sysext.output import OutputError

    class Full:
        def write(self, text: str) -> int:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

        def flush(self) -> None:
            pass

    monkeypatch.setattr(sys, "stdout", Full())
    with pytest.raises(OutputError, match="No space left on device"):
        emit("text", None)


@pytest.mark.parametrize("command", [["apply", "-f"], ["validate"]])
def test_an_endless_input_is_bounded(command: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(readers, "MAX_INPUT_BYTES", 1 << 20)
    monkeypatch.setattr(readers.read_bounded, "__defaults__", (1 << 20,))
    result = run([*command, "/dev/zero"])
    assert_clean_failure(result, 2, "/dev/zero is larger than 1 MiB")


@pytest.mark.parametrize("command", [["apply", "-f", "-"], ["validate", "-"]])
def test_an_oversized_stdin_is_bounded(command: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(readers.read_bounded, "__defaults__", (1 << 10,))
    result = run(command, stdin=b"a: b\n" * 1000)
    assert_clean_failure(result, 2, "<stdin> is larger than 0 MiB")


def test_unreadable_inputs_are_all_reported(tmp_path: Path) -> None:
    binary = tmp_path / "bin.yaml"
    binary.write_bytes(b"\xff\xfe\x00")
    result = run(["validate", str(tmp_path / "missing.yaml"), str(binary), str(tmp_path)])
    assert_clean_failure(result, 2, "3 problems", "No such file", "not UTF-8", "Is a directory")


@pytest.mark.parametrize("command", [["apply", "-f", "-"], ["validate", "--from-cluster", "-"]])
def test_a_kubeconfig_that_is_a_device_is_refused(command: list[str]) -> None:
    doc = b"apiVersion: v1\nkind: Namespace\nmetadata: {name: x}\n"
    result = run([*command, "--kubeconfig", "/dev/zero"], stdin=doc)
    assert_clean_failure(result, 2, "/dev/zero is not a regular file", "--kubeconfig")


def test_a_huge_kubeconfig_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(readers, "MAX_INPUT_BYTES", 1 << 10)
    big = tmp_path / "kubeconfig"
    big.write_bytes(b"#" * 2048)
    doc = b"apiVersion: v1\nkind: Namespace\nmetadata: {name: x}\n"
    result = run(["apply", "-f", "-", "--kubeconfig", str(big)], stdin=doc)
    assert result.exit_code == 2, result.output
    assert "larger than 0 MiB; it is not a kubeconfig" in result.stderr
