"""iPXE scripts, pure: what a machine that network-boots is told to do.

Every iPXE client first fetches the same `/boot.ipxe`, which chains to `/ipxe?mac=…` with
the MAC it booted from and its platform (matchbox's shape). That answer is one of two:

- the agent: `kernel` with the command line (`provision=`, the console, the hardware's own
  extra arguments), one `initrd` per archive the build produced, `boot`; each download is
  tried `ATTEMPTS` times, and if one never arrives iPXE exits, so the firmware goes on to
  its next boot device;
- the local disk, for a MAC the server does not know, a machine whose netboot is off, or
  one with no workflow to run: `exit` hands the machine back to the firmware's boot order
  (network first, then the disk: BIOS), so it boots its disk and never comes back to us in
  a loop.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

DEFAULT_CONSOLE = "console=tty0 console=ttyS0,115200"  # the last console is /dev/console
ATTEMPTS = 5
RETRY_SECONDS = 3
FAIL_PAUSE_SECONDS = 10
PLATFORMS = ("pcbios", "efi")
# What iPXE puts in a URL is ours to read, but still not to be trusted: names we echo back
# into a script must not carry anything its parser would act on.
_SAFE = re.compile(r"[^A-Za-z0-9._:/@+=,-]")


class Reason(enum.Enum):
    """Why a machine is sent to its local disk."""

    UNKNOWN = "no hardware record has this MAC"
    NETBOOT_OFF = "netboot is turned off for it"
    NOTHING_TO_DO = "it has no pending workflow"
    BAD_REQUEST = "the request named no valid MAC"


@dataclass(frozen=True)
class Machine:
    """What the server knows about the MAC that asks, as far as booting goes."""

    name: str
    allow_netboot: bool
    workflow: str | None  # a PENDING or RUNNING workflow's id
    kernel_args: str = ""  # the hardware's own extra kernel arguments


@dataclass(frozen=True)
class BootFiles:
    """URLs of the kernel and of each initramfs archive, in the order they are loaded."""

    kernel: str
    initrds: tuple[str, ...]


def reason_for(machine: Machine | None) -> Reason | None:
    """None when the machine is to boot the agent; else why it boots its disk."""
    if machine is None:
        return Reason.UNKNOWN
    if not machine.allow_netboot:
        return Reason.NETBOOT_OFF
    if machine.workflow is None:
        return Reason.NOTHING_TO_DO
    return None


def chain_script(base_url: str) -> str:
    """`/boot.ipxe`: the same for every machine; asks again with the MAC and platform."""
    query = "mac=${mac:hexhyp}&platform=${platform}&buildarch=${buildarch}"
    return "\n".join(
        [
            "#!ipxe",
            "echo metalinit: asking the server what ${mac} boots",
            f"chain --autofree {base_url.rstrip('/')}/ipxe?{query} || exit 1",
            "",
        ]
    )


def local_script(platform: str, mac: str, reason: Reason) -> str:
    """Back to the firmware, which boots the next device in its order: the local disk."""
    # `exit` returns to the firmware, which tries its next boot device: SeaBIOS goes on to
    # the disk. Debian 12's ipxe.efi never returns to OVMF from `exit` (its snponly.efi
    # returns success, and OVMF then opens its menu), so a UEFI machine boots its disk
    # first and reaches us only while that disk cannot boot (docs/netboot.md).
    lines = ["#!ipxe", f"echo metalinit: {_safe(mac)} boots its local disk: {reason.value}"]
    lines.append("exit 0")
    return "\n".join([*lines, ""])


def kernel_args(provision_url: str, mac: str, initrd_names: tuple[str, ...],
                extra: str = "", console: str = DEFAULT_CONSOLE) -> str:  # fmt: skip
    """The agent's command line. `initrd=NAME` per archive is how an EFI-stub kernel finds
    the archives iPXE holds (a BIOS boot ignores it); the hardware's arguments come last,
    so they win."""
    parts = [f"provision={provision_url}", f"metalinit.iface={mac}", console]
    parts += [f"initrd={name}" for name in initrd_names]
    parts.append(extra)
    return " ".join(part for part in parts if part)


def agent_script(machine: Machine, files: BootFiles, args: str) -> str:
    """Download kernel and archives, each up to ATTEMPTS times, then boot them."""
    names = [file_name(url) for url in (files.kernel, *files.initrds)]
    steps = [f"kernel --name {names[0]} {files.kernel} {args}"]
    steps += [f"initrd --name {n} {url}" for n, url in zip(names[1:], files.initrds, strict=True)]
    lines = [
        "#!ipxe",
        f"echo metalinit: {_safe(machine.name)} boots the agent for workflow "
        f"{_safe(machine.workflow or '')}",
        "imgfree",
    ]
    lines += [f"set try{n}:int32 0" for n in range(len(steps))]
    for n, (step, name) in enumerate(zip(steps, names, strict=True)):
        lines += [
            f":get{n}",
            f"{step} && goto got{n} || inc try{n}",
            f"iseq ${{try{n}}} {ATTEMPTS} && goto failed || "
            f"echo metalinit: {name}: attempt ${{try{n}}} of {ATTEMPTS} failed, again in "
            f"{RETRY_SECONDS} s",
            f"sleep {RETRY_SECONDS}",
            f"goto get{n}",
            f":got{n}",
        ]
    lines += [
        "boot || goto failed",
        ":failed",
        f"echo metalinit: the boot files did not arrive after {ATTEMPTS} attempts; "
        "leaving iPXE, the firmware tries its next boot device",
        f"sleep {FAIL_PAUSE_SECONDS}",
        "exit 1",
        "",
    ]
    return "\n".join(lines)


def file_name(url: str) -> str:
    """The last path element of a URL: the image's name inside iPXE."""
    return url.rstrip("/").rsplit("/", 1)[-1].split("?", 1)[0]


def archive_order(names: list[str]) -> tuple[str, ...]:
    """The initramfs archives the build wrote, the base one first (later archives add to
    it), then the others by name: `initramfs.cpio.zst`, `initramfs-hardware.cpio.zst`."""
    found = [n for n in names if n.startswith("initramfs") and ".cpio" in n]
    return tuple(sorted(found, key=lambda n: (not n.startswith("initramfs.cpio"), n)))


def platform_of(text: str) -> str:
    """iPXE's ${platform}; anything else is treated as a UEFI one (exit works for both)."""
    return text if text in PLATFORMS else "efi"


def _safe(text: str) -> str:
    return _SAFE.sub("?", text)[:80]
