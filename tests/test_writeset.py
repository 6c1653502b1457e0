"""writeset.write_all: every file or none, with its mode, across sync batches."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from capi_sysext import writeset


def test_writes_every_file_with_its_mode_across_batches(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(writeset, "_BATCH", 3)
    (tmp_path / "sub").mkdir()
    files = {
        tmp_path / ("sub" if i % 2 else ".") / f"f{i}.yaml": (
            f"n: {i}\n\u00e9\n",
            0o600 + i % 2 * 0o44,
        )
        for i in range(10)
    }
    (tmp_path / "f0.yaml").write_text("old\n")  # replaced
    writeset.write_all(files)
    for path, (text, mode) in files.items():
        assert path.read_text(encoding="utf-8") == text
        assert stat.S_IMODE(path.stat().st_mode) == mode
    assert not [p for p in tmp_path.rglob("*") if p.name.endswith(".tmp")]


def test_a_failure_while_staging_leaves_every_target_untouched(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(writeset, "_BATCH", 2)
    (tmp_path / "keep.yaml").write_text("old\n")
    files = {tmp_path / f"f{i}.yaml": ("x\n", 0o644) for i in range(5)}
    files[tmp_path / "keep.yaml"] = ("new\n", 0o644)
    files[tmp_path / "missing" / "last.yaml"] = ("y\n", 0o644)  # its directory does not exist
    with pytest.raises(FileNotFoundError):
        writeset.write_all(files)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.yaml"]
    assert (tmp_path / "keep.yaml").read_text() == "old\n"
