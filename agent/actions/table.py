"""The built-in actions, by name, and how an action's `image` names one.

An image names a built-in action by the last element of its path, before the tag or
digest: `image2disk`, `quay.io/tinkerbell/actions/image2disk:latest` and
`quay.io/tinkerbell-actions/image2disk:v1.0.0@sha256:…` are all `image2disk`. Each module
is imported only when its action runs, so the worker starts without any of them.
"""

from __future__ import annotations

import importlib

from agent.actions import Action, ActionContext, Then

BUILTINS: dict[str, str] = {  # name → module with `run(ctx)`
    "image2disk": "agent.actions.image2disk",
    "oci2disk": "agent.actions.oci2disk",
    "archive2disk": "agent.actions.archive2disk",
    "writefile": "agent.actions.writefile",
    "cexec": "agent.actions.cexec",
    "kexec": "agent.actions.kexec",
    "slurp": "agent.actions.slurp",
    "reboot": "agent.actions.reboot",
    "poweroff": "agent.actions.poweroff",
}


def action_name(image: str) -> str:
    """The last path element of an image reference, without tag or digest, lower-cased."""
    name = image.partition("@")[0].rstrip("/").rpartition("/")[2]
    return name.partition(":")[0].lower()


class _Lazy:
    """An action whose module is imported when it is first called."""

    def __init__(self, module: str) -> None:
        self.module = module

    def __call__(self, ctx: ActionContext) -> Then | None:
        run: Action = importlib.import_module(self.module).run
        return run(ctx)

    def __repr__(self) -> str:
        return f"<built-in action {self.module}>"


def builtin_for(image: str) -> Action | None:
    """The built-in action `image` names, or None: then it runs as a container."""
    module = BUILTINS.get(action_name(image))
    return _Lazy(module) if module is not None else None
