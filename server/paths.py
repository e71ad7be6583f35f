"""Where the server keeps its files, found the same way by `serve` and the client CLI:
--data DIR, else $METALINIT_DATA, else /var/lib/metalinit for root and
~/.local/share/metalinit for anyone else."""

from __future__ import annotations

import os
from pathlib import Path

ADMIN_TOKEN_FILE = "admin-token"
DEFAULT_DB_FILE = "metalinit.db"


def data_dir(given: str | os.PathLike[str] | None = None) -> Path:
    if given:
        return Path(given)
    env = os.environ.get("METALINIT_DATA")
    if env:
        return Path(env)
    if os.geteuid() == 0:
        return Path("/var/lib/metalinit")
    return Path.home() / ".local" / "share" / "metalinit"
