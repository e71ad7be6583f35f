"""metalinit: kernels."""
