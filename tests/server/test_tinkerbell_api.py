"""A Tinkerbell user's files through the server: Hardware, Template and Workflow objects
applied as they are (`metalinit apply -f`), rendered at workflow creation, and served to
the machine field by field; and templates refused at upload, each with the line and
field that is wrong."""

from __future__ import annotations

import pytest

pytest.importorskip("server.tinkerbell", reason="the Tinkerbell reader is not merged yet")

from agent.provision.wire import ActionState as A
from agent.provision.wire import NextKind
from server.cli.client import ClientError
from tests.server.fleet import Fleet
from tests.server.serving import Served

MAC = "3c:ec:ef:4c:4f:54"

# As Tinkerbell's documentation writes them (a Hardware with an NVMe disk, a template that
# streams an image, writes a file and kexecs through waitdaemon, a Workflow naming both).
OBJECTS = f"""\
apiVersion: "tinkerbell.org/v1alpha1"
kind: Hardware
metadata:
  name: machine1
  namespace: tink-system
  labels:
    rack: r12
spec:
  disks:
    - device: /dev/nvme0n1
  metadata:
    facility:
      facility_code: onprem
    instance:
      hostname: machine1
      id: "{MAC}"
      ssh_keys:
        - ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA ops@example
  interfaces:
    - dhcp:
        arch: x86_64
        hostname: machine1
        ip:
          address: 10.1.1.21
          gateway: 10.1.1.1
          netmask: 255.255.255.0
        lease_time: 86400
        mac: {MAC}
        name_servers:
          - 1.1.1.1
        uefi: true
      netboot:
        allowPXE: true
        allowWorkflow: true
---
apiVersion: "tinkerbell.org/v1alpha1"
kind: Template
metadata:
  name: debian-bookworm
  namespace: tink-system
spec:
  data: |
    version: "0.1"
    name: debian-bookworm
    global_timeout: 1800
    tasks:
      - name: "os-installation"
        worker: "{{{{.device_1}}}}"
        volumes:
          - /dev:/dev
        environment:
          MIRROR: "10.1.1.11"
        actions:
          - name: "stream-image"
            image: quay.io/tinkerbell/actions/image2disk:v1.0.0
            timeout: 600
            environment:
              DEST_DISK: {{{{ index .Hardware.Disks 0 }}}}
              IMG_URL: "http://10.1.1.11:8080/debian-12.raw.gz"
              COMPRESSED: true
          - name: "write-hostname"
            image: quay.io/tinkerbell/actions/writefile:v1.0.0
            timeout: 90
            retries: 2
            environment:
              DEST_DISK: {{{{ formatPartition ( index .Hardware.Disks 0 ) 1 }}}}
              FS_TYPE: ext4
              DEST_PATH: /etc/hostname
              CONTENTS: {{{{ (index .Hardware.Interfaces 0).DHCP.Hostname }}}}
              UID: 0
              MODE: 0644
          - name: "kexec-into-os"
            image: ghcr.io/jacobweinstock/waitdaemon:0.2.1
            timeout: 90
            pid: host
            environment:
              BLOCK_DEVICE: {{{{ formatPartition ( index .Hardware.Disks 0 ) 1 }}}}
              FS_TYPE: ext4
              IMAGE: quay.io/tinkerbell/actions/kexec:v1.0.0
            volumes:
              - /var/run/docker.sock:/var/run/docker.sock
---
apiVersion: "tinkerbell.org/v1alpha1"
kind: Workflow
metadata:
  name: machine1-debian
  namespace: tink-system
spec:
  templateRef: debian-bookworm
  hardwareRef: machine1
  hardwareMap:
    device_1: {MAC}
  bootOptions:
    toggleAllowNetboot: true
"""


@pytest.fixture(scope="module")
def applied(sqlite_served: Served) -> list[dict[str, object]]:
    return sqlite_served.admin().apply(OBJECTS)  # type: ignore[no-any-return]


def test_the_objects_apply_as_they_are(
    sqlite_served: Served, applied: list[dict[str, object]]
) -> None:
    assert [(a["kind"], a["name"], a["created"]) for a in applied] == [
        ("Hardware", "machine1", True),
        ("Template", "debian-bookworm", True),
        ("Workflow", "machine1-debian", True),
    ]
    again = sqlite_served.admin().apply(OBJECTS)
    assert [a["created"] for a in again] == [False, False, False]
    assert again[2]["id"] == applied[2]["id"]  # the Workflow is not made twice
    hw = sqlite_served.admin().hardware("machine1")
    assert hw["macs"] == [MAC] and hw["disks"] == ["/dev/nvme0n1"]
    assert hw["labels"] == {"rack": "r12"}
    assert hw["spec"]["metadata"]["facility"] == {"facility_code": "onprem"}


def test_the_workflow_is_known_by_its_name(
    sqlite_served: Served, applied: list[dict[str, object]]
) -> None:
    view = sqlite_served.admin().workflow("machine1-debian")
    assert view["id"] == applied[2]["id"] and view["name"] == "machine1-debian"
    assert (view["template"], view["hardware"], view["global_timeout"]) == (
        "debian-bookworm",
        "machine1",
        1800,
    )


def test_the_machine_is_served_what_the_template_renders(
    sqlite_served: Served, applied: list[dict[str, object]]
) -> None:
    client = sqlite_served.machine()
    client.lookup([MAC.upper()])
    stream = client.next().action
    assert stream is not None
    assert (stream.task, stream.name, stream.timeout) == ("os-installation", "stream-image", 600)
    assert stream.image == "quay.io/tinkerbell/actions/image2disk:v1.0.0"
    assert stream.environment == {
        "MIRROR": "10.1.1.11",
        "DEST_DISK": "/dev/nvme0n1",
        "IMG_URL": "http://10.1.1.11:8080/debian-12.raw.gz",
        "COMPRESSED": "true",
    }
    assert stream.volumes == ("/dev:/dev",)
    client.report(stream, A.RUNNING)
    client.report(stream, A.SUCCESS)
    write = client.next().action
    assert write is not None and write.retries == 2
    assert write.environment["DEST_DISK"] == "/dev/nvme0n1p1"
    assert write.environment["CONTENTS"] == "machine1"
    assert (write.environment["UID"], write.environment["MODE"]) == ("0", "0644")
    client.report(write, A.RUNNING)
    client.report(write, A.SUCCESS)
    kexec = client.next().action
    assert kexec is not None and kexec.pid == "host"
    assert kexec.volumes == ("/dev:/dev", "/var/run/docker.sock:/var/run/docker.sock")
    assert kexec.environment["IMAGE"] == "quay.io/tinkerbell/actions/kexec:v1.0.0"
    client.report(kexec, A.RUNNING)
    client.report(kexec, A.SUCCESS)
    assert client.next().kind is NextKind.DONE
    assert not sqlite_served.admin().hardware("machine1")["allow_netboot"]  # toggleAllowNetboot


def test_a_file_with_one_bad_object_stores_none_of_it(sqlite_served: Served) -> None:
    text = (
        OBJECTS.replace("machine1", "machine9")
        .replace(MAC, "3c:ec:ef:4c:4f:99")
        .replace("image: quay.io/tinkerbell/actions/writefile:v1.0.0", "image: 'not an image!'")
    )
    with pytest.raises(ClientError) as refused:
        sqlite_served.admin().apply(text)
    assert refused.value.status == 422 and "image" in str(refused.value)
    with pytest.raises(ClientError) as missing:
        sqlite_served.admin().hardware("machine9")
    assert missing.value.status == 404


GOOD = """\
version: "0.1"
name: ok
global_timeout: 60
tasks:
  - name: os
    worker: "{{.device_1}}"
    actions:
      - name: one
        image: alpine:3.19
        timeout: 10
"""


@pytest.mark.parametrize(
    ("change", "words"),
    [
        (lambda t: t.replace("tasks:", "tasks: [", 1), "line"),
        (lambda t: t.replace("timeout: 10", "timeout: 10\n        colour: red"), "colour"),
        (lambda t: t.replace("name: ok", "name: ''"), "name"),
        (lambda t: t.replace("name: ok", "name: " + "x" * 200), "name"),
        (lambda t: t.split("tasks:")[0] + "tasks: []\n", "task"),
        (
            lambda t: (
                t + "  - name: os\n    worker: x\n    actions:\n      - name: b\n"
                "        image: alpine\n        timeout: 1\n"
            ),
            "os",
        ),
        (lambda t: t + "      - name: one\n        image: alpine\n        timeout: 1\n", "one"),
        (lambda t: t.replace("image: alpine:3.19", "image: 'Not//An:Image'"), "image"),
        (lambda t: t.replace("{{.device_1}}", "{{.device_1"), "line"),
        (
            lambda t: (
                "a: &a [x,x,x,x,x,x,x,x,x]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\n"
                "c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\n"
                "e: [*d,*d,*d,*d,*d,*d,*d,*d,*d]\n" + t
            ),
            "line 1",  # refused at its first node, before any alias expands
        ),
    ],
    ids=[
        "bad-yaml",
        "unknown-field",
        "empty-name",
        "long-name",
        "no-tasks",
        "duplicate-task",
        "duplicate-action",
        "bad-image",
        "bad-template",
        "alias-bomb",
    ],
)
def test_a_bad_template_is_refused_naming_what_is_wrong(
    sqlite_served: Served, change: object, words: str
) -> None:
    with pytest.raises(ClientError) as refused:
        sqlite_served.admin().add_template(change(GOOD))  # type: ignore[operator]
    assert refused.value.status == 422 and refused.value.code == "invalid_template"
    assert words in str(refused.value), str(refused.value)


def test_an_oversized_template_is_refused(sqlite_served: Served) -> None:
    big = GOOD + "# " + "x" * (300 * 1024) + "\n"
    with pytest.raises(ClientError) as refused:
        sqlite_served.admin().add_template(big)
    assert refused.value.status in (413, 422)


def test_a_missing_key_at_creation_names_the_key(sqlite_served: Served) -> None:
    fleet = Fleet(sqlite_served)
    _, mac = fleet.machine()
    text = GOOD.replace("name: ok", "name: needs-two").replace(
        "image: alpine:3.19",
        "image: alpine:3.19\n        environment:\n          PEER: '{{.device_2}}'",
    )
    fleet.admin.add_template(text)
    with pytest.raises(ClientError) as refused:
        fleet.admin.create_workflow("needs-two", {"device_1": mac})
    assert refused.value.status == 422 and "device_2" in str(refused.value)


def test_an_empty_rendered_worker_is_refused(sqlite_served: Served) -> None:
    fleet = Fleet(sqlite_served)
    _, mac = fleet.machine()
    fleet.admin.add_template(
        GOOD.replace("name: ok", "name: no-worker").replace("{{.device_1}}", "{{.worker_mac}}")
    )
    with pytest.raises(ClientError) as refused:
        fleet.admin.create_workflow("no-worker", {"device_1": mac, "worker_mac": ""})
    assert refused.value.status == 422 and "worker" in str(refused.value)
