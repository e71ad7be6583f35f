"""One exception base for rootfs_tools; each kind carries the exit code the CLI returns."""

from __future__ import annotations


class RootfsToolsError(Exception):
    """Anything that stops a conversion; the message says what to do next."""

    exit_code = 1


class UsageError(RootfsToolsError):
    exit_code = 2


class NotFoundError(RootfsToolsError):
    exit_code = 3


class AuthError(RootfsToolsError):
    exit_code = 4


class IntegrityError(RootfsToolsError):
    """A digest, size or DiffID does not match what the image claims."""

    exit_code = 5


class UnsafeLayerError(IntegrityError):
    """A layer tries to write outside the tree, or holds an entry we refuse."""
