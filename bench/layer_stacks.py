"""The layer-stack property of tests/rootfs_tools/test_layer_stacks.py, run longer and with a
fresh seed: `.venv/bin/python bench/layer_stacks.py --examples 5000` (as root: it mounts).

Prints a markdown table of outcomes; a counterexample fails the run with hypothesis's
shrunk report."""

from __future__ import annotations

import argparse
import tempfile
import time
from collections import Counter
from pathlib import Path

from hypothesis import HealthCheck, given, seed, settings

from tests.rootfs_tools.layer_stacks import Spec, check_stack, compressions, stacks


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--examples", type=int, default=3000)
    p.add_argument("--seed", type=int, default=None)
    args = p.parse_args()
    outcomes: Counter[str] = Counter()

    @settings(
        max_examples=args.examples,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(layers=stacks, squash=compressions)
    def prop(layers: list[list[Spec]], squash: list[object]) -> None:
        with tempfile.TemporaryDirectory(prefix="stack-") as work:
            outcomes[check_stack(Path(work), layers, squash)] += 1

    if args.seed is not None:
        prop = seed(args.seed)(prop)
    start = time.monotonic()
    prop()
    took = time.monotonic() - start
    print("| outcome | examples |\n|---|---|")
    for outcome, count in sorted(outcomes.items()):
        print(f"| {outcome} | {count} |")
    print(f"\n{sum(outcomes.values())} examples in {took:.0f} s, no counterexample")


if __name__ == "__main__":
    main()
