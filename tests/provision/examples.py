"""Tinkerbell's example files (tests/server/fixtures/tinkerbell/) as a test fills them in:
each change is a literal text replacement that must find its text."""

from __future__ import annotations

from pathlib import Path

FIXTURES = Path(__file__).parents[1] / "server" / "fixtures" / "tinkerbell"
MACHINE1_MAC = "3c:ec:ef:4c:4f:54"  # machine1-hardware.yaml's interface
UBUNTU_ARTIFACTS = "http://10.1.1.11:7173"  # where ubuntu-template.yaml's image is
MACHINE1_DISK = "/dev/nvme0n1"


def example(name: str, **changes: str) -> str:
    text = (FIXTURES / name).read_text()
    for old, new in changes.items():
        assert old in text, f"{old} is not in {name}"
        text = text.replace(old, new)
    return text


def ubuntu_for_machine1(artifacts: str, disk: str) -> str:
    """The Ubuntu example's Template, machine1's Hardware and Workflow, as one file."""
    return "---\n".join([
        example("ubuntu-template.yaml", **{UBUNTU_ARTIFACTS: artifacts}),
        example("machine1-hardware.yaml", **{MACHINE1_DISK: disk}),
        example("machine1-workflow.yaml"),
    ])  # fmt: skip
