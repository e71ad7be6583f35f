"""Start a program in its own session, chrooted, as a user, with the console as its terminal.

fork + exec by hand: the child resets what PID 1 changed (blocked signals, ignored SIGPIPE),
and a close-on-exec pipe carries an exec failure back to the parent, so a missing entrypoint
is an error with a reason, not a silent exit code 127.

With a console, the session leader is a small keeper forked from the agent, and the program
runs as its child in the same process group. When a session leader exits, the kernel hangs
up its terminal and throws away output not yet sent; the keeper waits for the program,
drains the console, and only then exits with the program's status.
"""

from __future__ import annotations

import errno
import fcntl
import os
import signal
import termios

from agent.entrypoint import EntrypointError, Launch

EXIT_NOT_EXECUTABLE = 126
EXIT_NOT_FOUND = 127


def find_program(name: str, path_env: str) -> str:
    """`name` as execvp would find it (called after chroot, so paths are the new root's)."""
    if "/" in name:
        return name
    if not path_env:
        raise FileNotFoundError(errno.ENOENT, f"{name}: no PATH to look it up in, give a path")
    for directory in path_env.split(":"):
        candidate = os.path.join(directory or ".", name)
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    raise FileNotFoundError(errno.ENOENT, f"{name} is not in PATH={path_env}")


def _keep_session(program: int, write_end: int) -> None:
    """The session leader's whole life: wait for the program, drain, exit as it did."""
    os.close(write_end)
    while True:
        try:
            _, status = os.waitpid(program, 0)
            break
        except InterruptedError:
            continue
    try:
        termios.tcdrain(1)
    except (OSError, termios.error):
        pass
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        signal.signal(sig, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {sig})
        os.kill(os.getpid(), sig)
        os._exit(128 + sig)
    os._exit(os.waitstatus_to_exitcode(status))


def _child(launch: Launch, root: str, console_fd: int | None, write_end: int) -> None:
    os.setsid()
    if console_fd is not None:
        fcntl.ioctl(console_fd, termios.TIOCSCTTY, 1)
        for fd in (0, 1, 2):
            os.dup2(console_fd, fd)
        child = os.fork()
        if child:
            _keep_session(child, write_end)
    signal.pthread_sigmask(signal.SIG_SETMASK, set())
    for sig in (signal.SIGPIPE, signal.SIGXFSZ, signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_DFL)
    if root != "/":
        os.chroot(root)
    os.umask(0o022)  # runc's and Docker's; PID 1's own may differ
    os.makedirs(launch.cwd, 0o755, exist_ok=True)  # a missing WorkingDir, as Docker and runc
    os.chdir(launch.cwd)
    os.setgroups(list(launch.groups))
    os.setgid(launch.gid)
    os.setuid(launch.uid)
    program = find_program(launch.argv[0], launch.path_env)
    os.execve(program, list(launch.argv), launch.env)


def spawn(launch: Launch, root: str = "/", console_fd: int | None = None) -> int:
    """Fork and exec; return the child's pid once exec has succeeded."""
    read_end, write_end = os.pipe2(os.O_CLOEXEC)
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child never returns to pytest
        os.close(read_end)
        try:
            _child(launch, root, console_fd, write_end)
        except BaseException as err:
            code = getattr(err, "errno", None) or errno.EINVAL
            message = f"{code}:{getattr(err, 'strerror', None) or err}"
            os.write(write_end, message.encode(errors="replace"))
        os._exit(EXIT_NOT_FOUND)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        failure = pipe.read()
    if failure:
        os.waitpid(pid, 0)
        number, _, reason = failure.decode(errors="replace").partition(":")
        raise EntrypointError(
            f"cannot start {launch.argv[0]!r} in {root}: {reason} "
            f"(exit code {exit_code_for_errno(int(number) if number.isdigit() else 0)})"
        )
    return pid


def exit_code_for_errno(code: int) -> int:
    return EXIT_NOT_FOUND if code == errno.ENOENT else EXIT_NOT_EXECUTABLE
