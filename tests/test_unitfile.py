"""capi_sysext/unitfile.py: skeleton parsing, entry placement and systemd escaping."""

from __future__ import annotations

from pathlib import Path

import pytest

from capi_sysext import unitfile
from capi_sysext.package_data import data_path
from capi_sysext.unitfile import Exec, Specifiers, parse, shell

SKELETON = """\
# preamble comment
[Unit]
Description=demo
# trailing comment of [Unit]

[Service]
Type=oneshot


[Install]
"""


def systemd_split(line: str) -> list[str]:
    """Reference reading of a command line per systemd.service(5), written for these tests:
    specifiers first (load time), then words (quotes, backslash escapes), then `$$` (exec time)."""
    # Specifiers: the only one our output may contain is %% (a literal %).
    chars: list[str] = []
    i = 0
    while i < len(line):
        if line[i] == "%":
            assert line[i + 1] == "%", f"unexpected specifier in {line!r}"
            i += 1
        chars.append(line[i])
        i += 1
    text = "".join(chars)
    words: list[str] = []
    word: str | None = None
    quote: str | None = None
    quoted_word = False
    i = 0
    while i < len(text):
        c = text[i]
        if quote is None and c in " \t":
            if word is not None:
                assert quoted_word or word != ";", "an unquoted lone ; separates commands"
                words.append(word)
            word, quoted_word = None, False
        elif c == "\\":
            word = (word or "") + text[i + 1]
            i += 1
        elif quote is None and c in "\"'":
            word, quote, quoted_word = word or "", c, True
        elif c == quote:
            quote = None
        else:
            word = (word or "") + c
        i += 1
    assert quote is None, f"unterminated quote in {line!r}"
    if word is not None:
        assert quoted_word or word != ";"
        words.append(word)
    for w in words:
        assert "$" not in w.replace("$$", ""), f"{w!r} would expand a variable"
    return [w.replace("$$", "$") for w in words]


def exec_value(argv: tuple[str, ...]) -> str:
    text = parse("t", "[Service]\n").add("Service", "ExecStart", Exec(argv)).render()
    return text.splitlines()[1].removeprefix("ExecStart=")


# --- parsing and placement -------------------------------------------------------------------


def test_render_round_trips_a_skeleton_with_one_final_newline() -> None:
    assert parse("t", SKELETON).render() == SKELETON
    assert parse("t", SKELETON + "\n\n").render() == SKELETON
    assert parse("t", "[Unit]\nA=b").render() == "[Unit]\nA=b\n"


def test_add_appends_at_the_section_end_before_the_gap() -> None:
    base = parse("t", SKELETON)
    out = (
        base.add("Unit", "After", "a.service", comment="why a\nand more")
        .add("Unit", "Before", "b.service")
        .add("Service", "ExecStart", Exec(("/bin/true",)))
        .add("Install", "WantedBy", "multi-user.target")
        .render()
    )
    assert out == (
        "# preamble comment\n"
        "[Unit]\n"
        "Description=demo\n"
        "# trailing comment of [Unit]\n"
        "# why a\n"
        "# and more\n"
        "After=a.service\n"
        "Before=b.service\n"
        "\n"
        "[Service]\n"
        "Type=oneshot\n"
        "ExecStart=/bin/true\n"
        "\n"
        "\n"
        "[Install]\n"
        "WantedBy=multi-user.target\n"
    )
    assert base.render() == SKELETON  # immutable: add returned a new object


def test_every_shipped_skeleton_loads_and_has_no_placeholders() -> None:
    names = sorted(p.name for p in Path(data_path("templates")).iterdir() if p.is_file())
    assert names == [
        "cni-install.service",
        "kubeadm-standalone.service",
        "kubeadm-sysext.conf",
        "kured-install.service",
        "static.network",
        "sysext-verify.service",
        "sysupdate-kubernetes.conf",
        "sysupdate-noop.conf",
        "sysupdate-service.conf",
    ]
    for name in names:
        text = (Path(data_path("templates")) / name).read_text()
        assert "{" not in text, name
        loaded = unitfile.load(name)
        assert loaded.sections, name
        assert loaded.render() == text, name
        assert unitfile.load(name) is loaded  # parsed once


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[Service]\nExecStart=/bin/echo a \\\n  b\n", "continuation lines"),
        ("A=b\n[Unit]\n", "before the first [Section]"),
        ("[Unit]\nnot a key\n", "expected a comment"),
        ("[Unit]\nKey with space=1\n", "expected a comment"),
        ("[Unit]\nA=b\n[Unit]\n", "appears twice"),
        ("[Unit]\n  # indented\n", "expected a comment"),
        ("[Unit]\nA=\x07\n", "control character"),
    ],
)
def test_malformed_skeletons_are_rejected(text: str, message: str) -> None:
    with pytest.raises(ValueError, match="templates/bad line") as err:
        parse("bad", text)
    assert message in str(err.value)


def test_load_only_reads_names_inside_templates() -> None:
    for name in ("../pyproject.toml", ".hidden", "a/b"):
        with pytest.raises(ValueError, match="not a skeleton name"):
            unitfile.load(name)


def test_unknown_section_and_bad_key_are_errors() -> None:
    base = parse("t", SKELETON)
    with pytest.raises(ValueError, match=r"no \[Timer\] section \(it has: Unit, Service, In"):
        base.add("Timer", "OnCalendar", "daily")
    with pytest.raises(ValueError, match="invalid key"):
        base.add("Unit", "After=x\nBefore", "y")


# --- plain values ----------------------------------------------------------------------------


def test_plain_values_escape_specifiers_only() -> None:
    out = parse("t", "[Unit]\n").add("Unit", "Description", "100% $HOME 'q' \"d\"").render()
    assert out == "[Unit]\nDescription=100%% $HOME 'q' \"d\"\n"


@pytest.mark.parametrize(
    "value", ["a\nInjected=1", "a\rb", "tab\there", "nul\x00", "del\x7f", "a\\", " a", "a "]
)
def test_plain_values_that_would_change_the_file_are_rejected(value: str) -> None:
    with pytest.raises(ValueError, match="Description="):
        parse("t", "[Unit]\n").add("Unit", "Description", value)


def test_comments_cannot_smuggle_lines() -> None:
    with pytest.raises(ValueError, match="comment on After="):
        parse("t", "[Unit]\n").add("Unit", "After", "a", comment="x\rInjected=1")


def test_specifiers_pass_through_unescaped_but_checked() -> None:
    base = parse("t", "[Source]\n")
    out = base.add("Source", "MatchPattern", Specifiers("kubernetes-v1.33.@v-%a.raw")).render()
    assert out == "[Source]\nMatchPattern=kubernetes-v1.33.@v-%a.raw\n"
    assert "=50%%\n" in base.add("Source", "X", Specifiers("50%%")).render()
    for bad in ("50% off", "end%", "a\nb"):
        with pytest.raises(ValueError, match="MatchPattern="):
            base.add("Source", "MatchPattern", Specifiers(bad))


# --- command lines ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (("/usr/bin/true",), "/usr/bin/true"),
        (("/usr/lib/systemd/systemd-sysupdate", "-C", "kubernetes", "update"),
         "/usr/lib/systemd/systemd-sysupdate -C kubernetes update"),
        (("/bin/echo", "a b"), '/bin/echo "a b"'),
        (("/bin/echo", ""), '/bin/echo ""'),
        (("/bin/echo", "50%"), "/bin/echo 50%%"),
        (("/bin/echo", "$HOME", "${X}"), "/bin/echo $$HOME $${X}"),
        (("/bin/echo", 'say "hi"'), '/bin/echo "say \\"hi\\""'),
        (("/bin/echo", "it's"), '/bin/echo "it\'s"'),
        (("/bin/echo", "back\\slash"), '/bin/echo "back\\\\slash"'),
        (("/bin/echo", ";"), '/bin/echo ";"'),
        (("/bin/echo", "a;b"), '/bin/echo "a;b"'),
        (("/bin/echo", "100% of $x"), '/bin/echo "100%% of $$x"'),
        (("/opt/50%/run",), "/opt/50%%/run"),
    ],
)  # fmt: skip
def test_exec_quotes_only_when_needed(argv: tuple[str, ...], expected: str) -> None:
    assert exec_value(argv) == expected
    assert systemd_split(expected) == list(argv)


@pytest.mark.parametrize(
    "arg",
    ["", " ", "a  b", '"', "'", "\\", '\\"', "%%", "$$", "${A}$B", "; rm -rf /", "x;", "ü é",
     "--opt=a b", "a'b\"c\\d%e$f", "'single quoted'", '"double"'],
)  # fmt: skip
def test_exec_arguments_round_trip(arg: str) -> None:
    argv = ("/bin/prog", arg, "tail")
    assert systemd_split(exec_value(argv)) == list(argv)


def _old_systemd_quote(value: str) -> str:
    """The quoting the old template filter gave `sh -c` scripts, kept here as the reference."""
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return '"' + escaped.replace("%", "%%").replace("$", "$$") + '"'


@pytest.mark.parametrize(
    "script", ["true", "echo 'a b' >&2; exit 1", 'printf "%s\\n" "$x"', "a && { b; }"]
)
def test_shell_always_quotes_its_script_as_before(script: str) -> None:
    out = parse("t", "[Service]\n").add("Service", "ExecStart", shell(script)).render()
    line = out.splitlines()[1].removeprefix("ExecStart=")
    assert line == "/usr/bin/sh -c " + _old_systemd_quote(script)
    assert systemd_split(line) == ["/usr/bin/sh", "-c", script]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ((), "absolute program path"),
        (("sh", "-c", "x"), "absolute program path"),
        (("/bin/my prog",), "unusable program path"),
        (("/bin/$X",), "unusable program path"),
        (("/bin/echo", "a\nExecStart=/bin/evil"), "control character"),
        (("/bin/echo", "a\tb"), "control character"),
    ],
)
def test_exec_rejects_what_it_cannot_write(argv: tuple[str, ...], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse("t", "[Service]\n").add("Service", "ExecStart", Exec(argv))
