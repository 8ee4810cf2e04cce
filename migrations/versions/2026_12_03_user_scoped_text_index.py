"""Full-text search through one user's own posting lists; the whole-table GIN indexes go.

The GIN indexes on ``content_tsv`` and on trigrams of ``content`` spanned every user, so a
search for one user's memories walked posting lists as long as the whole table's. Keys of
``memoire_user_lexemes`` are each lexeme prefixed with a digest of the user id: a lookup of
one user's lexemes reads that user's postings only. Trigram similarity now scores only the
candidates the other rankings found, so its index has no reader left and every insert paid
for it.

Revision ID: 20261203_0004
Revises: 20261203_0003
Create Date: 2026-12-03 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "20261203_0004"
down_revision: str | None = "20261203_0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Eight hex digits of the user id's MD5: users sharing them only share posting lists, and the
# query's own user_id condition drops the other user's rows.
USER_LEXEMES = """
CREATE OR REPLACE FUNCTION memoire_user_lexemes(user_id uuid, document tsvector)
RETURNS text[]
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
AS $$
    SELECT ARRAY(
        SELECT left(md5(user_id::text), 8) || lexeme
        FROM unnest(tsvector_to_array(document)) AS lexeme
    )
$$
"""


def upgrade() -> None:
    op.execute(USER_LEXEMES)
    op.create_index(
        "ix_memories_user_lexemes",
        "memories",
        [sa.text("memoire_user_lexemes(user_id, content_tsv)")],
        postgresql_using="gin",
    )
    op.drop_index("ix_memories_content_tsv", table_name="memories", postgresql_using="gin")
    op.drop_index("ix_memories_content_trgm", table_name="memories", postgresql_using="gin")


def downgrade() -> None:
    op.create_index(
        "ix_memories_content_trgm",
        "memories",
        ["content"],
        postgresql_using="gin",
        postgresql_ops={"content": "gin_trgm_ops"},
    )
    op.create_index("ix_memories_content_tsv", "memories", ["content_tsv"], postgresql_using="gin")
    op.drop_index("ix_memories_user_lexemes", table_name="memories", postgresql_using="gin")
    op.execute("DROP FUNCTION memoire_user_lexemes(uuid, tsvector)")
