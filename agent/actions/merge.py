"""Move an unpacked tree into place over an existing one, entry by entry, by rename.

archive2disk unpacks into a staging directory on the target filesystem and moves the
result into DEST_PATH only once the archive's checksum has been checked, so a wrong
archive changes nothing there. Rules as a tar extraction (and a layer) over existing files:
a directory merges into a directory (its mode, owner and times become the archive's);
anything else replaces what is there, a directory included; an existing symlink is
replaced, never followed.
"""

from __future__ import annotations

import os
import shutil
import stat


def merge_tree(staged: str, dest: str) -> int:
    """Move everything below `staged` into `dest`; returns the entries moved. `staged`
    is left empty."""
    moved = 0
    for name in os.listdir(staged):
        source, target = os.path.join(staged, name), os.path.join(dest, name)
        source_mode = os.lstat(source).st_mode
        try:
            target_mode: int | None = os.lstat(target).st_mode
        except FileNotFoundError:
            target_mode = None
        if stat.S_ISDIR(source_mode) and target_mode is not None and stat.S_ISDIR(target_mode):
            moved += merge_tree(source, target)
            copy_attributes(source, target)
            os.rmdir(source)
            continue
        if target_mode is not None and stat.S_ISDIR(target_mode):
            shutil.rmtree(target)
        elif target_mode is not None and stat.S_ISDIR(source_mode):
            os.unlink(target)  # rename cannot put a directory over a file or a symlink
        os.rename(source, target)
        moved += 1
    return moved


def copy_attributes(source: str, target: str) -> None:
    st = os.lstat(source)
    os.chown(target, st.st_uid, st.st_gid, follow_symlinks=False)
    os.chmod(target, stat.S_IMODE(st.st_mode))
    os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns), follow_symlinks=False)
