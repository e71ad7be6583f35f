"""Block devices: partition tables, superblocks, and finding the root device."""
