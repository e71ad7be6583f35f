"""The server's commands, reached from `metalinit`'s table: `serve` runs the server; `hw`,
`template`, `workflow` and `apply` are clients of its admin API."""

from __future__ import annotations


def serve(argv: list[str]) -> int:
    from server.serve import main

    return main(argv)


def hw(argv: list[str]) -> int:
    from server.cli.hw import main

    return main(argv)


def template(argv: list[str]) -> int:
    from server.cli.template import main

    return main(argv)


def workflow(argv: list[str]) -> int:
    from server.cli.workflow import main

    return main(argv)


def apply(argv: list[str]) -> int:
    from server.cli.template import apply_main

    return apply_main(argv)
