"""Hypothesis strategies for layer stacks, and the check every generated stack must pass:
img-from-container refuses it cleanly (one line, no output) or writes an image `e2fsck -fn`
accepts whose mounted tree equals `umoci unpack`'s."""

from __future__ import annotations

import contextlib
import io
import signal
import subprocess
import tarfile
from dataclasses import dataclass
from pathlib import Path

from hypothesis import strategies as st

from rootfs_tools import cli
from tests.rootfs_tools.images import gz, plain, write_layout
from tests.rootfs_tools.test_conformance import assert_same
from tests.rootfs_tools.trees import assert_fsck_clean, ext4_tree, tree, umoci_unpacked

MIN_TIME, MAX_TIME = -(1 << 31), (1 << 34) - (1 << 31) - 1
# Repeats weight the draw: most entries are valid and collide often; a few are not.
NAMES = ["a", "b"] * 4 + ["c", "ü odd name", "n" * 255, "-x", ".hidden"]
IDS = [0] * 60 + [1, 1000, 65535, 65536, (1 << 32) - 2] * 4 + [1 << 32, -1]
TIMES = [1_700_000_000.0] * 8 + [0.0, 2_100_000_000.0, -3_000_000_000.0, 20_000_000_000.0, 1.5]
TIMES += [float("nan")]
SIZES = [0, 1, 4095, 4096, 70_000]
XATTRS = [
    *[()] * 24,
    (("trusted.k", b"v"),),
    (("trusted.big", b"z" * 3000),),  # needs an xattr block
    (("trusted." + "k" * 247, b"v" * 40),),  # a 255-byte name
    (("trusted." + "k" * 248, b"v"),),  # 256 bytes: refused
]
KINDS = ["file"] * 6 + ["dir"] * 4 + ["symlink"] * 2 + ["whiteout"] * 2
KINDS += ["hardlink", "fifo", "chr", "opaque"]


@dataclass(frozen=True)
class Spec:
    kind: str
    path: str
    uid: int
    gid: int
    mtime: float
    size: int
    mode: int
    target: str
    xattrs: tuple[tuple[str, bytes], ...]


paths = st.lists(st.sampled_from(NAMES), min_size=1, max_size=3).map("/".join)
specs = st.builds(
    Spec,
    kind=st.sampled_from(KINDS),
    path=paths,
    uid=st.sampled_from(IDS),
    gid=st.sampled_from(IDS),
    mtime=st.sampled_from(TIMES),
    size=st.sampled_from(SIZES),
    mode=st.sampled_from([0o644, 0o755, 0o4755, 0o1777, 0o000]),
    target=st.sampled_from(
        ["a", "b", "a/b", "b/a", "c"] * 4 + ["t" * 300] * 2 + ["/etc/passwd", "../../up", ""]
    ),
    xattrs=st.sampled_from(XATTRS),
)
stacks = st.lists(st.lists(specs, max_size=8), min_size=1, max_size=4)
compressions = st.lists(st.sampled_from([gz, plain]), min_size=4, max_size=4)


def _member(spec: Spec, index: int) -> tuple[tarfile.TarInfo, bytes]:
    parent, _, name = spec.path.rpartition("/")
    prefix = f"{parent}/" if parent else ""
    member = tarfile.TarInfo(spec.path)
    member.mode = spec.mode  # mtime only in the PAX header: it may be nan
    member.pax_headers = {"uid": str(spec.uid), "gid": str(spec.gid), "mtime": repr(spec.mtime)}
    member.pax_headers |= {
        f"SCHILY.xattr.{k}": v.decode("utf-8", "surrogateescape") for k, v in spec.xattrs
    }
    data = b""
    match spec.kind:
        case "file":
            data = bytes([index % 251]) * spec.size
        case "dir":
            member.type = tarfile.DIRTYPE
        case "symlink":
            member.type, member.linkname = tarfile.SYMTYPE, spec.target
        case "hardlink":
            member.type, member.linkname = tarfile.LNKTYPE, spec.target
        case "fifo":
            member.type = tarfile.FIFOTYPE
        case "chr":
            member.type, member.devmajor, member.devminor = tarfile.CHRTYPE, 259, 300
        case "whiteout":
            member.name, member.pax_headers = f"{prefix}.wh.{name}", {}
        case "opaque":
            member.name, member.pax_headers = f"{spec.path}/.wh..wh..opq", {}
    member.size = len(data)
    return member, data


def layer(specs: list[Spec]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for i, spec in enumerate(specs):
            member, data = _member(spec, i)
            tar.addfile(member, io.BytesIO(data) if data else None)
    return out.getvalue()


def _convert(layout: Path, out: Path) -> tuple[int, str]:
    err = io.StringIO()
    previous = signal.getsignal(signal.SIGTERM)
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            code = cli.main([f"oci:{layout}:latest", "-o", str(out), "-q", "--free", "5%"])
    finally:
        signal.signal(signal.SIGTERM, previous)
    return code, err.getvalue()


def _without_clamped_times(
    ours: dict[str, tuple[object, ...]], reference: dict[str, tuple[object, ...]]
) -> None:
    """Times ext4 cannot hold: we clamp them (as the kernel does), umoci wraps them past
    2446 and keeps them before 1901 on a wider filesystem; the comparison skips them."""
    for path, desc in ours.items():
        if desc[-1] in (MIN_TIME, MAX_TIME) and path in reference:
            ours[path] = (*desc[:-1], None)
            reference[path] = (*reference[path][:-1], None)


def check_stack(work: Path, layers: list[list[Spec]], squash: list[object]) -> str:
    """One example: 'refused', 'converted' or 'converted, umoci refused'."""
    tars = [layer(specs) for specs in layers]
    layout = write_layout(work / "layout", tars, squash[: len(tars)], {})  # type: ignore[arg-type]
    out_dir = work / "out"
    out_dir.mkdir()
    code, stderr = _convert(layout, out_dir / "disk.img")
    assert "Traceback" not in stderr
    if code:
        assert code in (1, 3, 5), stderr
        assert stderr.count("\n") == 1 and stderr.startswith("img-from-container: "), stderr
        assert list(out_dir.iterdir()) == [], "a refused conversion left output"
        return "refused"
    image = out_dir / "disk.img"
    assert list(out_dir.iterdir()) == [image]
    assert_fsck_clean(image)
    try:
        with umoci_unpacked(layout, "latest") as rootfs:
            reference = tree(rootfs)
    except subprocess.CalledProcessError:
        return "converted, umoci refused"
    ours = ext4_tree(image)
    if "etc" not in reference:  # made for the bind-filled files
        ours.pop("etc", None)
    _without_clamped_times(ours, reference)
    assert_same(ours, reference)
    return "converted"
