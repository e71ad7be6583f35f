"""Provisioning on the machine: the worker loop, its client, inventory and disk links."""
