"""The provisioning server: hardware, templates, workflows and the machine API."""
