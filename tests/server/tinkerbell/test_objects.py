"""parse_objects and Hardware: Tinkerbell's objects read strictly, errors naming the
document, line and field; the Hardware dataclass from the CLI and from the store."""

from __future__ import annotations

import pytest

from server.gotemplate import Nil, Struct, render
from server.tinkerbell import (
    Hardware,
    TinkerbellError,
    WorkflowObject,
    parse_objects,
    template_data,
)

HW = """\
apiVersion: tinkerbell.org/v1alpha1
kind: Hardware
metadata:
  name: m1
spec:
  disks: [{device: /dev/vda}]
  interfaces:
    - dhcp: {mac: "52:54:00:00:00:01", arch: x86_64, lease_time: 600}
      netboot: {allowPXE: true}
"""


def fails(text: str) -> TinkerbellError:
    with pytest.raises(TinkerbellError) as caught:
        parse_objects(text)
    return caught.value


@pytest.mark.parametrize(
    ("text", "line", "field", "words"),
    [
        (
            HW.replace(
                "apiVersion: tinkerbell.org/v1alpha1", "apiVersion: tinkerbell.org/v1alpha2"
            ),
            1,
            "apiVersion",
            "only tinkerbell.org/v1alpha1",
        ),
        (
            HW.replace("kind: Hardware", "kind: Machine"),
            2,
            "kind",
            "only Hardware, Template and Workflow",
        ),
        (HW.replace("  name: m1\n", "  name: M_1\n"), 4, "metadata.name", "not a valid name"),
        (HW.replace("  name: m1\n", ""), 3, "metadata.name", "missing"),
        (HW.replace("disks:", "diskz:"), 6, "spec.diskz", "unknown field"),
        (
            HW.replace("arch: x86_64", "arch: x86_64, mca: x"),
            8,
            "spec.interfaces[0].dhcp.mca",
            "unknown field",
        ),
        (
            HW.replace("lease_time: 600", "lease_time: long"),
            8,
            "spec.interfaces[0].dhcp.lease_time",
            "whole number",
        ),
        (
            HW.replace("allowPXE: true", "allowPXE: maybe"),
            9,
            "spec.interfaces[0].netboot.allowPXE",
            "true or false",
        ),
        (
            HW.replace('mac: "52:54:00:00:00:01"', "mac: nope"),
            6,
            "spec.interfaces[0].dhcp.mac",
            "not a MAC",
        ),
        (
            HW.replace("disks: [{device: /dev/vda}]", "disks: /dev/vda"),
            6,
            "spec.disks",
            "expected a list",
        ),
        (
            "apiVersion: tinkerbell.org/v1alpha1\nkind: Template\nmetadata: {name: t}\nspec: {}\n",
            4,
            "spec.data",
            "needs spec.data",
        ),
        (
            "apiVersion: tinkerbell.org/v1alpha1\nkind: Workflow\nmetadata: {name: w}\nspec: {hardwareRef: m1}\n",
            4,
            "spec.templateRef",
            "needs spec.templateRef",
        ),
        (
            "apiVersion: tinkerbell.org/v1alpha1\nkind: Workflow\nmetadata: {name: w}\nspec:\n  templateRef: t\n  bootOptions: {bootMode: isoboot}\n",
            6,
            "spec.bootOptions.bootMode",
            "needs a BMC",
        ),
        (
            "apiVersion: tinkerbell.org/v1alpha1\nkind: Workflow\nmetadata: {name: w}\nspec:\n  templateRef: t\n  hardwareMap: {device_1: [a]}\n",
            6,
            "spec.hardwareMap.device_1",
            "expected a string",
        ),
        ("- just\n- a list\n", 1, "", "expected a mapping"),
        ("a: [\n", 2, "", "not valid YAML"),
    ],
)
def test_bad_object_names_line_and_field(text: str, line: int, field: str, words: str) -> None:
    error = fails(text)
    assert words in error.message
    assert (error.line, error.field, error.document) == (line, field, 0)


def test_error_in_a_later_document_names_the_document() -> None:
    error = fails(HW + "---\n" + HW.replace("kind: Hardware", "kind: Nope"))
    assert (error.document, error.line, error.field) == (2, 12, "kind")
    assert str(error).startswith("document 2, line 12, kind: ")


def test_empty_file_and_comment_only_file_are_refused() -> None:
    assert "no objects" in fails("").message
    assert "no objects" in fails("# nothing\n---\n").message


def test_kubectl_get_output_applies() -> None:
    text = HW.replace(
        "  name: m1\n", "  name: m1\n  uid: abc\n  resourceVersion: '7'\n  annotations: {a: b}\n"
    )
    (hw,) = parse_objects(text + "status:\n  state: Ready\n")
    assert isinstance(hw, Hardware) and hw.name == "m1"


def test_workflow_object_fields() -> None:
    (wf,) = parse_objects(
        "apiVersion: tinkerbell.org/v1alpha1\nkind: Workflow\nmetadata: {name: w1, namespace: ns}\n"
        "spec:\n  templateRef: t1\n  hardwareRef: m1\n  disabled: false\n"
        "  hardwareMap: {device_1: '52:54:00:00:00:01', disk: /dev/vda}\n"
        "  bootOptions: {toggleAllowNetboot: yes}\n"
    )
    assert wf == WorkflowObject(
        "w1", "t1", "m1", {"device_1": "52:54:00:00:00:01", "disk": "/dev/vda"}, True, False, "ns"
    )


def test_hardware_round_trips_through_its_object_json() -> None:
    (hw,) = parse_objects(HW)
    assert isinstance(hw, Hardware)
    again = Hardware.from_object(hw.to_object())
    assert again == hw
    assert again.to_object()["spec"]["interfaces"][0]["dhcp"] == {
        "mac": "52:54:00:00:00:01",
        "arch": "x86_64",
        "lease_time": 600,
    }


def test_hardware_from_the_command_line() -> None:
    hw = Hardware.simple(
        "rack1-node2", ["52-54-00-AB-CD-EF", "52:54:00:00:00:02"], ["/dev/sda", "/dev/nvme0n1"]
    )
    assert hw.macs == ("52:54:00:ab:cd:ef", "52:54:00:00:00:02")
    assert hw.disks == ("/dev/sda", "/dev/nvme0n1")
    assert hw.allow_pxe and hw.hostname == "rack1-node2" and hw.user_data is None
    assert hw.to_object()["spec"]["interfaces"][0] == {
        "dhcp": {"mac": "52:54:00:ab:cd:ef"},
        "netboot": {"allowPXE": True, "allowWorkflow": True},
    }
    with pytest.raises(TinkerbellError, match="not a MAC"):
        Hardware.simple("m", ["zz:zz"])
    with pytest.raises(TinkerbellError, match="at least one MAC"):
        Hardware.simple("m", [])
    with pytest.raises(TinkerbellError, match="not a device path"):
        Hardware.simple("m", ["52:54:00:00:00:01"], ["sda"])
    with pytest.raises(TinkerbellError, match="not a valid name"):
        Hardware.simple("Bad Name", ["52:54:00:00:00:01"])


def test_stored_json_is_checked_against_the_schema() -> None:
    with pytest.raises(TinkerbellError) as caught:
        Hardware("m", {"interfaces": [{"dhcp": {"mac": "52:54:00:00:00:01", "lease_time": "x"}}]})
    assert caught.value.field == "spec.interfaces[0].dhcp.lease_time"
    with pytest.raises(TinkerbellError, match="unknown field"):
        Hardware("m", {"diskz": []})


def test_template_data_has_tinkerbells_shape() -> None:
    (hw,) = parse_objects(HW)
    assert isinstance(hw, Hardware)
    data = template_data(hw, {"device_1": "52:54:00:00:00:01", "Hardware": "overwritten"})
    assert data["device_1"] == "52:54:00:00:00:01"
    assert data["references"] == {}
    view = data["Hardware"]
    assert isinstance(view, Struct) and view.type_name == "workflow.templateHardwareData"
    assert view.fields["Disks"] == ("/dev/vda",)
    iface = view.fields["Interfaces"][0]
    assert iface.fields["DHCP"].fields["MAC"] == "52:54:00:00:00:01"
    assert iface.fields["DHCP"].fields["IP"] == Nil("*v1alpha1.IP")
    assert iface.fields["Netboot"].fields["AllowPXE"] is True
    assert iface.fields["Isoboot"] == Nil("*v1alpha1.Isoboot")
    assert (
        data["hardware"]["spec"]["interfaces"][0]["dhcp"]["lease_time"] == 600.0
    )  # JSON's float64


@pytest.mark.parametrize(
    ("template", "output"),
    [
        ("{{ (index .Hardware.Interfaces 0).DHCP.Arch }}", "x86_64"),
        ("{{ (index .Hardware.Interfaces 0).DHCP.LeaseTime }}", "600"),
        ("{{ (index .Hardware.Interfaces 0).DHCP.UEFI }}", "false"),
        ("{{ (index .Hardware.Interfaces 0).DHCP.NameServers }}", "[]"),
        ("{{ (index .Hardware.Interfaces 0).Netboot.AllowWorkflow }}", "<nil>"),
        ("{{ (index .Hardware.Interfaces 0).DHCP.IP }}", "<nil>"),
        ("{{ if (index .Hardware.Interfaces 0).DHCP.IP }}ip{{ else }}dhcp{{ end }}", "dhcp"),
        (
            "{{ .Hardware.Metadata.State }}|{{ .Hardware.UserData }}|{{ .Hardware.VendorData }}",
            "||",
        ),
        (
            "{{ .hardware.metadata.name }} {{ .hardware.spec.interfaces }}",
            "m1 [map[dhcp:map[arch:x86_64 lease_time:600 mac:52:54:00:00:00:01] netboot:map[allowPXE:true]]]",
        ),
        ("{{ len .Hardware.Interfaces }} {{ len .Hardware.Disks }}", "1 1"),
        ("{{ range .Hardware.Disks }}{{ formatPartition . 3 }}{{ end }}", "/dev/vda3"),
        (
            "{{ toJson (index .Hardware.Interfaces 0) }}",
            '{"netboot":{"allowPXE":true},"dhcp":{"mac":"52:54:00:00:00:01","lease_time":600,"arch":"x86_64"}}',
        ),
        (
            "{{ toYaml (index .Hardware.Interfaces 0).DHCP }}",
            'arch: x86_64\nlease_time: 600\nmac: "52:54:00:00:00:01"',
        ),
    ],
)
def test_templates_see_go_field_names_and_zero_values(template: str, output: str) -> None:
    (hw,) = parse_objects(HW)
    assert isinstance(hw, Hardware)
    assert render(template, template_data(hw, {})) == output


@pytest.mark.parametrize(
    ("template", "message"),
    [
        (
            "{{ (index .Hardware.Interfaces 0).DHCP.IP.Address }}",
            "nil pointer evaluating *v1alpha1.IP.Address",
        ),
        (
            "{{ (index .Hardware.Interfaces 0).DHCP.Mac }}",
            "can't evaluate field Mac in type v1alpha1.DHCP",
        ),
        (
            "{{ .Hardware.Metadata.Instance.Hostname }}",
            "nil pointer evaluating *v1alpha1.MetadataInstance.Hostname",
        ),
        ("{{ index .Hardware.Disks 1 }}", "error calling index: index out of range: 1"),
        ("{{ .hardware.spec.nothing }}", 'map has no entry for key "nothing"'),
    ],
)
def test_template_errors_over_hardware_are_gos(template: str, message: str) -> None:
    (hw,) = parse_objects(HW)
    assert isinstance(hw, Hardware)
    with pytest.raises(Exception, match=message.replace("*", "\\*").replace("(", "\\(")):
        render(template, template_data(hw, {}))
