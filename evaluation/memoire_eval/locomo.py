"""LoCoMo's data: conversations of turns in dated sessions, and QA items citing turns."""

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

CATEGORIES = (1, 2, 3, 4)
CATEGORY_NAMES = {1: "multi-hop", 2: "temporal", 3: "open-domain", 4: "single-hop"}
SESSION_KEY = re.compile(r"session_(\d+)")
EVIDENCE_ID = re.compile(r"D:?(\d+):(\d+)")
DATE_FORMAT = "%I:%M %p on %d %B, %Y"


@dataclass(frozen=True)
class Turn:
    """One turn of a conversation."""

    dia_id: str
    session: int
    speaker: str
    text: str
    caption: str
    said_at: datetime

    @property
    def content(self) -> str:
        """The message as stored: speaker, text, and the caption of a shared photo."""
        shared = f" [shares {self.caption}]" if self.caption else ""
        return f"{self.speaker}: {self.text}{shared}"


@dataclass(frozen=True)
class Question:
    """One QA item; ``index`` is its position in the sample's ``qa`` list."""

    index: int
    text: str
    category: int
    evidence: tuple[str, ...]


@dataclass(frozen=True)
class Sample:
    """One LoCoMo conversation and its questions."""

    sample_id: str
    turns: list[Turn]
    questions: list[Question]


def normalise_evidence(raw: Iterable[str]) -> tuple[str, ...]:
    """Dialog ids as ``D<session>:<turn>``, mending the data's few malformed entries."""
    out: list[str] = []
    for entry in raw:
        for session, turn in EVIDENCE_ID.findall(str(entry)):
            dia_id = f"D{int(session)}:{int(turn)}"
            if dia_id not in out:
                out.append(dia_id)
    return tuple(out)


def load(path: Path) -> list[Sample]:
    """The samples of a LoCoMo JSON file."""
    samples = []
    for raw in json.loads(path.read_text()):
        conversation = raw["conversation"]
        turns: list[Turn] = []
        numbers = sorted(
            int(m.group(1)) for key in conversation if (m := SESSION_KEY.fullmatch(key))
        )
        for n in numbers:
            start = datetime.strptime(conversation[f"session_{n}_date_time"], DATE_FORMAT).replace(
                tzinfo=UTC
            )
            turns.extend(
                Turn(
                    dia_id=t["dia_id"],
                    session=n,
                    speaker=t["speaker"],
                    text=t["text"],
                    caption=t.get("blip_caption") or "",
                    said_at=start + timedelta(seconds=i),
                )
                for i, t in enumerate(conversation[f"session_{n}"])
            )
        questions = [
            Question(i, q["question"], int(q["category"]), normalise_evidence(q["evidence"]))
            for i, q in enumerate(raw["qa"])
        ]
        samples.append(Sample(raw["sample_id"], turns, questions))
    return samples
