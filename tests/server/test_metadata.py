"""The EC2-style metadata service: the machine is known by the address it asks from."""

from __future__ import annotations

import http.client
from urllib.parse import urlsplit

import pytest

from tests.server.fleet import Fleet
from tests.server.serving import Served

KEY_A = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA alice@example"
KEY_B = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQ bob@example"


def _get(served: Served, source: str, path: str) -> tuple[int, str]:
    parts = urlsplit(served.url)
    conn = http.client.HTTPConnection(
        parts.hostname, parts.port, timeout=10, source_address=(source, 0)
    )
    conn.request("GET", path)
    reply = conn.getresponse()
    body = reply.read().decode()
    conn.close()
    return reply.status, body


@pytest.fixture(scope="module")
def machines(sqlite_served: Served) -> Served:
    fleet = Fleet(sqlite_served)
    fleet.admin.put_hardware(
        "web-1",
        macs=[fleet.mac()],
        interfaces=[
            {
                "dhcp": {
                    "mac": fleet.mac(),
                    "hostname": "web-1.lan",
                    "ip": {"address": "127.0.0.21", "netmask": "255.0.0.0"},
                }
            }
        ],
        metadata={
            "instance": {
                "id": "i-0001",
                "hostname": "web-1",
                "ssh_keys": [KEY_A, KEY_B],
                "ips": [{"address": "127.0.0.21", "family": 4, "public": False}],
            }
        },
        user_data="#cloud-config\nhostname: web-1\n",
    )
    fleet.admin.put_hardware(
        "bare-1",
        macs=[fleet.mac()],
        interfaces=[{"dhcp": {"mac": fleet.mac(), "ip": {"address": "127.0.0.22"}}}],
    )
    return sqlite_served


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/2009-04-04/meta-data/instance-id", "i-0001"),
        ("/latest/meta-data/hostname", "web-1"),
        ("/latest/meta-data/local-hostname", "web-1"),
        ("/2009-04-04/meta-data/local-ipv4", "127.0.0.21"),
        ("/2009-04-04/meta-data/public-keys", "0=key-0\n1=key-1"),
        ("/2009-04-04/meta-data/public-keys/1/openssh-key", KEY_B),
        ("/2009-04-04/meta-data/public-keys/0", "openssh-key"),
        ("/2009-04-04/user-data", "#cloud-config\nhostname: web-1\n"),
        (
            "/2009-04-04/meta-data/",
            "instance-id\nhostname\nlocal-hostname\nlocal-ipv4\npublic-keys/",
        ),
    ],
)
def test_a_known_machine_reads_its_own_record(machines: Served, path: str, body: str) -> None:
    assert _get(machines, "127.0.0.21", path) == (200, body)


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/latest/meta-data/instance-id", "bare-1"),
        ("/latest/meta-data/hostname", "bare-1"),
        ("/latest/meta-data/local-ipv4", "127.0.0.22"),
        ("/latest/meta-data/", "instance-id\nhostname\nlocal-hostname\nlocal-ipv4"),
    ],
)
def test_a_bare_record_falls_back_to_its_name_and_interface(
    machines: Served, path: str, body: str
) -> None:
    assert _get(machines, "127.0.0.22", path) == (200, body)


@pytest.mark.parametrize(
    ("source", "path"),
    [
        ("127.0.0.23", "/latest/meta-data/instance-id"),  # nobody's address
        ("127.0.0.22", "/latest/user-data"),  # no user-data
        ("127.0.0.22", "/latest/meta-data/public-keys/0/openssh-key"),
        ("127.0.0.21", "/latest/meta-data/public-keys/7/openssh-key"),
        ("127.0.0.21", "/latest/meta-data/placement/availability-zone"),
    ],
)
def test_what_is_not_there_is_404(machines: Served, source: str, path: str) -> None:
    assert _get(machines, source, path)[0] == 404


def test_a_version_that_is_no_version_is_refused(machines: Served) -> None:
    assert _get(machines, "127.0.0.21", "/not-a-version/meta-data/instance-id")[0] == 422
