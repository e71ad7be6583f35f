"""Tinkerbell's published examples, as a user has them (fixtures/tinkerbell/): applied,
rendered for each machine, and checked field by field."""

from __future__ import annotations

from pathlib import Path

import pytest

from server.tinkerbell import (
    Hardware,
    RenderedAction,
    TemplateObject,
    TinkerbellError,
    WorkflowObject,
    check_template,
    parse_objects,
    render_workflow,
)

FIXTURES = Path(__file__).parents[1] / "fixtures" / "tinkerbell"
VOLUMES = ("/dev:/dev", "/dev/console:/dev/console", "/lib/firmware:/lib/firmware:ro")


def load(*names: str) -> list[object]:
    text = "---\n".join((FIXTURES / name).read_text() for name in names)
    return list(parse_objects(text))


def ubuntu_for(machine: str) -> tuple[TemplateObject, Hardware, WorkflowObject]:
    template, hardware, workflow = load(
        "ubuntu-template.yaml", f"{machine}-hardware.yaml", f"{machine}-workflow.yaml"
    )
    assert isinstance(template, TemplateObject)
    assert isinstance(hardware, Hardware)
    assert isinstance(workflow, WorkflowObject)
    return template, hardware, workflow


def by_name(actions: tuple[RenderedAction, ...]) -> dict[str, RenderedAction]:
    return {a.name: a for a in actions}


def test_apply_reads_every_object_of_the_ubuntu_example() -> None:
    template, hardware, workflow = ubuntu_for("machine1")
    assert (template.name, template.namespace) == ("ubuntu-jammy", "tink-system")
    assert template.data.startswith('version: "0.1"\nname: ubuntu-jammy\n')
    assert (hardware.name, hardware.namespace, dict(hardware.labels)) == (
        "machine1",
        "tink-system",
        {"rack": "r12"},
    )
    assert hardware.disks == ("/dev/nvme0n1",)
    assert hardware.macs == ("3c:ec:ef:4c:4f:54",)
    assert hardware.hostname == "machine1"
    assert hardware.instance_id == "3c:ec:ef:4c:4f:54"
    assert hardware.user_data == "#cloud-config\nusers:\n  - name: tink\n"
    assert hardware.allow_pxe
    (iface,) = hardware.interfaces
    assert iface.dhcp is not None and iface.dhcp.ip is not None and iface.netboot is not None
    assert (iface.dhcp.arch, iface.dhcp.hostname, iface.dhcp.lease_time, iface.dhcp.uefi) == (
        "x86_64",
        "machine1",
        86400,
        True,
    )
    assert iface.dhcp.name_servers == ("1.1.1.1", "8.8.8.8")
    assert (iface.dhcp.ip.address, iface.dhcp.ip.netmask, iface.dhcp.ip.gateway) == (
        "10.1.1.51",
        "255.255.255.0",
        "10.1.1.1",
    )
    assert (iface.netboot.allow_pxe, iface.netboot.allow_workflow) == (True, True)
    assert (workflow.name, workflow.template_ref, workflow.hardware_ref) == (
        "machine1-ubuntu",
        "ubuntu-jammy",
        "machine1",
    )
    assert dict(workflow.hardware_map) == {"device_1": "3c:ec:ef:4c:4f:54"}
    assert workflow.toggle_allow_netboot


def test_ubuntu_template_passes_upload_checks() -> None:
    template, _, _ = ubuntu_for("machine1")
    info = check_template(template.data)
    assert (info.name, info.version, info.global_timeout) == ("ubuntu-jammy", "0.1", 9800)
    assert info.tasks == (
        (
            "os-installation",
            (
                "stream-ubuntu-image",
                "grow-partition",
                "write-netplan",
                "add-tink-cloud-init-config",
                "add-tink-cloud-init-ds-config",
                "kexec-into-os",
            ),
        ),
    )


def test_ubuntu_on_nvme_renders_field_by_field() -> None:
    template, hardware, workflow = ubuntu_for("machine1")
    rendered = render_workflow(template.data, hardware, workflow.hardware_map)
    assert (rendered.name, rendered.version, rendered.global_timeout) == (
        "ubuntu-jammy",
        "0.1",
        9800,
    )
    (task,) = rendered.tasks
    assert (task.name, task.worker) == ("os-installation", "3c:ec:ef:4c:4f:54")
    actions = by_name(task.actions)
    assert list(actions) == [
        "stream-ubuntu-image",
        "grow-partition",
        "write-netplan",
        "add-tink-cloud-init-config",
        "add-tink-cloud-init-ds-config",
        "kexec-into-os",
    ]

    stream = actions["stream-ubuntu-image"]
    assert (stream.image, stream.timeout, stream.retries, stream.pid, stream.command) == (
        "quay.io/tinkerbell/actions/image2disk:v1.0.0",
        9600,
        0,
        "",
        (),
    )
    assert stream.volumes == VOLUMES
    assert stream.environment == {
        "MIRROR_HOST": "10.1.1.11",
        "DEST_DISK": "/dev/nvme0n1",
        "IMG_URL": "http://10.1.1.11:7173/jammy-server-cloudimg-amd64.raw.gz",
        "COMPRESSED": "true",
    }

    grow = actions["grow-partition"]
    assert (grow.timeout, grow.retries) == (180, 2)
    assert grow.environment["BLOCK_DEVICE"] == "/dev/nvme0n1p1"
    assert grow.environment["CHROOT"] == "y"
    assert grow.environment["CMD_LINE"] == "growpart /dev/nvme0n1 1 && resize2fs /dev/nvme0n1p1"
    assert grow.environment["DEFAULT_INTERPRETER"] == "/bin/sh -c"

    netplan = actions["write-netplan"]
    assert netplan.environment["DEST_DISK"] == "/dev/nvme0n1p1"
    assert (netplan.environment["UID"], netplan.environment["GID"]) == ("0", "0")
    assert (netplan.environment["MODE"], netplan.environment["DIRMODE"]) == ("0644", "0755")
    assert netplan.environment["CONTENTS"] == (
        "network:\n"
        "  version: 2\n"
        "  renderer: networkd\n"
        "  ethernets:\n"
        "    id0:\n"
        "      match:\n"
        "        macaddress: 3c:ec:ef:4c:4f:54\n"
        "      addresses:\n"
        "        - 10.1.1.51/24\n"
        "      routes:\n"
        "        - to: default\n"
        "          via: 10.1.1.1\n"
        "      nameservers:\n"
        "        addresses: [1.1.1.1, 8.8.8.8]\n"
    )

    cloud = actions["add-tink-cloud-init-config"]
    assert (cloud.environment["MODE"], cloud.environment["DIRMODE"]) == ("0600", "0700")
    assert cloud.environment["DEST_PATH"] == "/etc/cloud/cloud.cfg.d/10_tinkerbell.cfg"
    assert 'metadata_urls: ["http://10.1.1.11:50061"]' in cloud.environment["CONTENTS"]
    assert actions["add-tink-cloud-init-ds-config"].environment["CONTENTS"] == "datasource: Ec2\n"

    kexec = actions["kexec-into-os"]
    assert (kexec.image, kexec.pid, kexec.command) == (
        "ghcr.io/jacobweinstock/waitdaemon:0.2.1",
        "host",
        (),
    )
    assert kexec.volumes == (*VOLUMES, "/var/run/docker.sock:/var/run/docker.sock")
    assert kexec.environment == {
        "MIRROR_HOST": "10.1.1.11",
        "BLOCK_DEVICE": "/dev/nvme0n1p1",
        "FS_TYPE": "ext4",
        "IMAGE": "quay.io/tinkerbell/actions/kexec:v1.0.0",
        "WAIT_SECONDS": "10",
    }


def test_ubuntu_on_arm64_sata_takes_the_reboot_branch() -> None:
    template, hardware, workflow = ubuntu_for("machine2")
    assert hardware.macs == ("00:00:5e:00:53:02", "00:00:5e:00:53:03")
    assert hardware.disks == ("/dev/sda", "/dev/sdb")
    rendered = render_workflow(template.data, hardware, workflow.hardware_map)
    actions = by_name(rendered.tasks[0].actions)
    assert "kexec-into-os" not in actions
    reboot = actions["reboot-into-os"]
    assert reboot.command == (
        "sh",
        "-c",
        "echo 1 > /proc/sys/kernel/sysrq; echo b > /proc/sysrq-trigger",
    )
    assert reboot.environment["IMAGE"] == "alpine:3.19"
    assert reboot.environment["BLOCK_DEVICE"] == "/dev/sda1"
    assert actions["stream-ubuntu-image"].environment["DEST_DISK"] == "/dev/sda"
    netplan = actions["write-netplan"].environment["CONTENTS"]
    assert "macaddress: 00:00:5e:00:53:02\n" in netplan
    assert "- 192.168.2.20/22\n" in netplan
    assert "addresses: [192.168.2.1]\n" in netplan
    assert rendered.tasks[0].worker == "00:00:5e:00:53:02"


def test_the_same_machine_from_the_command_line_renders_the_same_disks() -> None:
    template, _, _ = ubuntu_for("machine1")
    machine = Hardware.simple("machine1", ["3C:EC:EF:4C:4F:54"], ["/dev/nvme0n1"])
    with pytest.raises(TinkerbellError, match=r"nil pointer evaluating \*v1alpha1\.IP\.Address"):
        render_workflow(template.data, machine, {"device_1": "3c:ec:ef:4c:4f:54"})
    hello = (FIXTURES / "hello-world-template.yaml").read_text()
    rendered = render_workflow(hello, machine, {"device_1": "3c:ec:ef:4c:4f:54"})
    assert rendered.tasks[0].worker == "3c:ec:ef:4c:4f:54"
    assert rendered.tasks[0].actions[0].image == "hello-world"


def test_debian_example_keeps_booleans_and_modes_as_text() -> None:
    template, hardware = load("debian-template.yaml", "machine1-hardware.yaml")
    assert isinstance(template, TemplateObject) and isinstance(hardware, Hardware)
    check_template(template.data)
    rendered = render_workflow(template.data, hardware, {"device_1": "3c:ec:ef:4c:4f:54"})
    actions = by_name(rendered.tasks[0].actions)
    assert actions["stream-debian-image"].environment["COMPRESSED"] == "true"
    hostname = actions["write-hostname"].environment
    assert (hostname["CONTENTS"], hostname["MODE"], hostname["DIRMODE"], hostname["DEST_DISK"]) == (
        "machine1",
        "0644",
        "0755",
        "/dev/nvme0n1p1",
    )
    assert (
        actions["write-user-data"].environment["CONTENTS"]
        == "#cloud-config\nusers:\n  - name: tink\n"
    )
    assert actions["write-user-data"].environment["MODE"] == "0600"
    assert (actions["kexec-debian"].pid, actions["kexec-debian"].environment["BLOCK_DEVICE"]) == (
        "host",
        "/dev/nvme0n1p1",
    )


def test_hello_world_is_a_bare_template_file() -> None:
    source = (FIXTURES / "hello-world-template.yaml").read_text()
    info = check_template(source)
    assert (info.name, info.global_timeout, info.tasks) == (
        "hello_world_workflow",
        600,
        (("hello world", ("hello_world",)),),
    )
