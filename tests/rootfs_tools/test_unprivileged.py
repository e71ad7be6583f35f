"""An ordinary user gets the same image as root: the direct writer needs no privilege, the
mkfs writer runs in one fakeroot session."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.rootfs_tools.conftest import Convert
from tests.rootfs_tools.trees import ext4_tree

NOBODY = 65534


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    """A directory the unprivileged user can write (pytest's tmp_path is root-only)."""
    path = Path(tempfile.mkdtemp(prefix="metalinit-unpriv-"))
    os.chmod(path, 0o777)
    yield path
    shutil.rmtree(path)


@pytest.mark.parametrize("writer", ["direct", "mkfs"])
def test_unprivileged_conversion_equals_root(
    convert: Convert, busybox_oci: Path, tmp_path: Path, shared_dir: Path, writer: str
) -> None:
    layout = shared_dir / "layout"
    shutil.copytree(busybox_oci, layout)
    subprocess.run(["chmod", "-R", "a+rX", str(layout)], check=True)
    as_root = tmp_path / "root.img"
    assert convert(f"oci:{layout}", "-o", str(as_root), "--writer", writer).returncode == 0
    as_user = shared_dir / "user.img"
    home = shared_dir / "home"
    home.mkdir()
    os.chown(home, NOBODY, NOBODY)
    setpriv = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"]
    done = convert(
        f"oci:{layout}",
        "-o",
        str(as_user),
        "--writer",
        writer,
        cache=shared_dir / "cache",
        user=setpriv,
        env={"HOME": str(home), "XDG_CACHE_HOME": str(home / ".cache")},
    )
    assert done.returncode == 0, done.stderr
    assert as_user.stat().st_uid == NOBODY
    ours, theirs = ext4_tree(as_user), ext4_tree(as_root)
    assert ours == theirs
    assert ours["bin/su"][1] == 0o4755 and ours["dev/loop0"][4] == (7, 0)
    assert dict(ours["usr/bin/ping"][5])  # type: ignore[arg-type]  # capability kept
