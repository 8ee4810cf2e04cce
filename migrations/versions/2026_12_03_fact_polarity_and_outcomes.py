"""Fact polarity, unmatched retractions of extraction jobs, outcomes of idempotent writes.

Revision ID: 20261203_0003
Revises: 20261125_0002
Create Date: 2026-12-03 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "20261203_0003"
down_revision: str | None = "20261125_0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Every fact stored so far was an affirmation: the default says so.
    op.add_column(
        "memories",
        sa.Column("negated", sa.Boolean(), server_default=sa.text("false"), nullable=False),
    )
    op.add_column(
        "extraction_jobs",
        sa.Column(
            "unmatched",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'[]'::jsonb"),
            nullable=False,
        ),
    )
    op.add_column(
        "idempotent_writes",
        sa.Column("outcomes", postgresql.ARRAY(sa.String(16)), server_default="{}", nullable=False),
    )


def downgrade() -> None:
    op.drop_column("idempotent_writes", "outcomes")
    op.drop_column("extraction_jobs", "unmatched")
    op.drop_column("memories", "negated")
