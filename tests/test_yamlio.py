"""capi_sysext/yamlio.py: the PyYAML import-time workaround (same behaviour, cheaper import), and
its writer, yamlemit (the bytes libyaml writes)."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
import yaml

from capi_sysext import yamlemit, yamlio


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


def _libyaml(docs: list[object], explicit_start: bool = True) -> str:
    # PyYAML with libyaml's emitter and our output dumper: the path yamlio took before yamlemit.
    text: str = yaml.dump_all(docs, explicit_start=explicit_start, **yamlio._OPTIONS)
    return text


def test_our_emitter_quotes_every_character_as_libyaml_does() -> None:
    # Each code point of the BMP (surrogates aside) and a sample beyond, alone, inside a word and
    # after a space, as a value and as a key; before a line break for a sample of them.
    chars = [chr(c) for c in range(0x10000) if not 0xD800 <= c <= 0xDFFF]
    chars += [chr(c) for c in (0x10000, 0x1F600, 0x10FFFF)]
    texts = [form.format(c) for c in chars for form in ("{}", "a{}b", "a {}")]
    taken = []
    for c in chars[:0x800] + chars[0x800::7]:
        text = c + "\nx\n"
        try:
            yamlio._EMITTER.stream([{"v": text}], explicit_start=True)
        except yamlemit.Unsupported:
            # Only a multi-line text that must be single-quoted (its lines end in white space
            # a literal block cannot keep) is left to libyaml.
            assert not c.isprintable() or c.isspace(), repr(text)
            continue
        taken.append(text)
    assert len(taken) > 0.98 * len(chars[:0x800] + chars[0x800::7])
    # A key with a line break of any kind is not a simple key: left to libyaml (tested below).
    keys = {t: 1 for t in texts if not any(b in t for b in "\r\n\x85\u2028\u2029")}
    doc = {"values": texts + taken, "keys": keys}
    assert yamlio._EMITTER.stream([doc], explicit_start=True) == _libyaml([doc])


def test_our_emitter_folds_long_lines_as_libyaml_does() -> None:
    words = " ".join(["word"] * 1500)
    doc = {
        "plain": words,
        "single": "#" + words,
        "double": yamlio.DoubleQuoted(words + "  two  spaces"),
        "nested": [{"deeper": words.replace("word ", "it's ", 900)}],
    }
    out = yamlio._EMITTER.stream([doc], explicit_start=True)
    assert out == _libyaml([doc])
    assert max(len(line) for line in out.splitlines()) < 4200


def test_a_kept_trailing_break_ends_the_stream_with_document_end() -> None:
    docs = [{"a": "x\n\n"}, {"b": "y\n\n"}]
    out = yamlio.dump_all(docs)
    assert out == _libyaml(docs)
    assert out.endswith("\n...\n")
    assert yamlio.load_all(out, "s") == docs


def test_what_our_emitter_leaves_goes_to_pyyaml_whole() -> None:
    # Floats, scalar documents and keys past libyaml's 128-byte simple keys are not ours to
    # write; the whole stream then takes PyYAML's path, with the same bytes as before.
    docs_left = ([{"a": 1.5, "b": "yes"}], ["just text"], [{"k" * 129: 1}], [{"a\rb": 1}])
    for docs in docs_left:
        with pytest.raises(yamlemit.Unsupported):
            yamlio._EMITTER.stream(docs, explicit_start=True)
        assert yamlio.dump_all(docs) == _libyaml(docs)
    assert yamlio.dump({"a": 0.5}) == "a: 0.5\n"
