"""shared-court network: shared courts, mediators, intakes, statistics sources, integration

Revision ID: 0005
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "network_api_keys",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("court_id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("scopes", sa.JSON(), nullable=False),
        sa.Column("created_by", sa.String(length=80), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["court_id"],
            ["courts.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("prefix"),
    )
    with op.batch_alter_table("network_api_keys", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_network_api_keys_court_id"), ["court_id"], unique=False
        )

    op.create_table(
        "network_areas",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("court_id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("population", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["court_id"],
            ["courts.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("court_id", "name"),
    )
    with op.batch_alter_table("network_areas", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_network_areas_court_id"), ["court_id"], unique=False)

    op.create_table(
        "network_education_items",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("court_id", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("duration_seconds", sa.Integer(), nullable=False),
        sa.Column("media_sha256", sa.String(length=64), nullable=False),
        sa.Column("media_type", sa.String(length=64), nullable=False),
        sa.Column("media_size", sa.Integer(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_by", sa.String(length=80), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["court_id"],
            ["courts.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("network_education_items", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_network_education_items_court_id"), ["court_id"], unique=False
        )

    op.create_table(
        "network_webhooks",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("court_id", sa.String(length=32), nullable=False),
        sa.Column("url", sa.String(length=500), nullable=False),
        sa.Column("secret", sa.String(length=100), nullable=False),
        sa.Column("events", sa.JSON(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_by", sa.String(length=80), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["court_id"],
            ["courts.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("network_webhooks", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_network_webhooks_court_id"), ["court_id"], unique=False
        )

    op.create_table(
        "network_education_schedules",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("item_id", sa.String(length=32), nullable=False),
        sa.Column("terminal_id", sa.String(length=32), nullable=False),
        sa.Column("starts_on", sa.String(length=10), nullable=False),
        sa.Column("ends_on", sa.String(length=10), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["item_id"], ["network_education_items.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["terminal_id"], ["terminals.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("network_education_schedules", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_network_education_schedules_item_id"), ["item_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_network_education_schedules_terminal_id"), ["terminal_id"], unique=False
        )

    op.create_table(
        "network_mediator_profiles",
        sa.Column("user_id", sa.String(length=32), nullable=False),
        sa.Column("court_id", sa.String(length=32), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "industry",
                "lawyer",
                "teacher",
                "judge",
                "other",
                name="mediator_kind",
                native_enum=False,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("specialties", sa.JSON(), nullable=False),
        sa.Column("available", sa.Boolean(), nullable=False),
        sa.Column("max_open", sa.Integer(), nullable=False),
        sa.Column("note", sa.String(length=200), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["court_id"],
            ["courts.id"],
        ),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("user_id"),
    )
    with op.batch_alter_table("network_mediator_profiles", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_network_mediator_profiles_court_id"), ["court_id"], unique=False
        )

    op.create_table(
        "network_shared_courts",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("court_id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "village",
                "community",
                "marriage_family",
                "finance_insurance",
                "property_management",
                "labour",
                "other",
                name="shared_court_kind",
                native_enum=False,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("area_id", sa.String(length=32), nullable=True),
        sa.Column("address", sa.String(length=200), nullable=False),
        sa.Column("director_name", sa.String(length=100), nullable=False),
        sa.Column("director_phone", sa.String(length=32), nullable=False),
        sa.Column("auto_assign", sa.Boolean(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["area_id"],
            ["network_areas.id"],
        ),
        sa.ForeignKeyConstraint(
            ["court_id"],
            ["courts.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("court_id", "name"),
    )
    with op.batch_alter_table("network_shared_courts", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_network_shared_courts_court_id"), ["court_id"], unique=False
        )

    op.create_table(
        "network_webhook_deliveries",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("webhook_id", sa.String(length=32), nullable=False),
        sa.Column("court_id", sa.String(length=32), nullable=False),
        sa.Column("event", sa.String(length=64), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_status_code", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=False),
        sa.Column("replay_of", sa.String(length=32), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["webhook_id"], ["network_webhooks.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("network_webhook_deliveries", schema=None) as batch_op:
        batch_op.create_index(
            "ix_network_deliveries_due", ["status", "next_attempt_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_network_webhook_deliveries_court_id"), ["court_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_network_webhook_deliveries_webhook_id"), ["webhook_id"], unique=False
        )

    op.create_table(
        "network_intakes",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("court_id", sa.String(length=32), nullable=False),
        sa.Column("number", sa.String(length=32), nullable=False),
        sa.Column("case_id", sa.String(length=32), nullable=False),
        sa.Column("shared_court_id", sa.String(length=32), nullable=True),
        sa.Column("area_id", sa.String(length=32), nullable=True),
        sa.Column(
            "channel",
            sa.Enum(
                "terminal",
                "online",
                "staff",
                "api",
                "imported",
                name="intake_channel",
                native_enum=False,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column(
            "case_type",
            sa.Enum(
                "marriage_family",
                "property_management",
                "finance_insurance",
                "neighbour",
                "labour",
                "other",
                name="intake_case_type",
                native_enum=False,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("applicant_name", sa.String(length=100), nullable=False),
        sa.Column("applicant_phone", sa.String(length=32), nullable=False),
        sa.Column("respondent_name", sa.String(length=100), nullable=False),
        sa.Column("respondent_phone", sa.String(length=32), nullable=False),
        sa.Column("claim", sa.Text(), nullable=False),
        sa.Column("facts", sa.Text(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "received",
                "assigned",
                "scheduled",
                "mediating",
                "settled",
                "partially_settled",
                "failed",
                "withdrawn",
                name="intake_status",
                native_enum=False,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_by", sa.String(length=80), nullable=False),
        sa.ForeignKeyConstraint(
            ["area_id"],
            ["network_areas.id"],
        ),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["cases.id"],
        ),
        sa.ForeignKeyConstraint(
            ["court_id"],
            ["courts.id"],
        ),
        sa.ForeignKeyConstraint(
            ["shared_court_id"],
            ["network_shared_courts.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("case_id"),
        sa.UniqueConstraint("number"),
    )
    with op.batch_alter_table("network_intakes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_network_intakes_court_id"), ["court_id"], unique=False)
        batch_op.create_index(
            "ix_network_intakes_court_status", ["court_id", "status"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_network_intakes_shared_court_id"), ["shared_court_id"], unique=False
        )

    op.create_table(
        "network_mediator_shared_courts",
        sa.Column("user_id", sa.String(length=32), nullable=False),
        sa.Column("shared_court_id", sa.String(length=32), nullable=False),
        sa.ForeignKeyConstraint(
            ["shared_court_id"], ["network_shared_courts.id"], ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("user_id", "shared_court_id"),
    )
    op.create_table(
        "network_shared_court_terminals",
        sa.Column("terminal_id", sa.String(length=32), nullable=False),
        sa.Column("shared_court_id", sa.String(length=32), nullable=False),
        sa.ForeignKeyConstraint(
            ["shared_court_id"], ["network_shared_courts.id"], ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(["terminal_id"], ["terminals.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("terminal_id"),
    )
    with op.batch_alter_table("network_shared_court_terminals", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_network_shared_court_terminals_shared_court_id"),
            ["shared_court_id"],
            unique=False,
        )

    op.create_table(
        "network_webhook_attempts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("delivery_id", sa.String(length=32), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("duration_ms", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["delivery_id"], ["network_webhook_deliveries.id"], ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("network_webhook_attempts", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_network_webhook_attempts_delivery_id"), ["delivery_id"], unique=False
        )

    op.create_table(
        "network_attachments",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("intake_id", sa.String(length=32), nullable=False),
        sa.Column("filename", sa.String(length=200), nullable=False),
        sa.Column("content_type", sa.String(length=64), nullable=False),
        sa.Column("size_bytes", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("uploaded_by", sa.String(length=80), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["intake_id"], ["network_intakes.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("network_attachments", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_network_attachments_intake_id"), ["intake_id"], unique=False
        )

    op.create_table(
        "network_intake_assignments",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("intake_id", sa.String(length=32), nullable=False),
        sa.Column("mediator_id", sa.String(length=32), nullable=False),
        sa.Column("previous_id", sa.String(length=32), nullable=True),
        sa.Column("method", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("actor", sa.String(length=80), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["intake_id"], ["network_intakes.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(
            ["mediator_id"],
            ["users.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("network_intake_assignments", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_network_intake_assignments_intake_id"), ["intake_id"], unique=False
        )

    op.create_table(
        "network_intake_transitions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("intake_id", sa.String(length=32), nullable=False),
        sa.Column("from_status", sa.String(length=32), nullable=True),
        sa.Column("to_status", sa.String(length=32), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=80), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["intake_id"], ["network_intakes.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("network_intake_transitions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_network_intake_transitions_at"), ["at"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_network_intake_transitions_intake_id"), ["intake_id"], unique=False
        )
        batch_op.create_index("ix_network_transitions_intake_at", ["intake_id", "at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("network_intake_transitions", schema=None) as batch_op:
        batch_op.drop_index("ix_network_transitions_intake_at")
        batch_op.drop_index(batch_op.f("ix_network_intake_transitions_intake_id"))
        batch_op.drop_index(batch_op.f("ix_network_intake_transitions_at"))

    op.drop_table("network_intake_transitions")
    with op.batch_alter_table("network_intake_assignments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_network_intake_assignments_intake_id"))

    op.drop_table("network_intake_assignments")
    with op.batch_alter_table("network_attachments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_network_attachments_intake_id"))

    op.drop_table("network_attachments")
    with op.batch_alter_table("network_webhook_attempts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_network_webhook_attempts_delivery_id"))

    op.drop_table("network_webhook_attempts")
    with op.batch_alter_table("network_shared_court_terminals", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_network_shared_court_terminals_shared_court_id"))

    op.drop_table("network_shared_court_terminals")
    op.drop_table("network_mediator_shared_courts")
    with op.batch_alter_table("network_intakes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_network_intakes_shared_court_id"))
        batch_op.drop_index("ix_network_intakes_court_status")
        batch_op.drop_index(batch_op.f("ix_network_intakes_court_id"))

    op.drop_table("network_intakes")
    with op.batch_alter_table("network_webhook_deliveries", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_network_webhook_deliveries_webhook_id"))
        batch_op.drop_index(batch_op.f("ix_network_webhook_deliveries_court_id"))
        batch_op.drop_index("ix_network_deliveries_due")

    op.drop_table("network_webhook_deliveries")
    with op.batch_alter_table("network_shared_courts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_network_shared_courts_court_id"))

    op.drop_table("network_shared_courts")
    with op.batch_alter_table("network_mediator_profiles", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_network_mediator_profiles_court_id"))

    op.drop_table("network_mediator_profiles")
    with op.batch_alter_table("network_education_schedules", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_network_education_schedules_terminal_id"))
        batch_op.drop_index(batch_op.f("ix_network_education_schedules_item_id"))

    op.drop_table("network_education_schedules")
    with op.batch_alter_table("network_webhooks", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_network_webhooks_court_id"))

    op.drop_table("network_webhooks")
    with op.batch_alter_table("network_education_items", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_network_education_items_court_id"))

    op.drop_table("network_education_items")
    with op.batch_alter_table("network_areas", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_network_areas_court_id"))

    op.drop_table("network_areas")
    with op.batch_alter_table("network_api_keys", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_network_api_keys_court_id"))

    op.drop_table("network_api_keys")
