"""The renderer's specification: templates, the data they run over, and what Go's
text/template (with Sprig's hermetic functions and Tinkerbell's four) gives for them.

Every expectation was produced by Go itself (`oracle/main.go`, run by test_go_oracle.py,
which checks them again wherever Go is installed); `differs` marks the few where we
deliberately say something else, and why. An error is (line, message), the message as
Go words it after its `template: NAME:LINE:COL: executing "NAME"` prefix.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class C:
    template: str
    output: str | None = None
    err: tuple[int, str] | None = None
    differs: str = ""  # why our answer is not Go 1.19's, when it is not


DATA: dict[str, Any] = {
    "device_1": "52:54:00:12:34:56",
    "disk": "/dev/sda",
    "s": "Hello, World",
    "empty": "",
    "zero": 0,
    "one": 1,
    "n": 42,
    "neg": -7,
    "pi": 3.5,
    "t": True,
    "f": False,
    "nil": None,
    "list": ["a", "b", "c"],
    "nums": [3, 1, 2],
    "elist": [],
    "map": {"b": 2, "a": 1, "c": "x"},
    "emap": {},
    "nested": {"inner": {"k": "v", "list": [1, 2]}},
    "mixed": [1, "a", None, True, 2.5],
    "html": "<a href='x'>&</a>",
    "multi": "line1\nline2",
    "spaces": "  padded\t\n",
    "csv": "a,b,,c",
    "mac": "AA:BB:CC:DD:EE:FF",
    "ip": "192.168.1.10",
    "mask": "255.255.255.0",
    "yaml": "a: 1\nb: [x, y]\nc: yes\nd: 0600\n",
    "json": '{"a": 1, "b": [true, null], "c": "s"}',
}

CASES = [
    C("plain text", "plain text"),
    C("", ""),
    C("{{.device_1}}", "52:54:00:12:34:56"),
    C("a{{.s}}b", "aHello, Worldb"),
    C("{{ .s }}", "Hello, World"),
    C("{{.nested.inner.k}}", "v"),
    C("{{.nested.inner}}", "map[k:v list:[1 2]]"),
    C("{{.map}}", "map[a:1 b:2 c:x]"),
    C("{{.emap}}", "map[]"),
    C("{{.list}}", "[a b c]"),
    C("{{.elist}}", "[]"),
    C("{{.mixed}}", "[1 a <nil> true 2.5]"),
    C("{{.nil}}", "<no value>"),
    C("{{.t}} {{.f}} {{.zero}} {{.n}} {{.neg}} {{.pi}}", "true false 0 42 -7 3.5"),
    C(
        "{{.}}",
        'map[csv:a,b,,c device_1:52:54:00:12:34:56 disk:/dev/sda elist:[] emap:map[] empty: f:false html:<a href=\'x\'>&</a> ip:192.168.1.10 json:{"a": 1, "b": [true, null], "c": "s"} list:[a b c] mac:AA:BB:CC:DD:EE:FF map:map[a:1 b:2 c:x] mask:255.255.255.0 mixed:[1 a <nil> true 2.5] multi:line1\nline2 n:42 neg:-7 nested:map[inner:map[k:v list:[1 2]]] nil:<nil> nums:[3 1 2] one:1 pi:3.5 s:Hello, World spaces:  padded\t\n t:true yaml:a: 1\nb: [x, y]\nc: yes\nd: 0600\n zero:0]',
    ),
    C("{{.missing}}", err=(1, 'at <.missing>: map has no entry for key "missing"')),
    C("{{.nested.missing}}", err=(1, 'at <.nested.missing>: map has no entry for key "missing"')),
    C(
        "{{.nested.inner.k.deeper}}",
        err=(1, "at <.nested.inner.k.deeper>: can't evaluate field deeper in type interface {}"),
    ),
    C("{{.nil.x}}", err=(1, "at <.nil.x>: nil pointer evaluating interface {}.x")),
    C("{{.list.x}}", err=(1, "at <.list.x>: can't evaluate field x in type interface {}")),
    C("{{.s.Len}}", err=(1, "at <.s.Len>: can't evaluate field Len in type interface {}")),
    C(
        "{{$}}",
        'map[csv:a,b,,c device_1:52:54:00:12:34:56 disk:/dev/sda elist:[] emap:map[] empty: f:false html:<a href=\'x\'>&</a> ip:192.168.1.10 json:{"a": 1, "b": [true, null], "c": "s"} list:[a b c] mac:AA:BB:CC:DD:EE:FF map:map[a:1 b:2 c:x] mask:255.255.255.0 mixed:[1 a <nil> true 2.5] multi:line1\nline2 n:42 neg:-7 nested:map[inner:map[k:v list:[1 2]]] nil:<nil> nums:[3 1 2] one:1 pi:3.5 s:Hello, World spaces:  padded\t\n t:true yaml:a: 1\nb: [x, y]\nc: yes\nd: 0600\n zero:0]',
    ),
    C("{{$.s}}", "Hello, World"),
    C(
        "{{1}} {{-1}} {{+3}} {{0x1F}} {{0o17}} {{017}} {{0b101}} {{1_000}}",
        "1 -1 3 31 15 15 5 1000",
    ),
    C("{{1.5}} {{1e3}} {{1.0}} {{.5}} {{1e21}} {{0x1p-2}}", "1.5 1000 1 0.5 1e+21 0.25"),
    C("{{'a'}} {{'\\n'}} {{'é'}}", "97 10 233"),
    C('{{"quoted\\t\\"x\\""}}', 'quoted\t"x"'),
    C('{{"\\u00e9\\x41\\101"}}', "éAA"),
    C("{{`raw\\n string`}}", "raw\\n string"),
    C("{{`multi\nline`}}", "multi\nline"),
    C("{{true}} {{false}}", "true false"),
    C("{{nil}}", err=(1, "at <nil>: nil is not a command")),
    C("{{08}}", err=(1, 'integer overflow: "08"')),
    C("{{99999999999999999999}}", err=(1, 'integer overflow: "99999999999999999999"')),
    C("a  {{- .s -}}  b", "aHello, Worldb"),
    C("a\n\n{{- .s}}\n\nb", "aHello, World\n\nb"),
    C("a {{- 3}}", "a3"),
    C("{{-3}}", "-3"),
    C("{{3 -}}  x", "3x"),
    C("x {{/* a comment */}} y", "x  y"),
    C("x {{- /* trimmed comment */ -}} y", "xy"),
    C("{{/* multi\nline\ncomment */}}ok", "ok"),
    C("{{/* unclosed }}", err=(1, "unclosed comment")),
    C("{{/* c */ .s}}", err=(1, "comment ends before closing delimiter")),
    C("{{.s /* c */}}", err=(1, 'unexpected "/" in operand')),
    C("{{$x := 1}}{{$x}}", "1"),
    C('{{$x := .s}}{{$x}}{{$x = "y"}}{{$x}}', "Hello, Worldy"),
    C("{{$x := .nested}}{{$x.inner.k}}", "v"),
    C("{{$y}}", err=(1, 'undefined variable "$y"')),
    C("{{$x = 1}}", err=(1, "at <1>: undefined variable: $x")),
    C("{{with $x := .s}}{{$x}}{{end}}{{$x}}", err=(1, 'undefined variable "$x"')),
    C("{{if $x := .s}}{{$x}}{{end}}", "Hello, World"),
    C("{{$x := 1}}{{if true}}{{$x := 2}}{{$x}}{{end}}{{$x}}", "21"),
    C("{{$x := 1}}{{if true}}{{$x = 2}}{{end}}{{$x}}", "2"),
    C(
        "{{range .list}}{{$}}{{end}}",
        'map[csv:a,b,,c device_1:52:54:00:12:34:56 disk:/dev/sda elist:[] emap:map[] empty: f:false html:<a href=\'x\'>&</a> ip:192.168.1.10 json:{"a": 1, "b": [true, null], "c": "s"} list:[a b c] mac:AA:BB:CC:DD:EE:FF map:map[a:1 b:2 c:x] mask:255.255.255.0 mixed:[1 a <nil> true 2.5] multi:line1\nline2 n:42 neg:-7 nested:map[inner:map[k:v list:[1 2]]] nil:<nil> nums:[3 1 2] one:1 pi:3.5 s:Hello, World spaces:  padded\t\n t:true yaml:a: 1\nb: [x, y]\nc: yes\nd: 0600\n zero:0]map[csv:a,b,,c device_1:52:54:00:12:34:56 disk:/dev/sda elist:[] emap:map[] empty: f:false html:<a href=\'x\'>&</a> ip:192.168.1.10 json:{"a": 1, "b": [true, null], "c": "s"} list:[a b c] mac:AA:BB:CC:DD:EE:FF map:map[a:1 b:2 c:x] mask:255.255.255.0 mixed:[1 a <nil> true 2.5] multi:line1\nline2 n:42 neg:-7 nested:map[inner:map[k:v list:[1 2]]] nil:<nil> nums:[3 1 2] one:1 pi:3.5 s:Hello, World spaces:  padded\t\n t:true yaml:a: 1\nb: [x, y]\nc: yes\nd: 0600\n zero:0]map[csv:a,b,,c device_1:52:54:00:12:34:56 disk:/dev/sda elist:[] emap:map[] empty: f:false html:<a href=\'x\'>&</a> ip:192.168.1.10 json:{"a": 1, "b": [true, null], "c": "s"} list:[a b c] mac:AA:BB:CC:DD:EE:FF map:map[a:1 b:2 c:x] mask:255.255.255.0 mixed:[1 a <nil> true 2.5] multi:line1\nline2 n:42 neg:-7 nested:map[inner:map[k:v list:[1 2]]] nil:<nil> nums:[3 1 2] one:1 pi:3.5 s:Hello, World spaces:  padded\t\n t:true yaml:a: 1\nb: [x, y]\nc: yes\nd: 0600\n zero:0]',
    ),
    C("{{if .t}}yes{{end}}", "yes"),
    C("{{if .f}}yes{{else}}no{{end}}", "no"),
    C("{{if .f}}1{{else if .zero}}2{{else if .n}}3{{else}}4{{end}}", "3"),
    C(
        "{{if .empty}}a{{else}}b{{end}}{{if .elist}}a{{else}}b{{end}}{{if .emap}}a{{else}}b{{end}}",
        "bbb",
    ),
    C("{{if .nil}}a{{else}}b{{end}}{{if .map}}a{{else}}b{{end}}{{if .pi}}a{{else}}b{{end}}", "baa"),
    C(
        "{{if .missing}}a{{else}}b{{end}}",
        err=(1, 'at <.missing>: map has no entry for key "missing"'),
    ),
    C("{{if}}{{end}}", err=(1, "missing value for if")),
    C("{{if .t}}unclosed", err=(1, "unexpected EOF")),
    C("{{end}}", err=(1, "unexpected {{end}}")),
    C("{{else}}", err=(1, "unexpected {{else}}")),
    C("{{if .t}}a{{else}}b{{else}}c{{end}}", err=(1, "expected end; found {{else}}")),
    C("{{if .t}}{{end x}}", err=(1, 'unexpected "x" in end')),
    C("{{with .nested.inner}}{{.k}}{{end}}", "v"),
    C("{{with .empty}}a{{else}}b{{end}}", "b"),
    C("{{with .s}}{{.}}{{else}}none{{end}}", "Hello, World"),
    C("{{range .list}}[{{.}}]{{end}}", "[a][b][c]"),
    C("{{range $i, $e := .list}}{{$i}}:{{$e}} {{end}}", "0:a 1:b 2:c "),
    C("{{range $e := .list}}{{$e}}{{end}}", "abc"),
    C("{{range .elist}}x{{else}}empty{{end}}", "empty"),
    C("{{range .map}}{{.}},{{end}}", "1,2,x,"),
    C("{{range $k, $v := .map}}{{$k}}={{$v}};{{end}}", "a=1;b=2;c=x;"),
    C("{{range .nil}}x{{else}}nil{{end}}", "nil"),
    C("{{range .s}}{{.}}{{end}}", err=(1, "at <.s>: range can't iterate over Hello, World")),
    C(
        "{{range .n}}x{{end}}",
        "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
        differs="range over an integer is Go 1.22's (Tinkerbell builds with a newer Go than the oracle's 1.19)",
    ),
    C('{{range .list}}{{if eq . "b"}}{{break}}{{end}}{{.}}{{end}}', "a"),
    C('{{range .list}}{{if eq . "b"}}{{continue}}{{end}}{{.}}{{end}}', "ac"),
    C("{{break}}", err=(1, "{{break}} outside {{range}}")),
    C("{{range .list}}{{end}}{{continue}}", err=(1, "{{continue}} outside {{range}}")),
    C("{{range $i, $e, $z := .list}}{{end}}", err=(1, "too many declarations in range")),
    C("{{range .nested.inner.list}}{{.}}{{end}}", "12"),
    C(
        "{{range $i, $c := .list}}{{range $.list}}{{$i}}{{.}}{{end}};{{end}}",
        "0a0b0c;1a1b1c;2a2b2c;",
    ),
    C('{{"foobar" | contains "foo"}}', "true"),
    C('{{"foobar" | contains "baz"}}', "false"),
    C('{{.s | printf "%s!"}}', "Hello, World!"),
    C('{{.s | printf "%s %s" "x"}}', "x Hello, World"),
    C("{{(index .list 1)}}", "b"),
    C('{{(index .nested "inner").k}}', "v"),
    C('{{index .nested "inner" "k"}}', "v"),
    C("{{.list | len}}", "3"),
    C('{{.s | len | printf "%d"}}', "12"),
    C('{{"x" | .s}}', err=(1, "at <.s>: s is not a method but has arguments")),
    C("{{1 | 2}}", err=(1, "non executable command in pipeline stage 2")),
    C('{{.s | "x"}}', err=(1, "non executable command in pipeline stage 2")),
    C('{{"a" "b"}}', err=(1, 'at <"a">: can\'t give argument to non-function "a"')),
    C("{{.s 1}}", err=(1, "at <.s>: s is not a method but has arguments")),
    C("{{$x := 1}}{{$x 2}}", err=(1, "at <$x>: can't give argument to non-function $x")),
    C("{{(1) 2}}", err=(1, "at <(1) 2>: can't give argument to non-function 1")),
    C("{{(.nested).inner.k}}", "v"),
    C("{{(nil).x}}", err=(1, "at <nil>: nil is not a command")),
    C('{{"x".y}}', err=(1, 'unexpected . after term "\\"x\\""')),
    C("{{1.x}}", err=(1, 'bad number syntax: "1.x"')),
    C("{{(.nested.inner)}}", "map[k:v list:[1 2]]"),
    C("{{ ( index .list 0 ) }}", "a"),
    C("{{print (len .list) (index .list 0)}}", "3a"),
    C(
        '{{and 1 0}} {{and 1 2}} {{and .t .s}} {{or 0 ""}} {{or 0 3}} {{or .f .empty .s}}',
        "0 2 Hello, World  3 Hello, World",
    ),
    C("{{and .f .missing}} {{or .t .missing}}", "false true"),
    C("{{and}}", err=(1, "at <and>: wrong number of args for and: want at least 1 got 0")),
    C("{{not .t}} {{not .empty}} {{not .list}}", "false true false"),
    C("{{not 1 2}}", err=(1, "at <not>: wrong number of args for not: want 1 got 2")),
    C('{{len .s}} {{len .list}} {{len .map}} {{len "é"}}', "12 3 3 2"),
    C("{{len .n}}", err=(1, "at <len .n>: error calling len: len of type int")),
    C("{{len .nil}}", err=(1, "at <len .nil>: error calling len: len of nil pointer")),
    C(
        '{{index .list 0}} {{index .map "a"}} {{index .map "zz"}} {{index .s 0}}',
        "a 1 <no value> 72",
    ),
    C(
        "{{index .list 3}}",
        err=(1, "at <index .list 3>: error calling index: index out of range: 3"),
        differs="Go 1.19 reports reflect's panic; we name the index",
    ),
    C(
        "{{index .list 5}}",
        err=(1, "at <index .list 5>: error calling index: index out of range: 5"),
    ),
    C(
        "{{index .list -1}}",
        err=(1, "at <index .list -1>: error calling index: index out of range: -1"),
    ),
    C(
        '{{index .list "a"}}',
        err=(
            1,
            'at <index .list "a">: error calling index: cannot index slice/array with type string',
        ),
    ),
    C(
        "{{index .map 1}}",
        err=(1, "at <index .map 1>: error calling index: value has type int; should be string"),
    ),
    C(
        "{{index .n 0}}",
        err=(1, "at <index .n 0>: error calling index: can't index item of type int"),
    ),
    C("{{index .nil 0}}", err=(1, "at <index .nil 0>: error calling index: index of untyped nil")),
    C("{{index .list}}", "[a b c]"),
    C(
        "{{slice .list 1}} {{slice .list 1 2}} {{slice .s 0 5}}",
        err=(
            1,
            "at <slice .s 0 5>: error calling slice: list should be type of slice or array but string",
        ),
    ),
    C(
        '{{print}}|{{print 1 2}}|{{print "a" "b"}}|{{print 1 "a" 2}}|{{print .nil}}|{{print .list .map}}',
        "|1 2|ab|1a2|<nil>|[a b c] map[a:1 b:2 c:x]",
    ),
    C('{{println 1 "a"}}', "1 a\n"),
    C('{{printf "%d %s %v %q" .n .s .list .s}}', '42 Hello, World [a b c] "Hello, World"'),
    C(
        '{{printf "%5d|%-5d|%05d|%x|%X|%o|%b|%c|%U" 42 42 42 255 255 8 5 65 65}}',
        "   42|42   |00042|ff|FF|10|101|A|U+0041",
    ),
    C(
        '{{printf "%.2f|%8.3f|%e|%g|%G|%v" .pi .pi 123456.789 0.000001 1e-7 1e100}}',
        "3.50|   3.500|1.234568e+05|1e-06|1E-07|1e+100",
    ),
    C('{{printf "%s|%v|%d" .nil .nil .nil}}', "%!s(<nil>)|<nil>|%!d(<nil>)"),
    C(
        '{{printf "%d" .s}} {{printf "%s" .n}} {{printf "%t" .t}} {{printf "%t" 1}}',
        "%!d(string=Hello, World) %!s(int=42) true %!t(int=1)",
    ),
    C(
        '{{printf "%d %d" 1}} {{printf "%d" 1 2}} {{printf "%!"}} {{printf "%"}} {{printf "100%%"}}',
        "1 %!d(MISSING) 1%!(EXTRA int=2) %!!(MISSING) %!(NOVERB) 100%",
    ),
    C('{{printf "%*d|%-*d|%.*f" 5 1 4 2 2 3.14159}}', "    1|2   |3.14"),
    C('{{printf "%[2]d %[1]d" 1 2}}', "2 1"),
    C(
        '{{printf "%q" "tab\\there\\u00e9\\x01"}} {{printf "%+q" "é"}} {{printf "%#q" "x"}}',
        '"tab\\thereé\\x01" "\\u00e9" `x`',
    ),
    C('{{printf "%x" "hi"}} {{printf "%X" "hi"}} {{printf "%q" 65}}', "6869 6869 'A'"),
    C('{{printf "%v %+v" .map .nested}}', "map[a:1 b:2 c:x] map[inner:map[k:v list:[1 2]]]"),
    C(
        '{{printf "%s" .list}} {{printf "%d" .nums}} {{printf "%q" .list}}',
        '[a b c] [3 1 2] ["a" "b" "c"]',
    ),
    C(
        '{{printf "%6.2s|" "abcdef"}}{{printf "%-6s|" "ab"}}{{printf "%06s" "ab"}}',
        "    ab|ab    |0000ab",
    ),
    C('{{printf "%+d % d %+.1f" 5 5 2.0}}', "+5  5 +2.0"),
    C(
        '{{printf "%T %T %T %T %T" 1 "s" 1.5 .list .map}}',
        "int string float64 []interface {} map[string]interface {}",
    ),
    C("{{printf 1}}", err=(1, "at <1>: expected string; found 1")),
    C(
        '{{eq 1 1}} {{eq 1 2}} {{eq "a" "a"}} {{eq .s "Hello, World"}} {{eq 1 2 3 1}}',
        "true false true true true",
    ),
    C(
        '{{eq .n 42}} {{eq .pi 3.5}} {{eq .t true}} {{ne 1 2}} {{ne "a" "a"}}',
        "true true true true false",
    ),
    C(
        '{{eq 1 "1"}}',
        err=(1, 'at <eq 1 "1">: error calling eq: incompatible types for comparison'),
    ),
    C(
        "{{eq 1.0 1}}",
        err=(1, "at <eq 1.0 1>: error calling eq: incompatible types for comparison"),
    ),
    C(
        "{{eq .list .list}}",
        err=(
            1,
            "at <eq .list .list>: error calling eq: non-comparable type [a b c]: []interface {}",
        ),
    ),
    C(
        '{{eq .nil .nil}} {{eq .missing "x"}}',
        err=(1, 'at <.missing>: map has no entry for key "missing"'),
    ),
    C("{{eq 1}}", err=(1, "at <eq 1>: error calling eq: missing argument for comparison")),
    C(
        '{{lt 1 2}} {{le 2 2}} {{gt 3 2}} {{ge 1 2}} {{lt "a" "b"}} {{lt 1.5 2.5}}',
        "true true true false true true",
    ),
    C(
        '{{lt 1 "a"}}',
        err=(1, 'at <lt 1 "a">: error calling lt: incompatible types for comparison'),
    ),
    C(
        "{{lt true false}}",
        err=(1, "at <lt true false>: error calling lt: invalid type for comparison"),
    ),
    C(
        "{{lt .list .list}}",
        err=(1, "at <lt .list .list>: error calling lt: invalid type for comparison"),
    ),
    C(
        '{{html .html}} {{js .html}} {{urlquery "a b&c=d/é"}}',
        "&lt;a href=&#39;x&#39;&gt;&amp;&lt;/a&gt; \\u003Ca href\\u003D\\'x\\'\\u003E\\u0026\\u003C/a\\u003E a+b%26c%3Dd%2F%C3%A9",
    ),
    C('{{html 1 "a"}} {{js "x\\ny"}}', "1a x\\u000Ay"),
    C("{{nosuchfunc 1}}", err=(1, 'function "nosuchfunc" not defined')),
    C('{{define "T"}}[{{.}}]{{end}}{{template "T" .s}}{{template "T" 1}}', "[Hello, World][1]"),
    C(
        '{{template "missing"}}',
        err=(1, 'at <{{template "missing"}}>: template "missing" not defined'),
    ),
    C('{{block "B" .s}}<{{.}}>{{end}}', "<Hello, World>"),
    C('{{define "T"}}{{$}}{{end}}{{template "T"}}', "<no value>"),
    C(
        '{{ contains "foo" "foobar" }} {{ hasPrefix "foo" "foobar" }} {{ hasSuffix "bar" "foobar" }} {{ hasPrefix "bar" "foobar" }}',
        "true true true false",
    ),
    C('{{ "foobar" | hasSuffix "bar" }} {{ .disk | hasPrefix "/dev/nvme" }}', "true false"),
    C(
        '{{ lower .s }} {{ upper .s }} {{ title "hello big_world-x" }} {{ untitle "Hello World" }}',
        "hello, world HELLO, WORLD Hello Big_world-X hello world",
    ),
    C(
        '{{ trim .spaces }}|{{ trimAll "-" "--x--" }}|{{ trimPrefix "He" .s }}|{{ trimSuffix "ld" .s }}|{{ trimPrefix "zz" .s }}',
        "padded|x|llo, World|Hello, Wor|Hello, World",
    ),
    C('{{ replace "l" "L" .s }} {{ .s | replace "o" "0" }}', "HeLLo, WorLd Hell0, W0rld"),
    C('{{ repeat 3 "ab" }} {{ "x" | repeat 2 }}', "ababab xx"),
    C(
        "{{ substr 0 5 .s }} {{ substr 7 100 .s }} {{ substr -1 3 .s }} {{ trunc 5 .s }} {{ trunc -5 .s }}",
        "Hello World Hel Hello World",
    ),
    C(
        '{{ abbrev 8 .s }} {{ abbrev 20 .s }} {{ initials "hello big world" }} {{ nospace " a b\tc " }}',
        "Hello... Hello, World hbw abc",
    ),
    C(
        '{{ quote "a" 1 .nil "b\\"c" }} {{ squote "a" 2 }} {{ quote }} {{ cat "a" 1 .nil "b" }}',
        '"a" "1" "b\\"c" \'a\' \'2\'  a 1 b',
    ),
    C('{{ indent 2 .multi }}|{{ nindent 2 "x" }}', "  line1\n  line2|\n  x"),
    C('{{ plural "one" "many" 1 }} {{ plural "one" "many" 2 }}', "one many"),
    C(
        '{{ sha1sum "x" }} {{ sha256sum "x" }} {{ adler32sum "x" }}',
        "11f6ad8ec52a2984abaafd7c3b516503785c2072 2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881 7929977",
    ),
    C(
        "{{ toString 1 }} {{ toString .list }} {{ toString .nil }} {{ toString 1.5 }} {{ toString .t }}",
        "1 [a b c] <nil> 1.5 true",
    ),
    C('{{ split "," .csv }} {{ (split "," .csv)._1 }}', "map[_0:a _1:b _2: _3:c] b"),
    C(
        '{{ splitList "," .csv }} {{ splitList "" "abc" }} {{ index (splitList ":" .mac) 0 }}',
        "[a b  c] [a b c] AA",
    ),
    C('{{ splitn "," 2 .csv }}', "map[_0:a _1:b,,c]"),
    C(
        '{{ join "-" .list }} {{ join "," .nums }} {{ join "," "x" }} {{ join "," .mixed }} {{ splitList "," .csv | join "+" }}',
        "a-b-c 3,1,2 x 1,a,true,2.5 a+b++c",
    ),
    C('{{ sortAlpha .list }} {{ sortAlpha (list "b" "a" "C") }}', "[a b c] [C a b]"),
    C(
        '{{ b64enc "hello" }} {{ b64dec "aGVsbG8=" }} {{ b64dec "not base64!" }} {{ b32enc "hi" }} {{ b32dec "NBUQ====" }}',
        "aGVsbG8= hello illegal base64 data at input byte 3 NBUQ==== hi",
    ),
    C(
        '{{ regexMatch "^[a-z]+$" "abc" }} {{ regexMatch "^[a-z]+$" "abc1" }} {{ regexMatch "a(arch|rm)" "aarch64" }} {{ regexMatch "x$" "x\\n" }}',
        "true false true false",
    ),
    C('{{ regexMatch "(" "x" }}', "false"),
    C(
        '{{ regexFind "[0-9]+" "ab12cd34" }} {{ regexFindAll "[0-9]+" "ab12cd34" -1 }} {{ regexFindAll "[0-9]" "1234" 2 }}',
        "12 [12 34] [1 2]",
    ),
    C(
        '{{ regexReplaceAll "a(x*)b" "-ab-axxb-" "${1}W" }} {{ regexReplaceAll "a(x*)b" "-ab-axxb-" "$1W" }} {{ regexReplaceAllLiteral "a(x*)b" "-ab-axxb-" "${1}" }}',
        "-W-xxW- --- -${1}-${1}-",
    ),
    C(
        '{{ regexSplit "z+" "pizza" -1 }} {{ regexSplit "z+" "pizza" 1 }} {{ regexQuoteMeta "1.2*[x]" }}',
        "[pi a] [pizza] 1\\.2\\*\\[x\\]",
    ),
    C(
        '{{ base "/a/b.tar.gz" }} {{ dir "/a/b" }} {{ clean "a//b/../c/." }} {{ ext "/a/b.tar.gz" }} {{ isAbs "/x" }} {{ base "" }} {{ dir "x" }} {{ ext ".bashrc" }}',
        "b.tar.gz /a a/c .gz true . . .bashrc",
    ),
    C(
        '{{ (urlParse "http://u:p@host:80/a%20b?q=1#f").hostname }} {{ (urlParse "http://u:p@host:80/p?q=1#f").host }} {{ (urlParse "http://u:p@host:80/p?q=1#f").userinfo }}',
        "host host:80 u:p",
    ),
    C(
        '{{ default "d" .empty }} {{ default "d" .s }} {{ default "d" .zero }} {{ default "d" .nil }} {{ .empty | default "x" }}',
        "d Hello, World d d x",
    ),
    C('{{ default "d" .missing }}', err=(1, 'at <.missing>: map has no entry for key "missing"')),
    C(
        "{{ empty .empty }} {{ empty .s }} {{ empty .zero }} {{ empty .elist }} {{ empty .emap }} {{ empty .nil }} {{ empty .f }}",
        "true false true true true true true",
    ),
    C(
        '{{ coalesce .empty .zero .s }} {{ coalesce .empty }} {{ all 1 "a" }} {{ all 1 "" }} {{ any 0 "" }} {{ any 0 "x" }}',
        "Hello, World <no value> true false false true",
    ),
    C('{{ ternary "y" "n" true }} {{ ternary "y" "n" .f }} {{ true | ternary "a" "b" }}', "y n a"),
    C('{{ list 1 "a" .nil }} {{ list }} {{ tuple 1 2 }}', "[1 a <nil>] [] [1 2]"),
    C(
        '{{ dict "a" 1 "b" "x" }} {{ dict "odd" }} {{ dict }} {{ (dict "k" "v").k }}',
        "map[a:1 b:x] map[odd:] map[] v",
    ),
    C(
        '{{ get .map "a" }} {{ get .map "zz" }} {{ hasKey .map "a" }} {{ hasKey .map "zz" }}',
        "1  true false",
    ),
    C(
        '{{ keys .map | sortAlpha }} {{ pick .map "a" "zz" }} {{ omit .map "a" }} {{ values .emap }}',
        "[a b c] map[a:1] map[b:2 c:x] []",
    ),
    C(
        '{{ $d := dict "a" 1 }}{{ $_ := set $d "b" 2 }}{{ $d }} {{ unset $d "a" }}',
        "map[a:1 b:2] map[b:2]",
    ),
    C(
        '{{ merge (dict "a" 1) (dict "a" 2 "b" 3) }} {{ mergeOverwrite (dict "a" 1) (dict "a" 2 "b" 3) }}',
        "map[a:1 b:3] map[a:2 b:3]",
    ),
    C(
        '{{ dig "inner" "k" "def" .nested }} {{ dig "inner" "zz" "def" .nested }} {{ pluck "a" .map (dict "a" 9) }}',
        "v def [1 9]",
    ),
    C(
        "{{ first .list }} {{ last .list }} {{ rest .list }} {{ initial .list }} {{ first .elist }} {{ reverse .list }}",
        "a c [b c] [a b] <no value> [c b a]",
    ),
    C(
        '{{ append .list "d" }} {{ prepend .list "z" }} {{ concat .list .nums }} {{ uniq (list 1 1 2 "a" "a") }} {{ without .list "b" }}',
        "[a b c d] [z a b c] [a b c 3 1 2] [1 2 a] [a c]",
    ),
    C(
        '{{ has "b" .list }} {{ has "z" .list }} {{ has 1 .nil }} {{ compact (list 1 0 "" "a" .nil) }}',
        "true false false [1 a]",
    ),
    C("{{ slice .list 1 }} {{ slice .list 0 2 }} {{ chunk 2 .nums }}", "[b c] [a b] [[3 1] [2]]"),
    C(
        '{{ first "abc" }}',
        err=(1, 'at <first "abc">: error calling first: Cannot find first on type string'),
    ),
    C(
        "{{ add 1 2 3 }} {{ add1 5 }} {{ sub 10 3 }} {{ mul 2 3 4 }} {{ div 7 2 }} {{ div -7 2 }} {{ mod -7 2 }} {{ max 1 9 3 }} {{ min 4 2 8 }}",
        "6 6 7 24 3 -3 -1 9 2",
    ),
    C('{{ add "3" 1.9 true .nil }} {{ add "0x10" "010" "08" "1.0" "1.5" }}', "5 25"),
    C(
        "{{ div 1 0 }}",
        err=(1, "at <div 1 0>: error calling div: runtime error: integer divide by zero"),
    ),
    C(
        "{{ addf 1.5 2 }} {{ subf 1.5 0.25 }} {{ mulf 1.5 2 }} {{ divf 1 3 }} {{ add1f 0.1 }} {{ maxf 1 2.5 }} {{ minf 1 2.5 }}",
        "3.5 1.25 3 0.3333333333333333 1.1 2.5 1",
    ),
    C("{{ floor 1.5 }} {{ ceil 1.2 }} {{ round 1.2345 2 }} {{ round 2.5 0 }}", "1 2 1.23 3"),
    C(
        '{{ int "42" }} {{ int 3.9 }} {{ int "x" }} {{ int64 "12" }} {{ float64 "1.5" }} {{ float64 3 }} {{ atoi "12" }} {{ atoi "1x" }} {{ atoi "+5" }} {{ toDecimal "0777" }} {{ toDecimal 10 }}',
        "42 3 0 12 1.5 3 12 0 5 511 8",
    ),
    C(
        "{{ until 3 }} {{ untilStep 1 10 3 }} {{ untilStep 5 0 -2 }} {{ seq 3 }} {{ seq 2 5 }} {{ seq 0 2 10 }} {{ seq 5 2 }}",
        "[0 1 2] [1 4 7] [5 3 1] 1 2 3 2 3 4 5 0 2 4 6 8 10 5 4 3 2",
    ),
    C("{{ range $i := until 3 }}{{ $i }}{{ end }}", "012"),
    C(
        "{{ toJson .map }} {{ toJson .list }} {{ toJson .nil }} {{ toJson .html }} {{ toRawJson .html }} {{ toJson 1.5 }} {{ toJson 1e21 }} {{ toJson 0.0000001 }}",
        '{"a":1,"b":2,"c":"x"} ["a","b","c"] null "\\u003ca href=\'x\'\\u003e\\u0026\\u003c/a\\u003e" "<a href=\'x\'>&</a>" 1.5 1e+21 1e-7',
    ),
    C(
        "{{ toPrettyJson .nested }}",
        '{\n  "inner": {\n    "k": "v",\n    "list": [\n      1,\n      2\n    ]\n  }\n}',
    ),
    C(
        '{{ (fromJson .json).a }} {{ (fromJson .json).b }} {{ fromJson "bad" }} {{ typeOf (fromJson .json).a }}',
        "1 [true <nil>] <no value> float64",
    ),
    C(
        '{{ mustFromJson "bad" }}',
        err=(
            1,
            "at <mustFromJson \"bad\">: error calling mustFromJson: invalid character 'b' looking for beginning of value",
        ),
    ),
    C(
        '{{ typeOf 1 }} {{ typeOf "s" }} {{ typeOf .list }} {{ typeOf .map }} {{ typeOf 1.5 }} {{ typeOf .nil }} {{ kindOf .list }} {{ kindOf .map }} {{ kindOf 1 }} {{ kindIs "string" "x" }} {{ typeIs "int" 1 }}',
        "int string []interface {} map[string]interface {} float64 <nil> slice map int true true",
    ),
    C("{{ deepEqual .list .list }} {{ deepEqual 1 1.0 }}", "true false"),
    C('{{ fail "boom" }}', err=(1, 'at <fail "boom">: error calling fail: boom')),
    C("{{ $l := list }}{{ range .list }}{{ $l = append $l . }}{{ end }}{{ $l }}", "[a b c]"),
    C(
        '{{ formatPartition "/dev/sda" 1 }} {{ formatPartition "/dev/nvme0n1" 2 }} {{ formatPartition "/dev/loop3" 1 }} {{ formatPartition "/dev/disk/by-id/wwn-0x5" 3 }} {{ formatPartition "/dev/vda" 15 }}',
        "/dev/sda1 /dev/nvme0n1p2 /dev/loop3p1 /dev/disk/by-id/wwn-0x5-part3 /dev/vda15",
    ),
    C("{{ formatPartition .disk 1 }} {{ formatPartition ( index .list 0 ) 1 }}", "/dev/sda1 a1"),
    C('{{ formatPartition .disk "1" }}', err=(1, 'at <"1">: expected integer; found "1"')),
    C("{{ formatPartition .disk .n }}", "/dev/sda42"),
    C(
        "{{ formatPartition .disk }}",
        err=(1, "at <formatPartition>: wrong number of args for formatPartition: want 2 got 1"),
    ),
    C(
        '{{ netmaskToPrefixLength "255.255.255.0" }} {{ netmaskToPrefixLength "255.255.0.0" }} {{ netmaskToPrefixLength "255.255.255.255" }} {{ netmaskToPrefixLength "0.0.0.0" }} {{ netmaskToPrefixLength "255.0.255.0" }}',
        "24 16 32 0 0",
    ),
    C(
        '{{ netmaskToPrefixLength "nope" }}',
        err=(
            1,
            'at <netmaskToPrefixLength "nope">: error calling netmaskToPrefixLength: invalid netmask format: nope',
        ),
    ),
    C(
        '{{ netmaskToPrefixLength "fe80::1" }}',
        err=(
            1,
            'at <netmaskToPrefixLength "fe80::1">: error calling netmaskToPrefixLength: netmask must be IPv4: fe80::1',
        ),
    ),
    C("{{ toYaml .nested }}", "inner:\n  k: v\n  list:\n  - 1\n  - 2"),
    C("{{ toYaml .map }}", "a: 1\nb: 2\nc: x"),
    C(
        '{{ toYaml (dict "mode" "0600" "on" "yes" "t" "true" "e" "" "m" .mac "s" "plain" "c" "a: b" "ml" .multi "n" 5 "f" 1.5 "l" .list "nil" .nil "el" .elist) }}',
        'c: \'a: b\'\ne: ""\nel: []\nf: 1.5\nl:\n- a\n- b\n- c\nm: AA:BB:CC:DD:EE:FF\nml: |-\n  line1\n  line2\nmode: "0600"\n"n": 5\nnil: null\n"on": "yes"\ns: plain\nt: "true"',
    ),
    C(
        '{{ toYaml "hello" }}|{{ toYaml 5 }}|{{ toYaml .nil }}|{{ toYaml .emap }}|{{ toYaml .list }}',
        "hello|5|null|{}|- a\n- b\n- c",
    ),
    C('{{ toYaml (dict "a10" 1 "a9" 2 "B" 3 "_x" 4 "a" 5) }}', "_x: 4\nB: 3\na: 5\na9: 2\na10: 1"),
    C(
        "{{ (fromYaml .yaml).a }} {{ (fromYaml .yaml).b }} {{ (fromYaml .yaml).c }} {{ (fromYaml .yaml).d }} {{ typeOf (fromYaml .yaml).a }}",
        "1 [x true] true 384 float64",
    ),
    C(
        '{{ fromYaml "" }}',
        err=(1, 'at <fromYaml "">: error calling fromYaml: fromYaml: empty YAML input'),
    ),
    C(
        '{{ fromYaml "a: [" }}',
        err=(
            1,
            "at <fromYaml \"a: [\">: error calling fromYaml: fromYaml: error converting YAML to JSON: yaml: line 1: expected the node content, but found '<stream end>'",
        ),
        differs="the YAML parser's own wording",
    ),
    C("{{ toYaml (fromYaml .yaml) }}", "a: 1\nb:\n- x\n- true\nc: true\nd: 384"),
    C("{{", err=(1, "unclosed action")),
    C("{{.s", err=(1, "unclosed action")),
    C("{{.s}", err=(1, "bad character U+007D '}'")),
    C("}}", "}}"),
    C("{{ ( .s }}", err=(1, "unclosed left paren")),
    C("{{ .s ) }}", err=(1, 'unexpected ")" in command')),
    C('{{ "unterminated }}', err=(1, "unterminated quoted string")),
    C("{{ `unterminated }}", err=(1, "unterminated raw quoted string")),
    C("{{ 'ab' }}", err=(1, "malformed character constant: 'ab'")),
    C("{{ .s# }}", err=(1, "bad character U+0023 '#'")),
    C("{{ 1a }}", err=(1, 'bad number syntax: "1a"')),
    C("{{ 1.2.3 }}", err=(1, 'unexpected ".3" in operand')),
    C("{{ $x := }}", err=(1, "missing value for command")),
    C("{{ := 1 }}", err=(1, 'unexpected ":=" in command')),
    C("{{ $x, $y := 1 }}", err=(1, "too many declarations in command")),
    C("{{ range $x, 1 }}{{end}}", err=(1, "range can only initialize variables")),
    C("{{ .s | }}", "Hello, World"),
    C("{{ | .s }}", err=(1, 'unexpected "|" in command')),
    C("{{ .s ! }}", err=(1, 'unexpected "!" in operand')),
    C("{{ with }}{{ end }}", err=(1, "missing value for with")),
    C("{{ template }}", err=(1, 'unexpected "}}" in template clause')),
    C('{{ define "x" }}', err=(1, "unexpected EOF")),
    C(
        '{{ "\\q" }}',
        err=(1, 'invalid syntax in string "\\q": unknown escape \\q'),
        differs="we say which escape is bad",
    ),
    C("{{ if .t }}\n{{ else }}\n{{ .s x }}\n{{ end }}", err=(3, 'function "x" not defined')),
    C("line1\nline2 {{ .missing }}", err=(2, 'at <.missing>: map has no entry for key "missing"')),
    C(
        "line1\n  {{ if .t }}\n    {{ index .list 9 }}\n  {{ end }}",
        err=(3, "at <index .list 9>: error calling index: index out of range: 9"),
    ),
]
