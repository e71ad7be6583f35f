"""metalinit: rootfs_tools."""
