"""Action images that are not built in, run as privileged containers with no runtime.

runc's libcontainer is the model: a create step (a child in new namespaces, parked on a
pipe) and a start step (mounts, pivot_root, hostname, user, exec) with the parent in
between. `run.run_container` is the whole life of one container; the modules beside it
each do one part: `pull` (registry → tmpfs tree), `spec` (what to run, pure), `volumes`
(`src:dst[:ro]`, pure), `paths` (paths inside the tree, symlinks kept inside), `mounts`
(the mount table), `create` (namespaces, the sync, the switch of root, exec).
"""

from __future__ import annotations

from agent.actions import ActionError


class ContainerError(ActionError):
    """The image could not be pulled, prepared or started; the message says which, and
    `exit_code` what a shell (or Docker) would have answered, where there is one."""

    def __init__(self, message: str, exit_code: int | None = None) -> None:
        super().__init__(message)
        self.exit_code = exit_code
