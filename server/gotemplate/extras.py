"""The functions Tinkerbell adds to Sprig's (tink/controller/internal/workflow/template_funcs.go):
`formatPartition`, `netmaskToPrefixLength`, `toYaml`, `fromYaml`.

`toYaml` is sigs.k8s.io/yaml's Marshal: the value goes through encoding/json first (so
structs appear under their json names, numbers as JSON has them), then out as yaml.v2
writes it: keys in yaml.v2's natural order, a string that would read back as something
else ("0600", "true", "", a MAC) double-quoted, a multi-line string as a `|` block.
`fromYaml` is its Unmarshal: YAML 1.1 scalars, then JSON's types (every number a float64).
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Callable
from typing import Any

import yaml

from server.gotemplate.errors import FuncError
from server.gotemplate.funcs import Func, f
from server.gotemplate.gojson import marshal
from server.gotemplate.printing import format_float


def format_partition(device: str, partition: int) -> str:
    """`/dev/disk/…` → `…-partN`; a name ending in a digit → `…pN`; else `…N`."""
    if device.startswith("/dev/disk/"):
        return f"{device}-part{partition}"
    if device and device[-1] in "0123456789":
        return f"{device}p{partition}"
    return f"{device}{partition}"


def netmask_to_prefix_length(netmask: str) -> str:
    try:
        address = ipaddress.ip_address(netmask)
    except ValueError:
        raise FuncError(f"invalid netmask format: {netmask}") from None
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is None:
            raise FuncError(f"netmask must be IPv4: {netmask}")
        address = address.ipv4_mapped
    bits = format(int(address), "032b")
    ones = len(bits) - len(bits.lstrip("1"))
    return str(ones) if "1" not in bits[ones:] else "0"


# toYaml


_V2_BOOLS = frozenset(
    [
        "y",
        "Y",
        "yes",
        "Yes",
        "YES",
        "n",
        "N",
        "no",
        "No",
        "NO",
        "true",
        "True",
        "TRUE",
        "false",
        "False",
        "FALSE",
        "on",
        "On",
        "ON",
        "off",
        "Off",
        "OFF",
    ]
)
_V2_SPECIAL = frozenset(
    {
        "",
        "~",
        "null",
        "Null",
        "NULL",
        "<<",
        ".inf",
        ".Inf",
        ".INF",
        "+.inf",
        "+.Inf",
        "+.INF",
        "-.inf",
        "-.Inf",
        "-.INF",
        ".nan",
        ".NaN",
        ".NAN",
    }
)
_V2_FLOAT = re.compile(r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?")
_V2_BASE60 = re.compile(r"[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?")
_V2_INT = re.compile(r"[-+]?(0b[01_]+|0x[0-9a-fA-F_]+|0o?[0-7_]*|[1-9][0-9_]*)")
_V2_TIMESTAMP = re.compile(
    r"\d{4}-\d{1,2}-\d{1,2}(?:[Tt ]\d{1,2}:\d{1,2}:\d{1,2}(?:\.\d+)?(?:Z|[-+]\d{2}:\d{2})?)?"
)


def _reads_as_other(text: str) -> bool:
    """Would yaml.v2 read this plain scalar as something other than a string?"""
    if text in _V2_BOOLS or text in _V2_SPECIAL:
        return True
    if text[:1] not in tuple("0123456789+-."):
        return False
    plain = text.replace("_", "")
    return bool(
        _V2_INT.fullmatch(plain)
        or _V2_FLOAT.fullmatch(plain)
        or _V2_BASE60.fullmatch(text)
        or _V2_TIMESTAMP.fullmatch(text)
    )


def _key_order(key: str) -> tuple[Any, ...]:
    """yaml.v2's keyList.Less as a sort key: digit runs compare by value, and a letter sorts
    after anything that is not a letter."""
    parts: list[Any] = []
    for run in re.findall(r"\d+|\D", key):
        if run.isdigit():
            parts.append((1, int(run), len(run)))
        else:
            parts.append((2 if run.isalpha() else 0, ord(run), 0))
    return tuple(parts)


class _Dumper(yaml.BaseDumper):
    def ignore_aliases(self, data: Any) -> bool:
        return True  # JSON has no aliases: a value used twice is written twice


def _str(dumper: yaml.BaseDumper, text: str) -> yaml.Node:
    style = "|" if "\n" in text else '"' if _reads_as_other(text) else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", text, style=style)


def _scalar(text: Callable[[Any], str]) -> Any:
    return lambda dumper, value: dumper.represent_scalar("tag:yaml.org,2002:str", text(value))


_Dumper.add_representer(str, _str)
_Dumper.add_representer(bool, _scalar(lambda v: "true" if v else "false"))
_Dumper.add_representer(int, _scalar(str))
_Dumper.add_representer(float, _scalar(format_float))
_Dumper.add_representer(type(None), _scalar(lambda v: "null"))
_Dumper.add_representer(list, lambda d, v: d.represent_sequence("tag:yaml.org,2002:seq", v))
_Dumper.add_representer(
    dict,
    lambda d, v: d.represent_mapping(
        "tag:yaml.org,2002:map", sorted(v.items(), key=lambda kv: _key_order(kv[0]))
    ),
)


def to_yaml(value: Any) -> str:
    try:
        plain = json.loads(marshal(value))
    except FuncError as err:
        raise FuncError(f"toYaml: error marshaling into JSON: {err}") from None
    if isinstance(plain, dict | list) and plain:
        text = yaml.dump(
            plain,
            Dumper=_Dumper,
            default_flow_style=False,
            sort_keys=False,
            allow_unicode=True,
            width=2**31 - 1,
        )
        return text.removesuffix("\n")
    if isinstance(plain, dict | list):
        return "{}" if isinstance(plain, dict) else "[]"
    # a lone scalar: what the dumper would write, without PyYAML's "..." document end
    text = yaml.dump(plain, Dumper=_Dumper, allow_unicode=True, width=2**31 - 1)
    return text.removesuffix("\n...\n").removesuffix("\n")


# fromYaml


class _Loader(yaml.SafeLoader):
    """YAML 1.1 as yaml.v2 reads it into interface{}; timestamps stay strings."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_BOOL_1_1 = re.compile(
    r"y|Y|yes|Yes|YES|n|N|no|No|NO|true|True|TRUE|false|False|FALSE"
    r"|on|On|ON|off|Off|OFF"
)
for _first in "yYnN":
    _Loader.yaml_implicit_resolvers.setdefault(_first, [])
    _Loader.yaml_implicit_resolvers[_first] = [
        (tag, rx)
        for tag, rx in _Loader.yaml_implicit_resolvers[_first]
        if tag != "tag:yaml.org,2002:bool"
    ] + [("tag:yaml.org,2002:bool", _BOOL_1_1)]


def _bool_1_1(loader: yaml.SafeLoader, node: yaml.Node) -> bool:
    assert isinstance(node, yaml.ScalarNode)
    return str(loader.construct_scalar(node)).lower() in ("y", "yes", "true", "on")


_Loader.add_constructor("tag:yaml.org,2002:bool", _bool_1_1)

MAX_YAML_NODES = 100_000


def _count(node: yaml.Node, budget: list[int]) -> None:
    budget[0] -= 1
    if budget[0] < 0:
        raise FuncError(
            f"fromYaml: document has more than {MAX_YAML_NODES} nodes (aliases "
            "included); refusing it"
        )
    if isinstance(node, yaml.SequenceNode):
        for item in node.value:
            _count(item, budget)
    elif isinstance(node, yaml.MappingNode):
        for key, item in node.value:
            _count(key, budget)
            _count(item, budget)


def _jsonable(value: Any) -> Any:
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, dict):
        return {_key(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, bytes):
        import base64

        return base64.b64encode(value).decode()
    return str(value)


def _key(key: Any) -> str:
    if isinstance(key, bool):
        return "true" if key else "false"
    if isinstance(key, float):
        return format_float(key)
    if key is None:
        return "null"
    return str(key)


def from_yaml(text: str) -> Any:
    if text == "":
        raise FuncError("fromYaml: empty YAML input")
    try:
        loader = _Loader(text)
        try:
            node = loader.get_single_node()
            if node is None:
                return None
            _count(node, [MAX_YAML_NODES])
            value = loader.construct_document(node)
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as err:
        line = err.problem_mark.line + 1 if err.problem_mark else 0
        raise FuncError(
            f"fromYaml: error converting YAML to JSON: yaml: line {line}: {err.problem}"
        ) from None
    except yaml.YAMLError as err:
        raise FuncError(f"fromYaml: error converting YAML to JSON: yaml: {err}") from None
    except RecursionError:
        raise FuncError("fromYaml: document is nested too deeply") from None
    return _jsonable(value)


TINKERBELL_FUNCS: dict[str, Func] = {
    "formatPartition": f(format_partition, "string", "int"),
    "netmaskToPrefixLength": f(netmask_to_prefix_length, "string"),
    "toYaml": f(to_yaml, "any"),
    "fromYaml": f(from_yaml, "string"),
}
