"""Go's text/template, as Tinkerbell renders workflow templates with it.

    render(text, data, *, limit=256 * 1024) -> str       raises TemplateError
    check(text) -> None                                   parse only (upload-time syntax)

What a template may use: the whole action language of text/template — `{{.device_1}}`,
field chains, `$x := …`, `$`, `if / else if / else / end`, `range` (with `$i, $e :=`,
`else`, `break`, `continue`, over a slice, a map, or an integer), `with` (`else with`),
`define` / `template` / `block`, comments, `{{- -}}` trimming, raw strings — Go's
predefined functions (`and or not len index slice print printf println eq ne lt le gt ge
html js urlquery`), Sprig's hermetic functions (`contains "foo" "foobar"` order) and
Tinkerbell's additions (`formatPartition`, `netmaskToPrefixLength`, `toYaml`, `fromYaml`).
Rendering is `missingkey=error`, as Tinkerbell's: a missing map key is an error naming the
key, its line and its column; `missing_key_error=False` gives Go's default (`<no value>`).

Data is plain Python (`str`, `int`, `float`, `bool`, `None`, `list`/`tuple`, `dict`), plus
`Struct` for a Go struct (fields by Go name, e.g. `.Hardware.Interfaces`) and `Nil` for a
typed nil pointer; see `values.py`. Output past `limit` bytes is an error, never a
truncation. Not provided: Sprig's non-deterministic, clock, crypto and semver functions
(naming one is a parse error saying so) and `call`.
"""

from __future__ import annotations

from typing import Any

from server.gotemplate.builtins import BUILTINS
from server.gotemplate.errors import TemplateError, position
from server.gotemplate.execute import Executor
from server.gotemplate.extras import TINKERBELL_FUNCS
from server.gotemplate.funcs import Func, FuncMap
from server.gotemplate.output import Rendered
from server.gotemplate.parser import Parsed, parse
from server.gotemplate.sprig_collections import COLLECTION_FUNCS
from server.gotemplate.sprig_data import DATA_FUNCS
from server.gotemplate.sprig_regex import REGEX_FUNCS
from server.gotemplate.sprig_strings import STRING_FUNCS
from server.gotemplate.values import MISSING, Nil, Probe, ProbeMap, Struct

__all__ = [
    "FUNCS",
    "MISSING",
    "Func",
    "Nil",
    "Probe",
    "ProbeMap",
    "Rendered",
    "Struct",
    "TemplateError",
    "check",
    "parse_template",
    "render",
    "render_traced",
]

DEFAULT_LIMIT = 256 * 1024

# Later tables win, as template.Funcs() does: Sprig's `slice` replaces Go's.
FUNCS: FuncMap = {
    **BUILTINS,
    **STRING_FUNCS,
    **REGEX_FUNCS,
    **DATA_FUNCS,
    **COLLECTION_FUNCS,
    **TINKERBELL_FUNCS,
}

# In Sprig's hermetic map, but not here: they read a clock or randomness, or make keys.
NOT_PROVIDED = frozenset(
    [
        "ago",
        "duration",
        "durationRound",
        "toDate",
        "mustToDate",
        "unixEpoch",
        "randInt",
        "shuffle",
        "wrap",
        "wrapWith",
        "swapcase",
        "snakecase",
        "camelcase",
        "kebabcase",
        "abbrevboth",
        "semver",
        "semverCompare",
        "bcrypt",
        "htpasswd",
        "genPrivateKey",
        "derivePassword",
        "buildCustomCert",
        "genCA",
        "genCAWithKey",
        "genSelfSignedCert",
        "genSelfSignedCertWithKey",
        "genSignedCert",
        "genSignedCertWithKey",
        "encryptAES",
        "decryptAES",
        "must_date_modify",
        "mustDateModify",
        "hello",
    ]
)


class _Names:
    """The function names the parser accepts; naming a Sprig function we leave out says so."""

    def __init__(self, funcs: FuncMap) -> None:
        self.funcs = funcs

    def __contains__(self, name: object) -> bool:
        if isinstance(name, str) and name in NOT_PROVIDED and name not in self.funcs:
            raise _NotProvided(name)
        return name in self.funcs


class _NotProvided(Exception):
    pass


def parse_template(text: str, funcs: FuncMap = FUNCS) -> Parsed:
    """Parse `text`; a syntax error raises TemplateError with its line and column."""
    try:
        return parse(text, _Names(funcs))
    except _NotProvided as missing:
        name = missing.args[0]
        offset = text.find(name)
        line, column = position(text, max(offset, 0))
        raise TemplateError(
            f"function {name!r} is one of Sprig's that metalinit does not "
            "provide (clock, randomness, keys or semver)",
            line,
            column,
        ) from None


def check(text: str) -> None:
    """Raise TemplateError if `text` does not parse as a template."""
    parse_template(text)


def render(
    text: str,
    data: Any,
    *,
    limit: int = DEFAULT_LIMIT,
    missing_key_error: bool = True,
    funcs: FuncMap = FUNCS,
) -> str:
    """Render a Go template over `data`; any failure raises TemplateError."""
    return render_traced(
        text, data, limit=limit, missing_key_error=missing_key_error, funcs=funcs
    ).text


def render_traced(
    text: str,
    data: Any,
    *,
    limit: int = DEFAULT_LIMIT,
    missing_key_error: bool = True,
    funcs: FuncMap = FUNCS,
) -> Rendered:
    """`render`, keeping where each output line came from in the template."""
    parsed = parse_template(text, funcs)
    return Executor(parsed, funcs, missing_key_error, limit).run(data)
