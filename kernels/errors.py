"""The kernels package's one exception base: messages say what failed and what to do."""


class KernelError(Exception):
    """A manifest or fetch problem the user can act on."""
