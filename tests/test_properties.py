"""Property-based tests (issue #13): the CLI holds under generated flags, --set values and values
files, run in process through click's CliRunner.

Invariants: the exit code is 0, 1 or 2; no traceback; nothing on stdout on failure; a successful
output reads back identically with a YAML 1.1 reader (PyYAML's pure-Python SafeLoader) and a
YAML 1.2 reader (ruamel.yaml's pure-Python safe loader, a test-only dependency, plus our own
1.2 core-schema check of every plain scalar). Seeded (derandomize) with a fixed example budget,
so a CI run is deterministic and takes seconds.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner, Result
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from capi_sysext import clouds, yamlemit, yamlio
from capi_sysext.cli import cli
from capi_sysext.cli import commands as _commands  # noqa: F401  (registers the commands)
from capi_sysext.specbuild import cluster_variables

ruamel_yaml = pytest.importorskip("ruamel.yaml")

REPO = Path(__file__).resolve().parent.parent
PROVIDERS = clouds.NAMES
BUDGET = settings(
    max_examples=40,
    derandomize=True,
    deadline=None,
    database=None,  # nothing written into the checkout; derandomize makes runs repeatable
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# Texts that have broken YAML, unit files, numbers or encodings before, mixed with anything.
TRICKY = [
    "y", "n", "N", "on", "Off", "yes", "NO", "~", "null", "=", "<<", "0777", "0o17", "0x1f",
    "1_000", "1:20", ".inf", "-.NaN", "1e5", "2024-13-45", "2001-12-14 21:59:43", "", " ", "-",
    "?", ":", "#x", "&a", "*a", "!!int", "'", '"', "|", ">", "%", "%a", "$", "$$", "${X}", "$X",
    "\\", "\n", "\r\n", "\t", "\x00", "\x1b[1m", "\x7f", "\x85", "\u2028", "\ufeff", "\ud800",
    "\udcff", "\u0661\u0662", "\u00b2", "\uff11", "Europe", "UTC", "22:00-04:00", "1h", "0s",
    "99999999999999999999", "9" * 40, "1.33", "1.30", "v1.33.2", "http://x/", "https://m/a b",
    "http://m/\n[Source]", "a" * 70, "demo", "x86-64", "arm64", "gcp", "true", "-1", "3", "0",
]  # fmt: skip

text = st.one_of(
    st.sampled_from(TRICKY),
    st.text(max_size=12),
    st.builds(lambda a, b: a + b, st.sampled_from(TRICKY), st.sampled_from(TRICKY)),
)
scalar: st.SearchStrategy[Any] = st.one_of(
    text,
    st.integers(min_value=-(10**20), max_value=10**20),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.none(),
)
value = st.recursive(scalar, lambda inner: st.lists(inner, max_size=3), max_leaves=5)

FLAG_KEYS = {
    p: [(v.key, v.flag) for v in cluster_variables(p) if v.flag and "/" not in v.flag]
    for p in PROVIDERS
}
BOOL_FLAGS = {
    p: [v.flag for v in cluster_variables(p) if v.flag and "/" in v.flag] for p in PROVIDERS
}
ALL_KEYS = {p: [v.key for v in cluster_variables(p)] for p in PROVIDERS}

HOSTILE_FILES = [
    'name: !!int ""',
    "name: !!timestamp x",
    "name: 2024-13-45",
    "workers: {count: " + "9" * 5000 + "}",
    "a: &a [*a]",
    "a: " + "[" * 300 + "]" * 300,
    "a: &a [x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a]\n"
    "c: &c [*b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c]\n"
    "e: &e [*d, *d, *d, *d, *d, *d, *d, *d]\nf: &f [*e, *e, *e, *e, *e, *e, *e, *e]\n"
    "g: &g [*f, *f, *f, *f, *f, *f, *f, *f]\n",
    "- just\n- a list\n",
    "--- {}\n--- {}\n",
    "name: [unterminated",
    "? [a]\n: b\n",
    "<<: 5",
]


def run(args: list[str], stdin: str | bytes | None = None) -> Result:
    return CliRunner().invoke(cli, args, env={"CAPI_SYSEXT_OFFLINE": "1"}, input=stdin)


def check_invariants(result: Result) -> None:
    output = result.stdout + result.stderr
    assert result.exit_code in (0, 1, 2), (result.exit_code, output, result.exc_info)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exc_info
    assert "Traceback" not in output, output
    if result.exit_code != 0:
        assert result.stdout == "", result.stdout


def plain_scalars(text: str) -> list[str]:
    """Every plain scalar of the output, via PyYAML's pure-Python parser events."""
    return [
        e.value
        for e in yaml.parse(text, Loader=yaml.SafeLoader)
        if isinstance(e, yaml.ScalarEvent) and e.style is None
    ]


def check_reads_back(text: str) -> None:
    """The same data for a YAML 1.1 reader and a YAML 1.2 reader."""
    docs_11 = [d for d in yaml.load_all(text, Loader=yaml.SafeLoader) if d is not None]
    parser = ruamel_yaml.YAML(typ="safe", pure=True)
    docs_12 = [d for d in parser.load_all(text) if d is not None]
    assert docs_11 == docs_12
    # Our own 1.2 core-schema check agrees: no plain scalar is read two ways.
    for s in plain_scalars(text):
        assert yamlio.reading_11(s) == yamlio.reading_12(s) or s in {"true", "false"}, s
    for doc in docs_11:
        embedded = _embedded_yaml(doc)
        for inner in embedded:
            check_reads_back(inner)


def _embedded_yaml(doc: Any) -> list[str]:
    """YAML we write inside YAML: the CLC additionalConfig, Kured's manifests, Helm values."""
    found: list[str] = []
    if isinstance(doc, dict):
        for k, v in doc.items():
            if k in {"additionalConfig", "kured.yaml", "valuesTemplate"} and isinstance(v, str):
                found.append(v)
            else:
                found.extend(_embedded_yaml(v))
    elif isinstance(doc, list):
        for v in doc:
            found.extend(_embedded_yaml(v))
    return found


# Valid DNS labels, biased to the ones YAML readers take for something else.
dns_label = st.one_of(
    st.sampled_from(["y", "n", "on", "off", "no", "yes", "null", "0777", "1e5", "1-2", "0x1f",
                     "2024-01-02", "123", "0", "1", "nan", "inf", "true", "false", "demo"]),
    st.from_regex(r"[a-z0-9]([-a-z0-9]{0,8}[a-z0-9])?", fullmatch=True),
)  # fmt: skip


@st.composite
def generate_args(draw: st.DrawFn, tmp: Path) -> list[str]:
    provider = draw(st.sampled_from(PROVIDERS))
    args = ["generate", "--provider", provider, "--offline"]
    args += ["--values", str(REPO / "examples" / f"{provider}.yaml")]
    # Half the runs only vary what is likely valid, so successful outputs get checked too.
    hostile = draw(st.booleans())
    for _key, flag in draw(st.lists(st.sampled_from(FLAG_KEYS[provider]), max_size=2 * hostile)):
        args += [flag, draw(text)]
    for flag in draw(st.lists(st.sampled_from(BOOL_FLAGS[provider]), max_size=2)):
        args.append(flag)
    for key in draw(st.lists(st.sampled_from(ALL_KEYS[provider]), max_size=3 * hostile)):
        args += ["--set", f"{key}={draw(text)}"]
    for key in draw(st.lists(st.sampled_from(["name", "namespace"]), max_size=2)):
        args += ["--set", f"{key}={draw(dns_label)}"]
    if hostile and draw(st.booleans()):
        path = tmp / f"values-{draw(st.integers(0, 10**9))}.yaml"
        if draw(st.booleans()):
            keys = draw(st.lists(st.sampled_from(ALL_KEYS[provider]), max_size=4))
            data: dict[str, Any] = {}
            for key in keys:
                node = data
                *parents, leaf = key.split(".")
                for part in parents:
                    nxt = node.setdefault(part, {})
                    node = nxt if isinstance(nxt, dict) else {}
                node[leaf] = draw(value)
            body = yaml.dump(data, Dumper=yaml.SafeDumper, allow_unicode=True)
            path.write_text(body, encoding="utf-8", errors="surrogatepass")
        else:
            path.write_text(draw(st.sampled_from(HOSTILE_FILES)), encoding="utf-8")
        args += ["--values", str(path)]
    return args


@BUDGET
@given(data=st.data())
def test_generate_holds_for_generated_inputs(data: st.DataObject, tmp_path: Path) -> None:
    args = data.draw(generate_args(tmp_path))
    result = run(args)
    check_invariants(result)
    if result.exit_code == 0:
        check_reads_back(result.stdout)


@BUDGET
@given(name=dns_label, namespace=dns_label)
def test_names_that_pass_are_written_so_every_reader_agrees(name: str, namespace: str) -> None:
    result = run(
        [
            "generate", "--provider", "gcp", "--offline", "--k8s", "1.33", "--values",
            str(REPO / "examples" / "gcp.yaml"), "--name", name, "--namespace", namespace,
            # A fixed network: the default one is named after the cluster and GCE names must
            # start with a letter (a separate test covers that refusal).
            "--set", "gcp.network.name=net",
        ]
    )  # fmt: skip
    check_invariants(result)
    assert result.exit_code == 0, result.output
    check_reads_back(result.stdout)
    for doc in yaml.load_all(result.stdout, Loader=yaml.SafeLoader):
        assert doc["metadata"]["namespace"] == namespace
    cluster = next(d for d in yaml.load_all(result.stdout, Loader=yaml.SafeLoader)
                   if d["kind"] == "Cluster")  # fmt: skip
    assert cluster["metadata"]["name"] == name


yaml_text = st.one_of(
    st.sampled_from(HOSTILE_FILES),
    st.lists(st.sampled_from([*TRICKY, "a:", "- ", "{", "}", "[", "]", ",", " ", "\n", "  "]),
             max_size=12).map("".join),
    st.builds(lambda k, v: f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {k}\ndata:\n"
              f"  k: {v}\n", st.sampled_from(TRICKY), st.sampled_from(TRICKY)),
)  # fmt: skip


@BUDGET
@given(body=yaml_text)
def test_validate_holds_for_generated_yaml(body: str, tmp_path: Path) -> None:
    from crd_fixtures import crds_root

    f = tmp_path / "in.yaml"
    f.write_text(body, encoding="utf-8", errors="surrogatepass")
    result = run(["validate", "--crds", str(crds_root()), str(f)])
    assert result.exit_code in (0, 1, 2), result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exc_info
    assert "Traceback" not in result.output


@BUDGET
@given(body=yaml_text)
def test_apply_from_stdin_holds_for_generated_yaml(body: str) -> None:
    # An unreachable kubeconfig: any document that parses fails with exit 1 or 2, never hangs.
    result = run(["apply", "-f", "-", "--kubeconfig", "/nonexistent"], stdin=body.encode(
        "utf-8", "surrogatepass"))  # fmt: skip
    check_invariants(result)
    assert result.exit_code != 0


@BUDGET
@given(data=st.data())
def test_dump_of_any_strings_reads_back_the_same_everywhere(data: st.DataObject) -> None:
    strings = data.draw(
        st.lists(st.one_of(text, st.text()).filter(lambda s: not _surrogates(s)), max_size=6)
    )
    doc = {s: [s, {s: s}] for s in strings}
    out = yamlio.dump_all([doc])
    assert yaml.load(out, Loader=yaml.SafeLoader) == doc
    assert yamlio.load_all(out, "s") == [doc]
    check_reads_back(out)


def _surrogates(s: str) -> bool:
    return any("\ud800" <= c <= "\udfff" for c in s)


class _ReferenceDumper(yamlio._OutputDumper):  # type: ignore[misc]
    """The output dumper on PyYAML's own generic representer and an uncached resolve: what
    yamlio's direct node building and resolve cache must reproduce byte for byte."""

    represent = yaml.representer.BaseRepresenter.represent
    resolve = yamlio._OutputDumper.resolve_uncached


def _dump_or_error(docs: list[Any], dumper: type[yaml.SafeDumper] | None) -> str:
    options = {**yamlio._OPTIONS, **({"Dumper": dumper} if dumper else {})}
    try:
        out: str = yaml.dump_all(docs, explicit_start=True, **options)
    except (yaml.YAMLError, UnicodeError) as exc:
        return f"error {type(exc).__name__}"
    return out


output_scalar = st.one_of(scalar, text.map(yamlio.DoubleQuoted), st.tuples(text, text))
output_value = st.recursive(
    output_scalar,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.one_of(text, st.integers(), st.booleans()), inner, max_size=4),
    ),
    max_leaves=12,
)


@BUDGET
@given(docs=st.lists(output_value, max_size=3))
def test_fast_dump_writes_what_pyyamls_representer_writes(docs: list[Any]) -> None:
    # Twice: the second dump answers resolve() from the cache the first one filled. The
    # _OutputDumper is what yamlio falls back to for data its own writer leaves (floats here);
    # yamlio.dump_all is the product's path either way.
    expected = _dump_or_error(docs, _ReferenceDumper)
    assert _dump_or_error(docs, None) == expected
    assert _dump_or_error(docs, None) == expected
    try:
        ours = yamlio.dump_all(docs)
    except (yaml.YAMLError, UnicodeError) as exc:
        ours = f"error {type(exc).__name__}"
    assert ours == expected


# Texts for the emitter's own rules: line breaks of every kind in block scalars (kept, clipped,
# stripped, leading), indicators, text long enough that libyaml folds it, keys past the simple-key
# limit, characters that are printable to libyaml and ones that are not.
EMITTER_TRICKY = [
    "a\n", "a\n\n", "\n", "\n\na", " a\nb", "a\n b", "a \nb", "a\nb ", "a\tb\nc", "a\r\nb\n",
    "a\u2028b\n", "- a", "-a", "? a", ": a", "a: b", "a:b", "a #b", "a#b", "---", "--- a", "...",
    "é\n✓", "\U0001f600", "\ufffe", "\xa0", "\x85a", "k" * 129, "é" * 65, "w " * 2100, "w" * 5000,
    "\"'\\",
]  # fmt: skip
emitter_text = st.one_of(
    text,
    st.sampled_from(EMITTER_TRICKY),
    st.builds(lambda a, b: a + b, st.sampled_from(EMITTER_TRICKY), text),
    st.lists(st.sampled_from(["x", " ", "\n", "#", ":", "-", "'", "é", "\t"]), max_size=8).map(
        "".join
    ),
)
emitter_value = st.recursive(
    st.one_of(
        emitter_text,
        emitter_text.map(yamlio.DoubleQuoted),
        st.integers(min_value=-(10**40), max_value=10**40),
        st.booleans(),
        st.none(),
    ),
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.one_of(emitter_text, st.integers(), st.booleans()), inner, max_size=4),
    ),
    max_leaves=16,
)


def _reference(docs: list[Any], explicit_start: bool) -> str | None:
    options = {**yamlio._OPTIONS, "Dumper": _ReferenceDumper}
    try:
        out: str = yaml.dump_all(docs, explicit_start=explicit_start, **options)
    except (yaml.YAMLError, UnicodeError):
        return None
    return out


@settings(BUDGET, max_examples=300)
@given(docs=st.lists(emitter_value, max_size=3), explicit_start=st.booleans())
def test_our_emitter_writes_what_libyaml_writes(docs: list[Any], explicit_start: bool) -> None:
    # Where the emitter takes the data, its bytes are libyaml's through PyYAML's own representer;
    # where it does not (Unsupported), yamlio gives the whole stream to PyYAML.
    reference = _reference(docs, explicit_start)
    try:
        ours = yamlio._EMITTER.stream(docs, explicit_start=explicit_start)
    except yamlemit.Unsupported:
        ours = None
    if ours is not None:
        assert ours == reference
    if explicit_start and reference is not None:
        assert yamlio.dump_all(docs) == reference


def test_generated_clusters_never_leave_our_emitter(monkeypatch: pytest.MonkeyPatch) -> None:
    # The fast path is the path: no document of a generated cluster falls back to PyYAML.
    def fallback(*args: Any, **kwargs: Any) -> str:
        raise AssertionError("yamlio fell back to PyYAML's emitter")

    monkeypatch.setattr(yaml, "dump_all", fallback)
    monkeypatch.setattr(yaml, "dump", fallback)
    for provider in PROVIDERS:
        for fmt in ("cluster", "clusterclass", "clusterctl-template"):
            result = run(["generate", "--provider", provider, "--k8s", "1.33", "--name", "demo",
                          "--values", str(REPO / "examples" / f"{provider}.yaml"), "--offline",
                          "--sysupdate", "--format", fmt])  # fmt: skip
            assert result.exit_code == 0, (result.output, result.exc_info)
