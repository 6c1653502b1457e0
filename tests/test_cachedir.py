"""The one cache-dir helper (capi_sysext/cachedir.py), per the XDG Base Directory spec."""

from __future__ import annotations

from pathlib import Path

import pytest

from capi_sysext.cachedir import cache_dir
from capi_sysext.crdschema import default_cache_dir as crd_cache_dir
from capi_sysext.index import cache_path


@pytest.fixture
def home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def test_absolute_xdg_cache_home_is_used(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, home: Path
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir() == str(tmp_path / "xdg" / "capi-sysext")
    assert crd_cache_dir() == tmp_path / "xdg" / "capi-sysext" / "crds"
    assert Path(cache_path("https://example.test")).parent == tmp_path / "xdg" / "capi-sysext"


@pytest.mark.parametrize("value", ["relative/dir", "", "."])
def test_relative_or_empty_xdg_cache_home_is_ignored(
    monkeypatch: pytest.MonkeyPatch, home: Path, value: str
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", value)  # relative: invalid per the spec
    assert cache_dir() == str(home / ".cache" / "capi-sysext")
    assert crd_cache_dir() == home / ".cache" / "capi-sysext" / "crds"


def test_unset_xdg_cache_home_means_home_cache(monkeypatch: pytest.MonkeyPatch, home: Path) -> None:
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    assert cache_dir("crds") == str(home / ".cache" / "capi-sysext" / "crds")
