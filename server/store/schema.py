"""The database's tables, one definition for SQLite and PostgreSQL, and its version.

Times are seconds since the epoch (the server's clock) as floats: one type on both
engines, no time-zone conversions. JSON columns hold lists and objects the API passes
through. `report` is the identity of a state change, (action, attempt, state), so the same
report sent twice is stored once; `log_line` is numbered the same way.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

SCHEMA_VERSION = 2  # 2: hardware keeps Tinkerbell's whole HardwareSpec (see migrate.py)

metadata = MetaData()

schema_version = Table(
    "schema_version",
    metadata,
    Column("version", Integer, nullable=False),
)

hardware = Table(
    "hardware",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(200), nullable=False, unique=True),
    Column("allow_netboot", Boolean, nullable=False),
    # Tinkerbell's HardwareSpec as JSON: disks, interfaces, metadata, userData, and whatever
    # else a Hardware object carried (templates see all of it as .hardware.spec)
    Column("spec", JSON, nullable=False),
    Column("labels", JSON, nullable=False),  # free-form KEY: VALUE (a Hardware's metadata.labels)
    Column("inventory", JSON),  # the worker's, from its last lookup
    Column("inventory_at", Float),
    Column("agent_version", String(100)),
    Column("address", String(64)),  # source address of the last lookup
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
)

hardware_mac = Table(
    "hardware_mac",
    metadata,
    Column("mac", String(17), primary_key=True),
    Column("hardware_id", ForeignKey("hardware.id", ondelete="CASCADE"), nullable=False),
    Index("hardware_mac_hardware", "hardware_id"),
)

hardware_ip = Table(  # addresses the hardware record gives it, for the metadata service
    "hardware_ip",
    metadata,
    Column("address", String(64), primary_key=True),
    Column("hardware_id", ForeignKey("hardware.id", ondelete="CASCADE"), nullable=False),
    Index("hardware_ip_hardware", "hardware_id"),
)

unknown_mac = Table(
    "unknown_mac",
    metadata,
    Column("mac", String(17), primary_key=True),
    Column("first_seen", Float, nullable=False),
    Column("last_seen", Float, nullable=False),
    Column("lookups", Integer, nullable=False),
    Column("macs", JSON, nullable=False),  # all MACs that lookup carried
    Column("address", String(64)),
    Column("inventory", JSON),
)

admin_token = Table(
    "admin_token",
    metadata,
    Column("hash", String(64), primary_key=True),
    Column("created_at", Float, nullable=False),
)

machine_token = Table(
    "machine_token",
    metadata,
    Column("hash", String(64), primary_key=True),
    Column("hardware_id", ForeignKey("hardware.id", ondelete="CASCADE"), nullable=False),
    Column("issued_at", Float, nullable=False),
    Column("seen_at", Float, nullable=False),
    Index("machine_token_hardware", "hardware_id"),
)

template = Table(
    "template",
    metadata,
    Column("name", String(200), primary_key=True),
    Column("data", Text, nullable=False),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
)

workflow = Table(
    "workflow",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("name", String(200), unique=True),  # a Workflow object's metadata.name
    Column("template_name", String(200), nullable=False),
    Column("hardware_id", ForeignKey("hardware.id", ondelete="CASCADE"), nullable=False),
    Column("hardware_map", JSON, nullable=False),
    Column("toggle_netboot", Boolean, nullable=False),  # bootOptions.toggleAllowNetboot
    Column("state", String(16), nullable=False),
    Column("global_timeout", Integer, nullable=False),  # seconds; 0: none
    Column("started_at", Float),
    Column("stopped_at", Float),
    Column("message", Text, nullable=False),
    Column("created_at", Float, nullable=False),
    Index("workflow_state", "state"),
)

action = Table(
    "action",
    metadata,
    Column("id", String(60), primary_key=True),
    Column("workflow_id", ForeignKey("workflow.id", ondelete="CASCADE"), nullable=False),
    Column("position", Integer, nullable=False),
    Column("task", String(200), nullable=False),
    Column("worker", String(200), nullable=False),  # as rendered
    Column("hardware_id", ForeignKey("hardware.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(200), nullable=False),
    Column("image", Text, nullable=False),
    Column("timeout", Integer, nullable=False),
    Column("retries", Integer, nullable=False),
    Column("command", JSON, nullable=False),
    Column("environment", JSON, nullable=False),  # sent to the worker only, never logged
    Column("volumes", JSON, nullable=False),
    Column("pid", String(40), nullable=False),
    Column("state", String(16), nullable=False),
    Column("attempt", Integer, nullable=False),  # the current (or next) attempt
    Column("first_attempt", Integer, nullable=False),  # since the last `workflow retry`
    Column("started_at", Float),
    Column("stopped_at", Float),
    Column("seconds", Float),
    Column("message", Text, nullable=False),
    Column("progress_done", BigInteger),
    Column("progress_total", BigInteger),
    Column("progress_unit", String(20)),
    Column("heartbeat_at", Float),
    UniqueConstraint("workflow_id", "position", name="action_position"),
    Index("action_hardware_state", "hardware_id", "state"),
)

report = Table(
    "report",
    metadata,
    Column("action_id", ForeignKey("action.id", ondelete="CASCADE"), primary_key=True),
    Column("attempt", Integer, primary_key=True),
    Column("state", String(16), primary_key=True),
    Column("message", Text, nullable=False),
    Column("seconds", Float),
    Column("retry", Boolean, nullable=False),  # the answer given, repeated to a duplicate
    Column("by_server", Boolean, nullable=False),  # a restart or global_timeout, not the worker
    Column("received_at", Float, nullable=False),
)

log_line = Table(
    "log_line",
    metadata,
    Column("action_id", ForeignKey("action.id", ondelete="CASCADE"), primary_key=True),
    Column("attempt", Integer, primary_key=True),
    Column("n", Integer, primary_key=True),
    Column("text", Text, nullable=False),
)
