"""Building the core's values from selected rows."""

import functools
from dataclasses import fields
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

V = TypeVar("V", bound="DataclassInstance")


@functools.cache
def _field_names(cls: "type[DataclassInstance]") -> tuple[str, ...]:
    return tuple(f.name for f in fields(cls))


def from_row(cls: type[V], row: Any, **converted: Any) -> V:
    """A ``cls`` whose fields are the row's columns of the same names, except the
    ``converted`` ones, given here (an enum from its text, a list from an array, ...)."""
    mapping = row._mapping
    taken = {name: mapping[name] for name in _field_names(cls) if name not in converted}
    return cls(**taken, **converted)
