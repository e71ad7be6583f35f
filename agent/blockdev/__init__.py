"""Block devices: partition tables, superblocks, and finding the root device."""

from agent.errors import AgentError


class BlockDevError(AgentError):
    """A device or image that cannot be read, or whose partition table is broken."""
