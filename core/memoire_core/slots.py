"""The slot registry: which facts replace each other and which accumulate.

A single-valued slot (``location.home``) has at most one current fact; a multi-valued one
(``skill``) gains values. A slot not in the registry is single-valued unless the caller says
otherwise: a new value retiring an old one is easier to notice and correct (DeleteMemory
restores what it retired) than two contradicting values that both stay current. A deployment
adds slots with ``MEMOIRE_SLOTS``.
"""

from dataclasses import dataclass, field
from enum import StrEnum


class Cardinality(StrEnum):
    """How many current values a slot may hold."""

    SINGLE = "single"
    MULTI = "multi"


BUILTIN: dict[str, Cardinality] = {
    "name": Cardinality.SINGLE,
    "nickname": Cardinality.MULTI,
    "age": Cardinality.SINGLE,
    "birthday": Cardinality.SINGLE,
    "gender": Cardinality.SINGLE,
    "pronouns": Cardinality.SINGLE,
    "language.primary": Cardinality.SINGLE,
    "language.spoken": Cardinality.MULTI,
    "location.home": Cardinality.SINGLE,
    "location.work": Cardinality.SINGLE,
    "location.hometown": Cardinality.SINGLE,
    "timezone": Cardinality.SINGLE,
    "employer": Cardinality.SINGLE,
    "job.title": Cardinality.SINGLE,
    "education.school": Cardinality.MULTI,
    "relationship.partner": Cardinality.SINGLE,
    "relationship.status": Cardinality.SINGLE,
    "relationship.child": Cardinality.MULTI,
    "relationship.friend": Cardinality.MULTI,
    "relationship.family": Cardinality.MULTI,
    "pet": Cardinality.MULTI,
    "skill": Cardinality.MULTI,
    "hobby": Cardinality.MULTI,
    "diet": Cardinality.SINGLE,
    "allergy": Cardinality.MULTI,
    "health.condition": Cardinality.MULTI,
    "goal": Cardinality.MULTI,
}

# Families of slots sharing a cardinality: ``preference.coffee`` holds one current preference.
PREFIXES: dict[str, Cardinality] = {"preference.": Cardinality.SINGLE}

# Slots whose current value Conscious always serves: who the user is.
CORE_IDENTITY: tuple[str, ...] = (
    "name",
    "pronouns",
    "language.primary",
    "location.home",
    "timezone",
    "employer",
    "job.title",
    "relationship.partner",
)


@dataclass(frozen=True)
class SlotRegistry:
    """Looks up a slot's cardinality; extra entries come from settings."""

    extra: dict[str, Cardinality] = field(default_factory=dict)

    def cardinality(self, slot: str, caller: Cardinality | None = None) -> Cardinality:
        """The slot's cardinality: the registry's, else the caller's, else single."""
        if slot in self.extra:
            return self.extra[slot]
        if slot in BUILTIN:
            return BUILTIN[slot]
        for prefix, cardinality in PREFIXES.items():
            if slot.startswith(prefix):
                return cardinality
        return caller or Cardinality.SINGLE
