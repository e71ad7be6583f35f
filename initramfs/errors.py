"""The initramfs package's one exception base: messages say what failed and what to do."""


class BuildError(Exception):
    """A build step failed in a way the user can act on."""
