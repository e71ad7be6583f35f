"""agent.net.rtnl: pyroute2's rtnetlink part, imported without its package init and without
waiting for the kernel's CRNG."""

from __future__ import annotations

import subprocess
import sys

from initramfs.freeze import REPO

PROBE = """
import os, sys
def refuse(size):
    raise AssertionError(f"os.urandom({size}) during the import: it blocks before the CRNG is ready")
os.urandom = refuse
import agent.net.rtnl
assert os.urandom is refuse, "os.urandom was not put back"
print("sqlite3" in sys.modules, "pyroute2.ndb" in sys.modules, agent.net.rtnl.IPRoute.__name__)
"""


def test_import_draws_nothing_from_urandom_and_skips_the_package_init() -> None:
    done = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, cwd=REPO, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["False", "False", "IPRoute"]
