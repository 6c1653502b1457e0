"""Golden files: each tests/golden/<case>.case.yaml holds CLI args (+ env); <case>.out is the
expected stdout. Regenerate with `pytest tests/test_golden.py --update-golden` and review the diff.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from capi_sysext.cli import cli, commands  # noqa: F401  (importing commands registers them)

GOLDEN = Path(__file__).resolve().parent / "golden"
CASES = sorted(GOLDEN.glob("*.case.yaml"))


REPO = GOLDEN.parent.parent


def _seed_index_cache(base_url: str, index_file: Path) -> None:
    """A case may pin hashes: `index: {baseUrl, file}` puts that index in the (test) cache, as
    `capi-sysext versions --refresh` against a mirror would have, and the case runs --offline."""
    from datetime import UTC, datetime

    from capi_sysext.index import CacheEntry, cache_path, parse_index, write_cache

    images, _ = parse_index(index_file.read_text(), str(index_file))
    fetched = datetime(2026, 11, 1, tzinfo=UTC)
    write_cache(cache_path(base_url), CacheEntry(base_url, fetched, tuple(images)))


def run_case(case: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    spec: dict[str, Any] = yaml.safe_load(case.read_text())
    monkeypatch.chdir(REPO)  # case args name files relative to the repository root
    if "index" in spec:
        _seed_index_cache(spec["index"]["baseUrl"], REPO / spec["index"]["file"])
    result = CliRunner().invoke(cli, spec["args"], env=spec.get("env", {}), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.stdout


@pytest.mark.parametrize("case", CASES, ids=[c.name.removesuffix(".case.yaml") for c in CASES])
def test_golden(case: Path, update_golden: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    expected_file = case.with_name(case.name.removesuffix(".case.yaml") + ".out")
    actual = run_case(case, monkeypatch)
    if update_golden or not expected_file.exists():
        expected_file.write_text(actual)
        if not update_golden:
            pytest.fail(f"{expected_file.name} did not exist; written now, review and commit it")
    assert actual == expected_file.read_text(), (
        f"{case.name}: output differs from {expected_file.name}; "
        "if intended, run with --update-golden and review the diff"
    )


@pytest.mark.parametrize(
    "case", CASES[:3], ids=[c.name.removesuffix(".case.yaml") for c in CASES[:3]]
)
def test_output_is_byte_identical_between_runs(case: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert run_case(case, monkeypatch) == run_case(case, monkeypatch)
