"""Effects follow what committed: a savepoint neither commits nor drops what came before it."""

from sqlalchemy import create_engine, text

from memoire_core.unit_of_work import _COMMITTED, _PENDING, KeysChanged, _TrackedSession


def session() -> _TrackedSession:
    return _TrackedSession(bind=create_engine("sqlite://"))


def recorded(db: _TrackedSession, *events: KeysChanged) -> None:
    # record() takes the async session; its sync session holds the same info.
    db.info.setdefault(_PENDING, []).extend(events)


def test_what_a_committed_transaction_recorded_is_kept():
    db, change = session(), KeysChanged()
    with db.begin():
        db.execute(text("SELECT 1"))
        recorded(db, change)
    assert db.info[_COMMITTED] == [change]


def test_a_released_savepoint_is_not_a_commit():
    db = session()
    db.begin()
    db.execute(text("SELECT 1"))
    recorded(db, KeysChanged())
    with db.begin_nested():
        db.execute(text("SELECT 1"))
    db.rollback()
    assert not db.info.get(_COMMITTED)
    assert not db.info.get(_PENDING)


def test_a_savepoint_rolled_back_drops_only_what_it_recorded():
    db, before, inside = session(), KeysChanged(), KeysChanged()
    db.begin()
    db.execute(text("SELECT 1"))
    recorded(db, before)
    savepoint = db.begin_nested()
    recorded(db, inside)
    savepoint.rollback()
    db.commit()
    assert db.info[_COMMITTED] == [before]
