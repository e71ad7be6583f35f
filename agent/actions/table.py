"""The built-in actions, by name, and how an action's `image` names one.

An image names a built-in action by the last element of its path, before the tag or
digest: `image2disk`, `quay.io/tinkerbell/actions/image2disk:latest` and
`quay.io/tinkerbell-actions/image2disk:v1.0.0@sha256:…` are all `image2disk`.

Each entry imports its module only when the action runs, so the worker starts without any
of them; the imports are written out (not module names in strings) so that PyInstaller's
import scan finds the modules and freezes them into the agent.
"""

from __future__ import annotations

from agent.actions import Action, ActionContext, Then


def _image2disk(ctx: ActionContext) -> Then | None:
    from agent.actions import image2disk

    return image2disk.run(ctx)


def _oci2disk(ctx: ActionContext) -> Then | None:
    from agent.actions import oci2disk

    return oci2disk.run(ctx)


def _archive2disk(ctx: ActionContext) -> Then | None:
    from agent.actions import archive2disk

    return archive2disk.run(ctx)


def _writefile(ctx: ActionContext) -> Then | None:
    from agent.actions import writefile

    return writefile.run(ctx)


def _cexec(ctx: ActionContext) -> Then | None:
    from agent.actions import cexec

    return cexec.run(ctx)


def _kexec(ctx: ActionContext) -> Then | None:
    from agent.actions import kexec

    return kexec.run(ctx)


def _slurp(ctx: ActionContext) -> Then | None:
    from agent.actions import slurp

    return slurp.run(ctx)


def _reboot(ctx: ActionContext) -> Then | None:
    from agent.actions import reboot

    return reboot.run(ctx)


def _poweroff(ctx: ActionContext) -> Then | None:
    from agent.actions import poweroff

    return poweroff.run(ctx)


BUILTINS: dict[str, Action] = {
    "image2disk": _image2disk,
    "oci2disk": _oci2disk,
    "archive2disk": _archive2disk,
    "writefile": _writefile,
    "cexec": _cexec,
    "kexec": _kexec,
    "slurp": _slurp,
    "reboot": _reboot,
    "poweroff": _poweroff,
}


def action_name(image: str) -> str:
    """The last path element of an image reference, without tag or digest, lower-cased."""
    name = image.partition("@")[0].rstrip("/").rpartition("/")[2]
    return name.partition(":")[0].lower()


def builtin_for(image: str) -> Action | None:
    """The built-in action `image` names, or None: then it runs as a container."""
    return BUILTINS.get(action_name(image))
