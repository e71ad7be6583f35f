"""Every template rule, each failure naming its line and its field (template.py, workflow.py)."""

from __future__ import annotations

import time

import pytest

from server.tinkerbell import Hardware, TinkerbellError, check_template, render_workflow

GOOD = """\
version: "0.1"
name: hello
global_timeout: 600
tasks:
  - name: "hello world"
    worker: "{{.device_1}}"
    actions:
      - name: "hello"
        image: hello-world
        timeout: 60
      - name: "bye"
        image: quay.io/tinkerbell/actions/cexec:v1.0.0
        timeout: 60
"""
LONG = "n" * 200


def variant(old: str, new: str) -> str:
    assert old in GOOD
    return GOOD.replace(old, new, 1)


def test_the_good_template_passes() -> None:
    info = check_template(GOOD)
    assert (info.name, info.version, info.global_timeout) == ("hello", "0.1", 600)
    assert info.tasks == (("hello world", ("hello", "bye")),)
    assert info.templated


@pytest.mark.parametrize(
    ("source", "line", "field", "words"),
    [
        (variant("tasks:", "tasks: [\n"), 6, "", "not valid YAML"),
        (variant("    worker:", "   worker:"), 6, "", "not valid YAML"),
        (variant("global_timeout: 600", "global_timout: 600"), 3, "global_timout", "unknown field"),
        (
            variant(
                '        timeout: 60\n      - name: "bye"',
                '        timout: 60\n      - name: "bye"',
            ),
            10,
            "tasks[0].actions[0].timout",
            "unknown field",
        ),
        (variant("    worker:", "    wroker:"), 6, "tasks[0].wroker", "unknown field"),
        (variant("name: hello", 'name: ""'), 2, "name", "empty"),
        (variant("name: hello", f"name: {LONG}"), 2, "name", "200 bytes"),
        (variant('  - name: "hello world"', '  - name: ""'), 5, "tasks[0].name", "empty"),
        (
            variant('      - name: "hello"', f'      - name: "{LONG}"'),
            8,
            "tasks[0].actions[0].name",
            "200 bytes",
        ),
        (variant("tasks:\n", "tasks: []\nx_tasks:\n"), 5, "x_tasks", "unknown field"),
        ("version: '0.1'\nname: hello\ntasks: []\n", 3, "tasks", "at least one task"),
        ("version: '0.1'\nname: hello\n", 1, "tasks", "at least one task"),
        ("tasks: []\n", 1, "name", "no name"),
        (
            variant('      - name: "bye"', '      - name: "hello"'),
            11,
            "tasks[0].actions[1].name",
            "same name",
        ),
        (
            GOOD + '  - name: "hello world"\n    worker: x\n    actions: []\n',
            14,
            "tasks[1].name",
            "same name",
        ),
        (
            variant("image: hello-world", "image: Hello-World"),
            9,
            "tasks[0].actions[0].image",
            "invalid action image",
        ),
        (
            variant("image: hello-world", "image: quay.io/a/b:bad tag"),
            9,
            "tasks[0].actions[0].image",
            "invalid action image",
        ),
        (
            variant("image: hello-world", "image: a@sha256:xyz"),
            9,
            "tasks[0].actions[0].image",
            "invalid action image",
        ),
        (variant("image: hello-world", 'image: ""'), 9, "tasks[0].actions[0].image", "empty"),
        (
            variant(
                '        timeout: 60\n      - name: "bye"',
                '        timeout: -1\n      - name: "bye"',
            ),
            10,
            "tasks[0].actions[0].timeout",
            "0 or more",
        ),
        (
            variant(
                '        timeout: 60\n      - name: "bye"',
                '        timeout: 60\n        retries: 1000\n      - name: "bye"',
            ),
            11,
            "tasks[0].actions[0].retries",
            "0 to 100",
        ),
        (
            variant(
                "        image: hello-world", "        image: hello-world\n        command: sh -c x"
            ),
            10,
            "tasks[0].actions[0].command",
            "expected a list",
        ),
        (
            variant(
                "        image: hello-world", "        image: hello-world\n        environment: [A]"
            ),
            10,
            "tasks[0].actions[0].environment",
            "expected a mapping",
        ),
        (
            variant(
                "        image: hello-world",
                "        image: hello-world\n        environment: {A: {b: 1}}",
            ),
            10,
            "tasks[0].actions[0].environment.A",
            "expected a string",
        ),
        (
            variant(
                "        image: hello-world",
                "        image: hello-world\n        environment: {A: 1, A: 2}",
            ),
            10,
            "tasks[0].actions[0].environment",
            "already defined",
        ),
        (GOOD + "---\nname: second\n", 15, "", "one YAML document"),
        (variant('    worker: "{{.device_1}}"', '    worker: ""'), 6, "tasks[0].worker", None),
    ],
)
def test_rule_is_enforced_at_upload(source: str, line: int, field: str, words: str | None) -> None:
    if words is None:  # an empty worker is only known once rendered for a machine
        check_template(source)
        with pytest.raises(TinkerbellError) as caught:
            render_workflow(source, Hardware.simple("m1", ["02:00:00:00:00:01"]), {})
        assert "worker is empty" in caught.value.message
    else:
        with pytest.raises(TinkerbellError) as caught:
            check_template(source)
        assert words in caught.value.message
    assert (caught.value.line, caught.value.field) == (line, field)
    assert str(caught.value).startswith(f"line {line}")


def test_template_syntax_error_names_the_template_line() -> None:
    with pytest.raises(TinkerbellError) as caught:
        check_template(variant('    worker: "{{.device_1}}"', '    worker: "{{.device_1}"'))
    assert caught.value.line == 6
    assert caught.value.message == "bad character U+007D '}'"


def test_unknown_function_is_refused_at_upload() -> None:
    with pytest.raises(TinkerbellError) as caught:
        check_template(variant("image: hello-world", "image: {{ nosuch .x }}"))
    assert (caught.value.line, caught.value.message) == (9, 'function "nosuch" not defined')


def test_bad_yaml_behind_the_template_points_at_the_template_line() -> None:
    source = (
        "name: hello\n"
        "{{- range $i := until 2 }}\n"
        "# block {{ $i }}\n"
        "{{- end }}\n"
        "tasks:\n"
        "  - name: t\n"
        "    worker: '{{ .device_1 }}'\n"
        "    actions:\n"
        "      - name: a\n"
        "        image: {{ .registry }}/Bad\n"
    )
    with pytest.raises(TinkerbellError) as caught:
        check_template(source)
    assert caught.value.field == "tasks[0].actions[0].image"
    assert caught.value.line == 10
    assert "rendered template" in caught.value.message


def test_missing_key_is_an_error_at_creation_naming_key_and_line() -> None:
    source = variant("image: hello-world", "image: {{ .registry }}/hello-world")
    check_template(source)  # fine at upload: the key may come with the workflow
    machine = Hardware.simple("m1", ["02:00:00:00:00:01"])
    with pytest.raises(TinkerbellError) as caught:
        render_workflow(source, machine, {"device_1": "02:00:00:00:00:01"})
    assert caught.value.line == 9
    assert 'map has no entry for key "registry"' in caught.value.message
    rendered = render_workflow(
        source, machine, {"device_1": "02:00:00:00:00:01", "registry": "reg.lan:5000"}
    )
    assert rendered.tasks[0].actions[0].image == "reg.lan:5000/hello-world"
    assert rendered.tasks[0].worker == "02:00:00:00:00:01"


def test_runtime_error_over_placeholder_hardware_is_refused_at_upload() -> None:
    source = variant("image: hello-world", "image: x/{{ index .Hardware.Disks 20 }}")
    with pytest.raises(TinkerbellError) as caught:
        check_template(source)
    assert caught.value.line == 9
    assert "index out of range: 20" in caught.value.message
    assert "placeholder hardware" in caught.value.message


def billion_laughs_environment() -> str:
    """Nine levels, each merging ten copies of the one below: 10**9 keys once expanded."""
    lines = [
        "name: bomb",
        "tasks:",
        "  - name: t",
        "    worker: m",
        "    actions:",
        "      - name: a",
        "        image: alpine",
        "        environment:",
        "          X0: &x0 {K0: lol, K1: lol, K2: lol, K3: lol}",
    ]
    for level in range(1, 10):
        below = ", ".join([f"*x{level - 1}"] * 10)
        lines.append(f"          X{level}: &x{level} {{<<: [{below}]}}")
    lines.append("      - name: b")
    lines.append("        image: alpine")
    lines.append("        environment: {<<: *x9}")
    return "\n".join(lines) + "\n"


def test_alias_bomb_is_refused_before_it_expands() -> None:
    started = time.monotonic()
    with pytest.raises(TinkerbellError) as caught:
        check_template(billion_laughs_environment())
    assert time.monotonic() - started < 10, "the decode must stop early"  # a guard, not a benchmark
    # the first action's X0 is already refused (a mapping is no environment value), which
    # is the schema stopping the bomb; the second shows the node budget doing it
    assert caught.value.field == "tasks[0].actions[0].environment.X0"
    only_merge = billion_laughs_environment().replace(
        "        environment:\n          X0", "        x-anchors:\n          X0"
    )
    with pytest.raises(TinkerbellError) as caught:
        check_template(only_merge)
    assert "unknown field 'x-anchors'" in caught.value.message


def test_merge_bomb_stops_at_the_node_budget() -> None:
    lines = [
        "name: bomb",
        "tasks:",
        "  - name: t",
        "    worker: m",
        "    actions:",
        "      - &x0 {name: a, image: alpine}",
    ]
    for level in range(1, 10):
        below = ", ".join([f"*x{level - 1}"] * 10)
        lines.append(f"      - &x{level} {{<<: [{below}], name: a{level}}}")
    started = time.monotonic()
    with pytest.raises(TinkerbellError) as caught:
        check_template("\n".join(lines) + "\n")
    assert time.monotonic() - started < 10, "the decode must stop early"  # a guard, not a benchmark
    assert "expands to more than" in caught.value.message


def test_alias_of_a_list_where_strings_belong_is_refused() -> None:
    lines = [
        "name: bomb",
        "tasks:",
        "  - name: t",
        "    worker: m",
        "    actions:",
        "      - {name: a0, image: alpine, volumes: &v0 [lol, lol, lol]}",
        "      - {name: a1, image: alpine, volumes: [*v0, *v0]}",
    ]
    with pytest.raises(TinkerbellError) as caught:
        check_template("\n".join(lines) + "\n")
    assert "expected a string, found a list" in caught.value.message
    assert caught.value.field == "tasks[0].actions[1].volumes[0]"


def test_oversized_template_is_refused_unread() -> None:
    huge = GOOD + "#" + "x" * (300 * 1024) + "\n"
    with pytest.raises(TinkerbellError, match="more than the limit"):
        check_template(huge)


def test_rendered_output_over_256_kib_is_an_error_not_a_truncation() -> None:
    source = variant(
        "image: hello-world",
        'image: hello-world\n        command: [{{ repeat 300000 "x" | quote }}]',
    )
    with pytest.raises(TinkerbellError) as caught:
        check_template(source)
    assert "exceeds 262144 bytes" in caught.value.message


def test_deep_nesting_is_refused_cleanly() -> None:
    with pytest.raises(TinkerbellError):
        check_template("name: x\ntasks: " + "[" * 5000 + "]" * 5000 + "\n")
