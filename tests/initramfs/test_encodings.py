"""Every codec the agent names in its sources is frozen into the initramfs: a GPT
partition name is UTF-16LE, and a codec left out fails the boot with LookupError."""

from __future__ import annotations

import codecs
import re
from pathlib import Path

from initramfs.freeze import ENCODINGS_KEPT

AGENT = Path(__file__).resolve().parents[2] / "agent"
NAMED = re.compile(r"""\.(?:de|en)code\(\s*["']([A-Za-z0-9_-]+)["']""")


def test_codecs_named_in_the_agent_are_kept() -> None:
    named = {m for path in AGENT.rglob("*.py") for m in NAMED.findall(path.read_text())}
    assert "utf-16-le" in named  # the GPT name decoder this guards
    modules = {codecs.lookup(name).name.replace("-", "_") for name in named}
    modules = {"latin_1" if m == "iso8859_1" else m for m in modules}
    assert modules <= ENCODINGS_KEPT, sorted(modules - ENCODINGS_KEPT)
