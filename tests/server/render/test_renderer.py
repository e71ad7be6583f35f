"""What the table cannot hold: Go structs and typed nils, the limits that protect the
server from a template, missingkey=default, placeholder data, and line tracing."""

from __future__ import annotations

import pytest

from server.gotemplate import (
    Nil,
    Probe,
    ProbeMap,
    Struct,
    TemplateError,
    check,
    render,
    render_traced,
)
from server.gotemplate.execute import MAX_STEPS

DHCP = Struct(
    "v1alpha1.DHCP",
    {"MAC": "aa:bb:cc:dd:ee:ff", "IP": Nil("*v1alpha1.IP"), "Arch": "x86_64"},
    {"MAC": "mac,omitempty", "IP": "ip,omitempty", "Arch": "arch,omitempty"},
)
DATA = {
    "Iface": Struct("v1alpha1.Interface", {"DHCP": DHCP, "Netboot": Nil("*v1alpha1.Netboot")}),
    "list": [DHCP],
}


@pytest.mark.parametrize(
    ("template", "output"),
    [
        ("{{ .Iface.DHCP.MAC }}", "aa:bb:cc:dd:ee:ff"),
        ("{{ (index .list 0).Arch }}", "x86_64"),
        ("{{ .Iface.DHCP }}", "{aa:bb:cc:dd:ee:ff <nil> x86_64}"),
        ('{{ printf "%+v" .Iface.DHCP }}', "{MAC:aa:bb:cc:dd:ee:ff IP:<nil> Arch:x86_64}"),
        ("{{ .Iface.Netboot }}", "<nil>"),
        ("{{ if .Iface.Netboot }}y{{ else }}n{{ end }}{{ if .Iface }}y{{ end }}", "ny"),
        ("{{ with .Iface.DHCP }}{{ .Arch }}{{ end }}", "x86_64"),
        ("{{ toJson .Iface.DHCP }}", '{"mac":"aa:bb:cc:dd:ee:ff","arch":"x86_64"}'),
        ("{{ eq .Iface.Netboot nil }}", "true"),
        ("{{ empty .Iface.Netboot }} {{ empty .Iface }}", "true false"),
    ],
)
def test_structs_and_typed_nils_behave_as_in_go(template: str, output: str) -> None:
    assert render(template, DATA) == output


@pytest.mark.parametrize(
    ("template", "message"),
    [
        (
            "{{ .Iface.DHCP.IP.Address }}",
            "at <.Iface.DHCP.IP.Address>: nil pointer evaluating *v1alpha1.IP.Address",
        ),
        (
            "{{ .Iface.DHCP.Nope }}",
            "at <.Iface.DHCP.Nope>: can't evaluate field Nope in type v1alpha1.DHCP",
        ),
        (
            "{{ .Iface.Netboot.AllowPXE }}",
            "at <.Iface.Netboot.AllowPXE>: nil pointer evaluating *v1alpha1.Netboot.AllowPXE",
        ),
        (
            '{{ "x" | .Iface.DHCP.MAC }}',
            "at <.Iface.DHCP.MAC>: MAC has arguments but cannot be invoked as function",
        ),
        (
            "{{ range .Iface }}{{ end }}",
            "at <.Iface>: range can't iterate over {{aa:bb:cc:dd:ee:ff <nil> x86_64} <nil>}",
        ),
    ],
)
def test_struct_errors_are_gos(template: str, message: str) -> None:
    with pytest.raises(TemplateError) as caught:
        render(template, DATA)
    assert caught.value.message == message


def test_output_limit_is_an_error_not_a_truncation() -> None:
    assert len(render('{{ repeat 1000 "x" }}', {}, limit=1000)) == 1000
    with pytest.raises(TemplateError, match="rendered template exceeds 1000 bytes"):
        render('{{ repeat 1001 "x" }}', {}, limit=1000)
    with pytest.raises(TemplateError, match="exceeds 262144 bytes"):
        render('{{ range until 300 }}{{ repeat 1000 "é" }}{{ end }}', {})  # é is two bytes


def test_runaway_loops_and_values_are_stopped() -> None:
    with pytest.raises(TemplateError, match=f"more than {MAX_STEPS}"):
        render("{{ range 100000000 }}{{ end }}", {})
    with pytest.raises(TemplateError, match=r"more than .* steps"):
        render("{{ range until 1000000 }}{{ end }}", {})
    with pytest.raises(TemplateError, match="error calling repeat: result would be"):
        render('{{ repeat 100000000 "xx" }}', {})
    with pytest.raises(TemplateError, match="error calling until: until would make"):
        render("{{ until 100000000 }}", {})
    with pytest.raises(TemplateError, match="maximum template depth"):
        render('{{ define "r" }}{{ template "r" . }}{{ end }}{{ template "r" . }}', {})


def test_doubling_a_list_does_not_exhaust_memory_when_encoded() -> None:
    doubling = (
        "{{ $l := list 1 }}{{ range until 40 }}{{ $l = list $l $l }}{{ end }}{{ toJson $l | len }}"
    )
    assert render(doubling, {}) == "0"  # Sprig's toJson gives "" on error: the node budget tripped
    with pytest.raises(TemplateError, match="more than 200000 parts"):
        render(doubling.replace("toJson", "mustToJson"), {})


def test_missingkey_default_prints_no_value() -> None:
    assert (
        render('{{ .a }}|{{ .b.c }}|{{ default "d" .a }}', {"b": {}}, missing_key_error=False)
        == "<no value>|<no value>|d"
    )
    with pytest.raises(TemplateError, match='map has no entry for key "a"'):
        render('{{ default "d" .a }}', {})


def test_probe_data_answers_every_missing_key() -> None:
    data = ProbeMap({"known": "k", "nested": ProbeMap()})
    assert (
        render(
            "{{ .known }} {{ .device_1 }} {{ .nested.deep.deeper }} {{ formatPartition .disk 1 }}",
            data,
        )
        == "k 0 0 0p1"
    )
    assert isinstance(ProbeMap().probe, Probe)


def test_rendered_lines_trace_back_to_the_template() -> None:
    source = "a: 1\n{{- range $i := until 3 }}\nitem{{ $i }}: {{ $i }}\n{{- end }}\nlast: {{ .x }}\ntail\n"
    rendered = render_traced(source, {"x": "one\ntwo"})
    assert rendered.text == "a: 1\nitem0: 0\nitem1: 1\nitem2: 2\nlast: one\ntwo\ntail\n"
    assert [rendered.source_line(n) for n in range(1, 8)] == [1, 3, 3, 3, 5, 5, 6]


def test_sprig_functions_left_out_are_named_as_such() -> None:
    with pytest.raises(TemplateError) as caught:
        check('line1\n{{ semver "1.0.0" }}')
    assert (caught.value.line, caught.value.column) == (2, 4)
    assert "one of Sprig's that metalinit does not provide" in caught.value.message


def test_error_column_points_at_the_node() -> None:
    with pytest.raises(TemplateError) as caught:
        render("ok\n  x {{ .a.b }}", {"a": {}})
    assert (caught.value.line, caught.value.column) == (2, 8)
    assert str(caught.value) == 'line 2, column 8: at <.a.b>: map has no entry for key "b"'
