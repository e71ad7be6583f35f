"""metalinit: initramfs."""
