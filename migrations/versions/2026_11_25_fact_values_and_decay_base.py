"""Fact values for dedup and retraction, the confidence decay starts from, job runners.

Revision ID: 20261125_0002
Revises: 20261125_0001
Create Date: 2026-11-25 14:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "20261125_0002"
down_revision: str | None = "20261125_0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("memories", sa.Column("value", sa.Text(), server_default="", nullable=False))
    op.add_column("memories", sa.Column("base_confidence", sa.Float(), nullable=True))
    op.execute("UPDATE memories SET base_confidence = confidence")
    op.alter_column("memories", "base_confidence", nullable=False)
    op.add_column(
        "extraction_jobs", sa.Column("runner", sa.String(128), server_default="", nullable=False)
    )
    op.add_column(
        "extraction_jobs",
        sa.Column("llm_latency_ms", sa.BigInteger(), server_default="0", nullable=False),
    )


def downgrade() -> None:
    op.drop_column("extraction_jobs", "llm_latency_ms")
    op.drop_column("extraction_jobs", "runner")
    op.drop_column("memories", "base_confidence")
    op.drop_column("memories", "value")
