"""The PyYAML import-time workaround in capi_sysext/yamlio.py: same behaviour, cheaper import."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
import yaml

from capi_sysext import yamlio


def test_fast_pattern_matches_exactly_the_same_characters() -> None:
    original = re.compile(yamlio.PYYAML_NON_PRINTABLE)
    fast = re.compile(yamlio.NON_PRINTABLE_FAST)
    differ = [
        hex(c)
        for c in range(sys.maxunicode + 1)
        if (original.match(chr(c)) is None) != (fast.match(chr(c)) is None)
    ]
    assert differ == []


def test_the_swap_still_applies_to_the_installed_pyyaml() -> None:
    # If PyYAML ever changes the pattern's text the swap silently stops (harmless, only slower);
    # this test says so, so the workaround is revisited or dropped.
    code = (
        "import re; original = re.compile\n"
        "import capi_sysext.yamlio as y, yaml.reader as r\n"
        "assert r.Reader.NON_PRINTABLE.pattern == y.NON_PRINTABLE_FAST, r.Reader.NON_PRINTABLE\n"
        "assert re.compile is original\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


@pytest.mark.parametrize("char", ["\x07", "\x1b", "\ufffe", "\x85\x00"])
def test_pure_python_reader_still_rejects_non_printable_input(char: str) -> None:
    # The pure-Python loader is the one that runs the pattern (kubeconfig loading uses it).
    with pytest.raises(yaml.reader.ReaderError):
        yaml.load(f"a: b{char}", Loader=yaml.SafeLoader)


def test_pure_python_reader_accepts_printable_unicode() -> None:
    text = "a: caf\u00e9 \u2603 \U0001f600 \ue000\n"
    assert yaml.load(text, Loader=yaml.SafeLoader) == {"a": "caf\u00e9 \u2603 \U0001f600 \ue000"}


def test_output_dumper_has_no_path_resolvers() -> None:
    # resolve() answers quoted scalars without asking PyYAML: right only while no path resolver
    # could give a scalar another tag by its place in the document.
    assert not yamlio._OutputDumper.yaml_path_resolvers
