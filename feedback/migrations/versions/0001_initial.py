"""Initial schema: the prediction log (predictions) and the agents' feedback (feedback).

Revision ID: 0001
Revises:
Create Date: 2026-11-23

Indexes: ``created_at`` on both tables (time-range queries, questions per day),
``(category, created_at)`` and ``(predicted_category, created_at)`` (per-category statistics
in a time window), ``feedback.prediction_id`` (feedback of one prediction, orphan checks).
The column types are written out here rather than imported from ``feedback.models``, so this
revision stays what it was when later revisions change the models (Alembic docs, "Tutorial").
Names are final (``op.f``): env.py passes the models' naming convention to Alembic, which would
otherwise prefix ``ck_<table>_`` once more (Alembic docs, "The Importance of Naming Constraints").
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create ``predictions`` and ``feedback`` with their constraints and indexes."""
    op.create_table(
        "predictions",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("model_version", sa.String(64), nullable=False),
        sa.Column("question", sa.Text(), nullable=False),
        sa.Column("category", sa.String(64), nullable=True),
        sa.Column("probability", sa.Double(), nullable=True),
        sa.Column("top_k", sa.JSON(), nullable=False),
        sa.Column("needs_review", sa.Boolean(), nullable=False),
        sa.Column("reason", sa.String(32), nullable=True),
        sa.Column("source", sa.String(32), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_predictions")),
        sa.CheckConstraint(
            "probability IS NULL OR (probability >= 0 AND probability <= 1)",
            name=op.f("ck_predictions_probability_range"),
        ),
    )
    op.create_index(op.f("ix_predictions_created_at"), "predictions", ["created_at"])
    op.create_index(op.f("ix_predictions_category_created_at"), "predictions", ["category", "created_at"])

    op.create_table(
        "feedback",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("prediction_id", sa.String(32), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("model_version", sa.String(64), nullable=True),
        sa.Column("question", sa.Text(), nullable=False),
        sa.Column("predicted_category", sa.String(64), nullable=True),
        sa.Column("predicted_probability", sa.Double(), nullable=True),
        sa.Column("agent_category", sa.String(64), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("idempotency_key", sa.String(128), nullable=False),
        sa.Column("agent", sa.String(128), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_feedback")),
        sa.ForeignKeyConstraint(
            ["prediction_id"], ["predictions.id"], name=op.f("fk_feedback_prediction_id_predictions"), ondelete="RESTRICT"
        ),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_feedback_idempotency_key")),
        sa.CheckConstraint("action IN ('confirm', 'correct')", name=op.f("ck_feedback_action_known")),
        sa.CheckConstraint("agent_category <> ''", name=op.f("ck_feedback_agent_category_not_empty")),
        sa.CheckConstraint(
            "predicted_probability IS NULL OR (predicted_probability >= 0 AND predicted_probability <= 1)",
            name=op.f("ck_feedback_predicted_probability_range"),
        ),
    )
    op.create_index(op.f("ix_feedback_created_at"), "feedback", ["created_at"])
    op.create_index(op.f("ix_feedback_prediction_id"), "feedback", ["prediction_id"])
    op.create_index(op.f("ix_feedback_predicted_category_created_at"), "feedback", ["predicted_category", "created_at"])


def downgrade() -> None:
    """Drop both tables (and with them every prediction and feedback row)."""
    op.drop_table("feedback")
    op.drop_table("predictions")
