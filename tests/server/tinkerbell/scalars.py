"""How a YAML scalar reads into Tinkerbell's fields, as gopkg.in/yaml.v3 reads it: the
table test_yaml_scalars.py checks us against, and test_yaml_oracle.py checks against Go."""

from __future__ import annotations

# An environment value (map[string]string): the scalar's text exactly as written.
ENVIRONMENT = [
    ("0600", "0600"),
    ("0755", "0755"),
    ("true", "true"),
    ("True", "True"),
    ("yes", "yes"),
    ("off", "off"),
    ("0", "0"),
    ("1.50", "1.50"),
    ("1e3", "1e3"),
    ("0x1F", "0x1F"),
    ("-7", "-7"),
    (".inf", ".inf"),
    ("2001-12-14", "2001-12-14"),
    ("99999999999999999999999", "99999999999999999999999"),
    ("3c:ec:ef:4c:4f:54", "3c:ec:ef:4c:4f:54"),
    ("1:30", "1:30"),
    ("~", ""),
    ("null", ""),
    ("Null", ""),
    ("", ""),
    ('"null"', "null"),
    ("'0600'", "0600"),
    ('"a\\tb"', "a\tb"),
    ("'it''s'", "it's"),
    ("plain words here", "plain words here"),
    ("http://10.1.1.11:8080/image.raw.gz", "http://10.1.1.11:8080/image.raw.gz"),
    ("/bin/sh -c", "/bin/sh -c"),
    ("|\n            line1\n            line2", "line1\nline2\n"),
    ("|-\n            line1\n            line2", "line1\nline2"),
    (">\n            folded\n            text", "folded text\n"),
    ("!!str 5", "5"),
]

# A timeout (int64): a plain integer; 0600 is octal as Go's base-0 parse makes it.
TIMEOUT = [
    ("600", 600),
    ("0600", 384),
    ("0x10", 16),
    ("0o17", 15),
    ("1_000", 1000),
    ("60.0", 60),
    ("~", 0),
    ("", 0),
    ("+5", 5),
]

# A timeout that is not an integer: refused (Go: "cannot unmarshal !!str `600` into int64").
TIMEOUT_REFUSED = ['"600"', "ten", "true", "[1]", "{a: 1}"]
