"""The pure parts of the actions, as tables: names, environment values, checksums,
compression choice, the partition plan."""

from __future__ import annotations

import bz2
import gzip
import lzma
import os
import subprocess
from pathlib import Path

import pytest

from agent.actions import ActionError, Then, decoders, envvars
from agent.actions import checksum as ck
from agent.actions.table import BUILTINS, action_name, builtin_for
from agent.blockdev.partitions import Partition, PartitionTable
from agent.blockdev.rescan import Change, plan


@pytest.mark.parametrize(
    ("image", "name"),
    [
        ("image2disk", "image2disk"),
        ("quay.io/tinkerbell/actions/image2disk:latest", "image2disk"),
        ("quay.io/tinkerbell-actions/image2disk:v1.0.0", "image2disk"),
        ("quay.io/tinkerbell/actions/image2disk@sha256:" + "a" * 64, "image2disk"),
        ("quay.io/tinkerbell/actions/writefile:v1@sha256:" + "b" * 64, "writefile"),
        ("localhost:5000/cexec", "cexec"),
        ("127.0.0.1:5000/tools/kexec:1.2", "kexec"),
        ("Quay.io/Tinkerbell/Actions/Slurp:Latest", "slurp"),
        ("docker.io/library/alpine:3.19", "alpine"),
        ("ghcr.io/jacobweinstock/waitdaemon:0.2.2", "waitdaemon"),
        ("GHCR.io/JacobWeinstock/WaitDaemon:0.2.2@sha256:" + "c" * 64, "waitdaemon"),
    ],
)
def test_action_name(image: str, name: str) -> None:
    assert action_name(image) == name


def test_builtin_for_names_every_builtin_and_nothing_else() -> None:
    for name in BUILTINS:
        assert builtin_for(f"quay.io/tinkerbell/actions/{name}:latest") is not None
    assert builtin_for("docker.io/library/alpine:3.19") is None
    assert builtin_for("ghcr.io/jacobweinstock/waitdaemon:latest") is None  # the worker's


@pytest.mark.parametrize(
    ("image", "inner"),
    [
        ("ghcr.io/jacobweinstock/waitdaemon:0.2.2", "quay.io/tinkerbell/actions/kexec:latest"),
        ("GHCR.io/JacobWeinstock/WaitDaemon:latest", "quay.io/tinkerbell/actions/kexec:latest"),
        ("localhost:5000/waitdaemon", "quay.io/tinkerbell/actions/kexec:latest"),
        ("quay.io/tinkerbell/actions/kexec:latest", None),
        ("ghcr.io/jacobweinstock/waitdaemonx:1", None),
    ],
)
def test_waitdaemon_is_named_as_builtins_are(image: str, inner: str | None) -> None:
    from agent.provision.attempt import inner_of_waitdaemon
    from agent.provision.wire import ActionSpec

    spec = ActionSpec(
        id="a1", workflow="wf", task="t", name="kexec-it", image=image, timeout=90,
        environment={"IMAGE": " quay.io/tinkerbell/actions/kexec:latest "},
    )  # fmt: skip
    found = inner_of_waitdaemon(spec)
    assert (found.image if found else None) == inner


@pytest.mark.parametrize(("name", "then"), [("reboot", Then.REBOOT), ("poweroff", Then.POWEROFF)])
def test_terminal_actions_return_what_the_worker_does(name: str, then: Then) -> None:
    from agent.actions import ActionContext

    lines: list[str] = []
    action = builtin_for(name)
    assert action is not None
    assert action(ActionContext(name, name, {}, say=lines.append)) is then
    assert lines and name in lines[0]


@pytest.mark.parametrize(
    ("value", "expected"),
    [("true", True), ("1", True), ("T", True), ("TRUE", True), ("True", True),
     ("false", False), ("0", False), ("f", False), ("FALSE", False), ("", False),
     (" true ", True)],
)  # fmt: skip
def test_flag_reads_as_go_parsebool(value: str, expected: bool) -> None:
    assert envvars.flag({"X": value}, "X") is expected


@pytest.mark.parametrize("value", ["yes", "y", "on", "2", "tru"])
def test_flag_refuses_what_go_refuses(value: str) -> None:
    with pytest.raises(ActionError, match=f"X={value!r}"):
        envvars.flag({"X": value}, "X")


@pytest.mark.parametrize(
    ("value", "mode"),
    [
        ("0600", 0o600),
        ("600", 0o600),
        ("0o755", 0o755),
        ("0", 0),
        ("4755", 0o4755),
        ("07777", 0o7777),
    ],
)
def test_octal_modes_as_written_in_yaml(value: str, mode: int) -> None:
    assert envvars.octal({"MODE": value}, "MODE") == mode


@pytest.mark.parametrize("value", ["0800", "rw-r--r--", "17777", "-1", "0x1ff"])
def test_octal_refuses_non_modes(value: str) -> None:
    with pytest.raises(ActionError, match="MODE="):
        envvars.octal({"MODE": value}, "MODE")


def test_integer_and_required() -> None:
    assert envvars.integer({}, "N", 3) == 3
    assert envvars.integer({"N": "10"}, "N", 3) == 10
    with pytest.raises(ActionError, match="at least 1"):
        envvars.integer({"N": "0"}, "N", 3, minimum=1)
    with pytest.raises(ActionError, match="whole number"):
        envvars.integer({"N": "1.5"}, "N", 3)
    with pytest.raises(ActionError, match="DEST_DISK is not set: it must name the disk"):
        envvars.required({"DEST_DISK": "  "}, "DEST_DISK", "the disk")


SHA256 = "ab" * 32
SHA512 = "cd" * 64


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (f"sha256:{SHA256}", ck.Expected("sha256", SHA256)),
        (f"SHA256:{SHA256.upper()}", ck.Expected("sha256", SHA256)),
        (f"sha512:{SHA512}", ck.Expected("sha512", SHA512)),
        (SHA256, ck.Expected("sha256", SHA256)),
        (SHA512, ck.Expected("sha512", SHA512)),
    ],
)
def test_parse_digest(value: str, expected: ck.Expected) -> None:
    assert ck.parse_digest(value, "CHECKSUM") == expected


@pytest.mark.parametrize(
    "value", [f"md5:{'a' * 32}", f"sha256:{SHA512}", "sha256:xyz", "abc", f"sha1:{'a' * 40}"]
)
def test_parse_digest_refuses(value: str) -> None:
    with pytest.raises(ActionError, match="CHECKSUM="):
        ck.parse_digest(value, "CHECKSUM")


SUMS = f"""\
# comment
{"1" * 64}  other.img
{SHA256}  ./images/disk.img.zst
{"2" * 64} *binary.img
SHA512 (bsd.img) = {SHA512}
{"3" * 64}  spaced name.img
"""


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("disk.img.zst", ck.Expected("sha256", SHA256)),
        ("binary.img", ck.Expected("sha256", "2" * 64)),
        ("bsd.img", ck.Expected("sha512", SHA512)),
        ("spaced name.img", ck.Expected("sha256", "3" * 64)),
    ],
)
def test_checksum_file_entries(name: str, expected: ck.Expected) -> None:
    assert ck.from_checksum_file(SUMS, name, "SUMS") == expected


def test_checksum_file_without_the_name_lists_what_it_names() -> None:
    with pytest.raises(ActionError, match=r"no entry for 'disk\.img'.*other\.img"):
        ck.from_checksum_file(SUMS, "disk.img", "SUMS")


@pytest.mark.parametrize(
    ("url", "name"),
    [("http://h/a/b/disk.img.zst", "disk.img.zst"), ("http://h/disk%20one.img?x=1", "disk one.img"),
     ("https://h:8080/d.raw", "d.raw")],
)  # fmt: skip
def test_file_name_of_a_url(url: str, name: str) -> None:
    assert ck.file_name(url) == name


ZSTD_HEAD = bytes.fromhex("28b52ffd")
GZIP_HEAD = b"\x1f\x8b\x08\x00"


@pytest.mark.parametrize(
    ("head", "path", "compressed", "kind", "note"),
    [
        (b"\0" * 18, "/disk.img", False, "raw", ""),
        (b"\0" * 18, "/disk.img.gz", False, "raw", ""),  # the hub: COMPRESSED false → raw
        (GZIP_HEAD, "/disk.img.gz", True, "gzip", ""),
        (GZIP_HEAD, "/disk.img", False, "gzip", "magic bytes"),
        (
            ZSTD_HEAD,
            "/disk.img.gz",
            True,
            "zstd",
            "the name says gzip but the magic bytes say zstd",
        ),
        (b"BZh91AY", "/disk.bzip2", True, "bzip2", ""),
        (b"\xfd7zXZ\x00\x00", "/disk.xz", True, "xz", ""),
        (ZSTD_HEAD, "/disk.zs", True, "zstd", ""),
    ],
)
def test_choose_decompressor(
    head: bytes, path: str, compressed: bool, kind: str, note: str
) -> None:
    chosen, said = decoders.choose(head, path, compressed)
    assert chosen == kind
    assert note in said and (said == "") == (note == "")


@pytest.mark.parametrize(
    ("path", "message"), [("/disk.img.gz", "name says gzip"), ("/disk.img", "neither gzip")]
)
def test_compressed_true_needs_compressed_data(path: str, message: str) -> None:
    with pytest.raises(decoders.DecodeError, match=message):
        decoders.choose(b"\0" * 18, path, True)


@pytest.mark.parametrize("size", [0, 1, 255, 256, 300, 65535 + 256, 70000, 1 << 33])
def test_zstd_content_size_as_the_zstd_tool_writes_it(tmp_path: Path, size: int) -> None:
    path = tmp_path / "f"
    with open(path, "wb") as f:
        f.truncate(size)
    with subprocess.Popen(["zstd", "-q", "-c", str(path)], stdout=subprocess.PIPE) as zstd:
        assert zstd.stdout is not None
        head = zstd.stdout.read(18)  # the header comes first: no need to wait for the rest
        zstd.kill()
    assert decoders.zstd_content_size(head) == size


def test_zstd_from_a_pipe_declares_no_size() -> None:
    head = subprocess.run(
        ["zstd", "-q", "-c"], input=b"x" * 1000, capture_output=True, check=True
    ).stdout
    assert decoders.zstd_content_size(head[:18]) is None


def test_gzip_trailer_is_a_lower_bound_unless_implausible() -> None:
    data = gzip.compress(bytes(100_000))
    assert decoders.gzip_size_floor(data[-4:], len(data)) == 100_000
    assert decoders.gzip_size_floor(b"\xff\xff\xff\x7f", 1000) is None


PAYLOAD = os.urandom(512 << 10) + bytes(9 << 20)  # more than OUT_CHUNK per member


@pytest.mark.parametrize(
    ("kind", "data"),
    [
        ("gzip", gzip.compress(PAYLOAD) + gzip.compress(PAYLOAD)),
        ("xz", lzma.compress(PAYLOAD) + lzma.compress(PAYLOAD)),
        ("bzip2", bz2.compress(PAYLOAD) + bz2.compress(PAYLOAD)),
        (
            "zstd",
            subprocess.run(["zstd", "-q", "-c"], input=PAYLOAD, capture_output=True).stdout * 2,
        ),
    ],
)
@pytest.mark.parametrize("piece", [1, 4096, 1 << 20, 64 << 20])
def test_decoders_give_bounded_pieces_of_concatenated_members(
    kind: str, data: bytes, piece: int
) -> None:
    if piece == 1:
        data, want = data[:300], None  # byte by byte is slow: just the first member's start
    else:
        want = PAYLOAD * 2
    d = decoders.decoder(kind)
    out = bytearray()
    for i in range(0, len(data), piece):
        for part in d.feed(data[i : i + piece]):
            assert 0 < len(part) <= decoders.OUT_CHUNK
            out += part
    if want is None:
        assert PAYLOAD.startswith(bytes(out))
        return
    d.end()
    assert out == want


@pytest.mark.parametrize("kind", ["gzip", "xz", "bzip2", "zstd"])
def test_decoders_know_a_truncated_stream(kind: str) -> None:
    whole = {"gzip": gzip.compress, "xz": lzma.compress, "bzip2": bz2.compress,
             "zstd": lambda b: subprocess.run(["zstd", "-q", "-c"], input=b, capture_output=True).stdout}[kind](PAYLOAD)  # fmt: skip
    d = decoders.decoder(kind)
    for _ in d.feed(whole[: len(whole) - 10]):
        pass
    with pytest.raises(decoders.DecodeError, match="truncated"):
        d.end()


def test_gzip_zero_padding_is_allowed_and_garbage_is_not() -> None:
    d = decoders.decoder("gzip")
    assert b"".join(d.feed(gzip.compress(b"abc") + bytes(512))) == b"abc"
    d.end()
    d = decoders.decoder("gzip")
    with pytest.raises(decoders.DecodeError, match="data follows"):
        list(d.feed(gzip.compress(b"abc") + b"garbage"))


def test_damaged_data_is_named() -> None:
    data = bytearray(gzip.compress(PAYLOAD))
    data[100:110] = b"\xff" * 10
    with pytest.raises(decoders.DecodeError, match="gzip data is damaged"):
        list(decoders.decoder("gzip").feed(bytes(data)))


MIB = 1 << 20
GPT = PartitionTable("gpt", "u", (Partition(1, MIB, 8 * MIB), Partition(2, 9 * MIB, 4 * MIB)))


@pytest.mark.parametrize(
    ("table", "present", "changes"),
    [
        (GPT, {}, [Change("add", 1, MIB, 8 * MIB), Change("add", 2, 9 * MIB, 4 * MIB)]),
        (GPT, {1: (MIB, 8 * MIB), 2: (9 * MIB, 4 * MIB)}, []),
        (GPT, {1: (MIB, 8 * MIB), 2: (9 * MIB, 2 * MIB), 3: (20 * MIB, MIB)},
         [Change("del", 2), Change("del", 3), Change("add", 2, 9 * MIB, 4 * MIB)]),
        (None, {1: (MIB, MIB)}, [Change("del", 1)]),
        (PartitionTable("dos", None, (Partition(5, 3 * MIB, MIB),), extended=Partition(2, 2 * MIB, 8 * MIB)),
         {2: (2 * MIB, 1024)}, [Change("add", 5, 3 * MIB, MIB)]),
    ],
)  # fmt: skip
def test_rescan_plan(
    table: PartitionTable | None, present: dict[int, tuple[int, int]], changes: list[Change]
) -> None:
    assert plan(table, present) == changes


def test_each_builtin_imports_its_module_by_a_written_import() -> None:
    """PyInstaller freezes only what its bytecode scan finds: each entry of the table must
    import its module with an import statement, not a name in a string."""
    import dis

    for name, action in BUILTINS.items():
        ops = list(dis.get_instructions(action))
        imported = [(op.argval) for op in ops if op.opname in ("IMPORT_NAME", "IMPORT_FROM")]
        assert imported == ["agent.actions", name], (name, imported)
