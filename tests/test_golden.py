"""Golden files: each tests/golden/<case>.case.yaml holds CLI args (+ env); <case>.out is the
expected stdout. Regenerate with `pytest tests/test_golden.py --update-golden` and review the diff.

A negative case also says `exit: <code>` (2 bad input, 1 issues found or environment): its stderr
is golden too, in <case>.err, and <case>.out exists only if the command printed to stdout (the
rule is "nothing half-written", so most have none). The exit code is written in the case, not
blessed by the update switch: a different code is a failure to look at, never a file to rewrite.
Every command with goldens has a negative one too (checked below).
Args may say `{crds}` for the pinned reference CRDs (tests/crd_fixtures.py), wherever they are.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, NamedTuple

import pytest
import yaml
from click.testing import CliRunner

from capi_sysext.cli import cli, commands  # noqa: F401  (importing commands registers them)

GOLDEN = Path(__file__).resolve().parent / "golden"
CASES = sorted(GOLDEN.glob("*.case.yaml"))


REPO = GOLDEN.parent.parent


class Outcome(NamedTuple):
    exit_code: int
    stdout: str
    stderr: str


def _seed_index_cache(base_url: str, index_file: Path) -> None:
    """A case may pin hashes: `index: {baseUrl, file}` puts that index in the (test) cache, as
    `capi-sysext versions --refresh` against a mirror would have, and the case runs --offline."""
    from datetime import UTC, datetime

    from capi_sysext.index import CacheEntry, cache_path, parse_index, write_cache

    images, _ = parse_index(index_file.read_text(), str(index_file))
    fetched = datetime(2026, 11, 1, tzinfo=UTC)
    write_cache(cache_path(base_url), CacheEntry(base_url, fetched, tuple(images)))


def _args(spec: dict[str, Any]) -> list[str]:
    args = [str(a) for a in spec["args"]]
    if any("{crds}" in a for a in args):
        from crd_fixtures import crds_root

        args = [a.replace("{crds}", str(crds_root())) for a in args]
    return args


def invoke_case(case: Path, monkeypatch: pytest.MonkeyPatch) -> Outcome:
    spec: dict[str, Any] = yaml.safe_load(case.read_text())
    monkeypatch.chdir(REPO)  # case args name files relative to the repository root
    if "index" in spec:
        _seed_index_cache(spec["index"]["baseUrl"], REPO / spec["index"]["file"])
    result = CliRunner().invoke(cli, _args(spec), env=spec.get("env", {}), catch_exceptions=False)
    return Outcome(result.exit_code, result.stdout, result.stderr)


def run_case(case: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """The stdout of a case that must succeed."""
    outcome = invoke_case(case, monkeypatch)
    assert outcome.exit_code == 0, outcome.stderr
    return outcome.stdout


def expected_exit(case: Path) -> int:
    code: int = yaml.safe_load(case.read_text()).get("exit", 0)
    return code


def _check(case: Path, actual: str, expected_file: Path, update_golden: bool) -> None:
    if update_golden or not expected_file.exists():
        expected_file.write_text(actual)
        if not update_golden:
            pytest.fail(f"{expected_file.name} did not exist; written now, review and commit it")
    assert actual == expected_file.read_text(), (
        f"{case.name}: output differs from {expected_file.name}; "
        "if intended, run with --update-golden and review the diff"
    )


def _golden(case: Path, suffix: str) -> Path:
    return case.with_name(case.name.removesuffix(".case.yaml") + suffix)


POSITIVE = [c for c in CASES if expected_exit(c) == 0]
NEGATIVE = [c for c in CASES if expected_exit(c) != 0]


def _ids(cases: list[Path]) -> list[str]:
    return [c.name.removesuffix(".case.yaml") for c in cases]


@pytest.mark.parametrize("case", POSITIVE, ids=_ids(POSITIVE))
def test_golden(case: Path, update_golden: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    _check(case, run_case(case, monkeypatch), _golden(case, ".out"), update_golden)


@pytest.mark.parametrize("case", NEGATIVE, ids=_ids(NEGATIVE))
def test_negative_golden(case: Path, update_golden: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    outcome = invoke_case(case, monkeypatch)
    assert outcome.exit_code == expected_exit(case), (
        f"{case.name}: exit {outcome.exit_code}, the case expects {expected_exit(case)} "
        f"(edit `exit:` in the case only if the new code is right)\n{outcome.stderr}"
    )
    assert "Traceback" not in outcome.stderr
    _check(case, outcome.stderr, _golden(case, ".err"), update_golden)
    out = _golden(case, ".out")
    if update_golden and not outcome.stdout:
        out.unlink(missing_ok=True)  # the command stopped printing: a stale golden goes
    elif outcome.stdout or out.exists():
        _check(case, outcome.stdout, out, update_golden)


def test_every_golden_file_belongs_to_a_case() -> None:
    """A renamed or deleted case must not leave its .out/.err behind, passing nothing."""
    cases = {c.name.removesuffix(".case.yaml") for c in CASES}
    orphans = [
        f.name
        for f in sorted(GOLDEN.glob("*"))
        if f.suffix in (".out", ".err") and f.name.rsplit(".", 1)[0] not in cases
    ]
    assert orphans == []


# render-cluster writes a directory: its positive goldens live in tests/test_render_cluster.py.
COMMANDS_WITH_OTHER_GOLDENS = ("render-cluster",)


def _command(case: Path) -> str:
    return str(yaml.safe_load(case.read_text())["args"][0])


def test_every_command_with_goldens_has_a_negative_golden() -> None:
    """Issue #14 item 7: each command's bad-input output is pinned too, not only its success."""
    with_goldens = {_command(c) for c in POSITIVE} | set(COMMANDS_WITH_OTHER_GOLDENS)
    assert sorted(with_goldens - {_command(c) for c in NEGATIVE}) == []


@pytest.mark.parametrize("case", POSITIVE[:3], ids=_ids(POSITIVE[:3]))
def test_output_is_byte_identical_between_runs(case: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert run_case(case, monkeypatch) == run_case(case, monkeypatch)


@pytest.mark.parametrize("case", NEGATIVE[:2], ids=_ids(NEGATIVE[:2]))
def test_errors_are_byte_identical_between_runs(
    case: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert invoke_case(case, monkeypatch) == invoke_case(case, monkeypatch)
