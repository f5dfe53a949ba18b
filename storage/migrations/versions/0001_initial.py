"""requests, audit trail and Slack outbox

Revision ID: 0001
Revises:
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# The hash the first audit event chains to.
GENESIS_HASH = "0" * 64


def upgrade() -> None:
    chain_head = op.create_table(
        "audit_chain_head",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.bulk_insert(chain_head, [{"id": 1, "seq": 0, "hash": GENESIS_HASH}])
    op.create_table(
        "audit_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("request_id", sa.String(length=16), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("actor_id", sa.String(length=32), nullable=False),
        sa.Column("asset_id", sa.String(length=64), nullable=True),
        sa.Column("product_key", sa.String(length=64), nullable=True),
        sa.Column("device_key", sa.String(length=128), nullable=True),
        sa.Column("cert_sn", sa.BigInteger(), nullable=False),
        sa.Column("reason", sa.Integer(), nullable=False),
        sa.Column("justification", sa.Text(), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("enos_request_id", sa.String(length=128), nullable=True),
        sa.Column("enos_code", sa.Integer(), nullable=True),
        sa.Column("enos_msg", sa.Text(), nullable=True),
        sa.Column("channel_id", sa.String(length=32), nullable=True),
        sa.Column("message_ts", sa.String(length=32), nullable=True),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("hash"),
        sa.UniqueConstraint("prev_hash"),
        sa.UniqueConstraint("seq"),
    )
    with op.batch_alter_table("audit_event", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_audit_event_actor_id"), ["actor_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_audit_event_at"), ["at"], unique=False)
        batch_op.create_index(batch_op.f("ix_audit_event_request_id"), ["request_id"], unique=False)

    op.create_table(
        "revocation_request",
        sa.Column("id", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("requester_id", sa.String(length=32), nullable=False),
        sa.Column("origin_channel_id", sa.String(length=32), nullable=False),
        sa.Column("approval_channel_id", sa.String(length=32), nullable=False),
        sa.Column("asset_id", sa.String(length=64), nullable=True),
        sa.Column("product_key", sa.String(length=64), nullable=True),
        sa.Column("device_key", sa.String(length=128), nullable=True),
        sa.Column("cert_sn", sa.BigInteger(), nullable=False),
        sa.Column("reason", sa.Integer(), nullable=False),
        sa.Column("justification", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("approver_id", sa.String(length=32), nullable=True),
        sa.Column("decided_by", sa.String(length=32), nullable=True),
        sa.Column("decision_note", sa.Text(), nullable=True),
        sa.Column("message_ts", sa.String(length=32), nullable=True),
        sa.Column("permalink", sa.Text(), nullable=True),
        sa.Column("enos_request_id", sa.String(length=128), nullable=True),
        sa.Column("enos_code", sa.Integer(), nullable=True),
        sa.Column("enos_msg", sa.Text(), nullable=True),
        sa.Column("outcome_detail", sa.Text(), nullable=True),
        sa.Column("cert_lookup", sa.Text(), nullable=True),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("retry_of", sa.String(length=16), nullable=True),
        sa.UniqueConstraint("retry_of"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("revocation_request", schema=None) as batch_op:
        batch_op.create_index("ix_request_status_expires", ["status", "expires_at"], unique=False)
        batch_op.create_index("ix_request_status_lease", ["status", "lease_until"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_revocation_request_approver_id"), ["approver_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_revocation_request_asset_id"), ["asset_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_revocation_request_cert_sn"), ["cert_sn"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_revocation_request_created_at"), ["created_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_revocation_request_device_key"), ["device_key"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_revocation_request_requester_id"), ["requester_id"], unique=False
        )

    op.create_table(
        "slack_outbox",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.String(length=16), nullable=False),
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column("event_seq", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("gave_up_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("slack_outbox", schema=None) as batch_op:
        batch_op.create_index("ix_outbox_due", ["delivered_at", "next_attempt_at"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_slack_outbox_request_id"), ["request_id"], unique=False
        )

    op.create_table(
        "slack_request_seen",
        sa.Column("signature_hash", sa.String(length=64), nullable=False),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("signature_hash"),
    )
    op.create_index("ix_slack_request_seen_seen_at", "slack_request_seen", ["seen_at"])


def downgrade() -> None:
    op.drop_table("slack_request_seen")
    with op.batch_alter_table("slack_outbox", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_slack_outbox_request_id"))
        batch_op.drop_index("ix_outbox_due")

    op.drop_table("slack_outbox")
    with op.batch_alter_table("revocation_request", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_revocation_request_requester_id"))
        batch_op.drop_index(batch_op.f("ix_revocation_request_device_key"))
        batch_op.drop_index(batch_op.f("ix_revocation_request_created_at"))
        batch_op.drop_index(batch_op.f("ix_revocation_request_cert_sn"))
        batch_op.drop_index(batch_op.f("ix_revocation_request_asset_id"))
        batch_op.drop_index(batch_op.f("ix_revocation_request_approver_id"))
        batch_op.drop_index("ix_request_status_lease")
        batch_op.drop_index("ix_request_status_expires")

    op.drop_table("revocation_request")
    with op.batch_alter_table("audit_event", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_audit_event_request_id"))
        batch_op.drop_index(batch_op.f("ix_audit_event_at"))
        batch_op.drop_index(batch_op.f("ix_audit_event_actor_id"))

    op.drop_table("audit_event")
    op.drop_table("audit_chain_head")
