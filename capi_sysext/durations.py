"""The one duration grammar: values keys (kured.drainTimeout, healthChecks.*), `apply --timeout`
and `--max-age` all read durations through `parse_seconds`; `format_duration` writes them.

Grammar: one or more `<number><unit>` parts, units h, m and s as Go's time.ParseDuration
spells them (1h30m, 90s; case-insensitive). Values keys stay within that: Kured and CAPI are Go
programs and our output echoes their spelling. Command-line flags also take `human` forms: d and
min units and a space before the unit (2d, 90min, `24 h`), and with `bare_seconds` a plain
number (3600). Numbers are ASCII digits of bounded length: `re`'s \\d and float() also take
other scripts' digits, and an unbounded count invites int('9' * 5000).
"""

import re

DAY = 86400
_UNITS = {"d": DAY, "h": 3600, "m": 60, "min": 60, "s": 1}
_NUMBER = r"[0-9]{1,9}(?:\.[0-9]{1,6})?"
_GO = re.compile(rf"(?:{_NUMBER}(?:h|m|s))+")
_HUMAN = re.compile(rf"(?:[ ]*{_NUMBER}[ ]*(?:d|h|min|m|s)(?![a-z]))+[ ]*")
_PART = re.compile(rf"({_NUMBER})[ ]*(d|h|min|m|s)")
_BARE = re.compile(rf"[ ]*{_NUMBER}[ ]*")


def parse_seconds(
    text: object, *, human: bool = False, bare_seconds: bool = False, fractions: bool = False
) -> float | None:
    """Seconds of `text`, or None when it is not a duration (the caller says why, in its words).

    `fractions` allows `1.5h` (and `0.5` with `bare_seconds`); without it numbers are whole.
    """
    if not isinstance(text, str):
        return None
    text = text.lower()
    if not fractions and "." in text:
        return None
    if bare_seconds and _BARE.fullmatch(text):
        return float(text)
    if not (_HUMAN if human else _GO).fullmatch(text):
        return None
    return float(sum(float(n) * _UNITS[u] for n, u in _PART.findall(text)))


def format_duration(seconds: int) -> str:
    """Seconds as a compact Go duration (1h30m, 45s, 0s); Go's time.ParseDuration reads it."""
    if seconds == 0:
        return "0s"
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return "".join(f"{n}{u}" for n, u in ((hours, "h"), (minutes, "m"), (secs, "s")) if n)
