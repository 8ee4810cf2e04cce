"""The WHERE clauses every repository shares: which rows a caller may see, and which memories
hold. "Live" and "current" are defined here once, as the SQL form of ``domain.is_live`` and
``domain.is_current``; statements written as text embed the same clauses (``as_sql``)."""

import uuid
from dataclasses import dataclass

from sqlalchemy import ColumnElement, and_, or_
from sqlalchemy.dialects import postgresql

from memoire_core.db.tables import memories, users
from memoire_core.domain import Temporal


@dataclass(frozen=True)
class Owner:
    """Which rows a caller may see: an app's users, or one user of it."""

    app_id: uuid.UUID
    user_id: uuid.UUID | None = None

    def clause(self) -> ColumnElement[bool]:
        cond = users.c.app_id == self.app_id
        if self.user_id is not None:
            cond = and_(cond, users.c.id == self.user_id)
        return cond


def live_clause() -> ColumnElement[bool]:
    """Memories nothing retired or ended (``domain.is_live``)."""
    return and_(memories.c.superseded_at.is_(None), memories.c.valid_to.is_(None))


def current_clause() -> ColumnElement[bool]:
    """Memories that hold now: live, not about the past, not only planned
    (``domain.is_current``)."""
    return and_(
        live_clause(),
        or_(
            memories.c.temporal_state.is_(None),
            memories.c.temporal_state == Temporal.CURRENT.value,
        ),
    )


def standing_in_slot(temporal: Temporal) -> ColumnElement[bool]:
    """Facts in one temporal state that the slot rules weigh: live ones, and past ones while
    nothing superseded them (a past fact ended the moment it was told)."""
    standing = memories.c.superseded_at.is_(None) if temporal is Temporal.PAST else live_clause()
    return and_(memories.c.temporal_state == temporal.value, standing)


def as_sql(clause: ColumnElement[bool]) -> str:
    """A clause as literal Postgres SQL over the unaliased ``memories`` table, for set-based
    statements written as text."""
    dialect = postgresql.dialect()  # type: ignore[no-untyped-call]
    return str(clause.compile(dialect=dialect, compile_kwargs={"literal_binds": True}))
