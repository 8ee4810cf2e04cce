"""Measures one call at each concurrency level, and what each level cost in CPU."""

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from memoire_bench import cpu, load


@dataclass
class Levels:
    """Runs closed-loop levels and files each level's CPU per call under the call's name.

    The CPU readings surround the measured seconds only (not the warm-up), so CPU per call
    and latency describe the same calls.
    """

    concurrency: tuple[int, ...]
    seconds: float
    warmup: float
    meter: cpu.Meter
    advance: Callable[[], None]
    cpu_per_call: dict[str, Any] = field(default_factory=dict)

    def cpu_node(self, *where: str) -> dict[str, Any]:
        """The dictionary under ``cpu_per_call[where[0]][where[1]]...``, made on first use."""
        node = self.cpu_per_call
        for part in where:
            node = node.setdefault(part, {})
        return node

    async def run(self, call: load.Call, *where: str) -> dict[str, Any]:
        """The call's statistics per level; its CPU per call goes under ``where``."""
        out: dict[str, Any] = {}
        node = self.cpu_node(*where)
        for c in self.concurrency:
            await load.warm(call, c, self.warmup)
            before = self.meter.read()
            stats = await load.measure(call, c, self.seconds)
            node[str(c)] = cpu.per_call(before, self.meter.read(), stats.calls)
            out[str(c)] = stats.as_dict()
            self.advance()
        return out
