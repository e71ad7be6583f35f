"""`metalinit`: the user's one command. Each subcommand imports its module only when run,
so `metalinit cmdline …` in a rescue shell starts as fast as the agent itself."""

from __future__ import annotations

import sys
from collections.abc import Callable

USAGE = """\
usage: metalinit COMMAND [ARGS…]

commands:
  cmdline [ARGS…]     parse kernel arguments (default: this host's) and print them as JSON
  disks [PATH…]       list block devices or image files and the root= specs they match
  dhcp [IFACE…]       get a DHCPv4 lease (prints it; changes the interface only with --apply)
  kernel fetch|list   fetch the pinned kernel, list the known manifests
  build               build out/vmlinuz and out/initramfs.cpio.zst
  boot --disk IMG     boot out/ in QEMU with a disk attached
  selfcheck           check that the agent's parts load and parse on this host
  inventory [--json]  print this machine's hardware, as the provisioning worker reports it
  worker --server URL run this machine's provisioning workflow (what a provision= boot does)
  demo                build, make an example disk and boot it (the README's main job)
  serve               run the provisioning server
  hw, template, workflow, apply   its hardware, templates and workflows (admin client)
"""


def _cmdline(argv: list[str]) -> int:
    from agent.cmdline_cli import main

    return main(argv)


def _disks(argv: list[str]) -> int:
    from agent.blockdev.cli import main

    return main(argv)


def _dhcp(argv: list[str]) -> int:
    from agent.net.cli import main

    return main(argv)


def _kernel(argv: list[str]) -> int:
    from kernels.cli import main

    return main(argv)


def _build(argv: list[str]) -> int:
    from initramfs.cli import main

    return main(argv)


def _boot(argv: list[str]) -> int:
    from initramfs.qemu_cli import main

    return main(argv)


def _selfcheck(argv: list[str]) -> int:
    from agent.selfcheck import main

    return main(argv)


def _inventory(argv: list[str]) -> int:
    from agent.provision.inventory_cli import main

    return main(argv)


def _worker(argv: list[str]) -> int:
    from agent.provision.worker_cli import main

    return main(argv)


def _demo(argv: list[str]) -> int:
    from initramfs.demo import main

    return main(argv)


def _serve(argv: list[str]) -> int:
    from server.cli import serve

    return serve(argv)


def _hw(argv: list[str]) -> int:
    from server.cli import hw

    return hw(argv)


def _template(argv: list[str]) -> int:
    from server.cli import template

    return template(argv)


def _workflow(argv: list[str]) -> int:
    from server.cli import workflow

    return workflow(argv)


def _apply(argv: list[str]) -> int:
    from server.cli import apply

    return apply(argv)


COMMANDS: dict[str, Callable[[list[str]], int]] = {
    "cmdline": _cmdline,
    "disks": _disks,
    "dhcp": _dhcp,
    "kernel": _kernel,
    "build": _build,
    "boot": _boot,
    "selfcheck": _selfcheck,
    "inventory": _inventory,
    "worker": _worker,
    "demo": _demo,
    "serve": _serve,
    "hw": _hw,
    "template": _template,
    "workflow": _workflow,
    "apply": _apply,
}


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] in ("-h", "--help", "help"):
        sys.stdout.write(USAGE)
        return 0 if args else 2
    command = COMMANDS.get(args[0])
    if command is None:
        sys.stderr.write(f"metalinit: unknown command {args[0]!r}\n\n{USAGE}")
        return 2
    try:
        return command(args[1:])
    except ModuleNotFoundError as err:  # the initramfs carries only the agent's commands
        sys.stderr.write(f"metalinit {args[0]}: not available here ({err.name} is not installed)\n")
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
