"""``memoire bench``: its options; the benchmark itself is memoire_bench."""

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click


def _counts(value: str, least: int, example: str) -> tuple[int, ...]:
    try:
        counts = tuple(int(part) for part in value.split(","))
    except ValueError:
        raise click.BadParameter(f"a comma-separated list of numbers, e.g. {example}") from None
    if not counts or min(counts) < least:
        noun = "level" if least else "count"
        raise click.BadParameter(f"each {noun} must be at least {least}")
    return counts


def _levels(_ctx: Any, _param: Any, value: str) -> tuple[int, ...]:
    return _counts(value, 1, "1,16,64")


def _levels_or_none(_ctx: Any, _param: Any, value: str) -> tuple[int, ...]:
    """Like ``_levels`` but 0 is allowed (a group with no user)."""
    return _counts(value, 0, "50,20,5")


Decorator = Callable[[Callable[..., Any]], Callable[..., Any]]


def _list_option(
    name: str, default: str, parse: Callable[..., tuple[int, ...]], help: str
) -> Decorator:
    """An option taking comma-separated numbers."""
    return click.option(name, default=default, show_default=True, callback=parse, help=help)


@click.command()
@click.option("--memories", default=100_000, show_default=True, help="Memories to seed.")
@click.option("--users", default=1_000, show_default=True, help="Users they belong to.")
@_list_option("--concurrency", "1,16,64", _levels, "Concurrent callers, per level.")
@click.option("--seconds", default=10.0, show_default=True, help="Measured time per level.")
@click.option("--warmup", default=2.0, show_default=True, help="Unmeasured time per level.")
@click.option("--samples", default=50, show_default=True, help="Samples of each delay.")
@click.option("--pool", default=1_024, show_default=True, help="Distinct embedded sentences.")
@click.option("--ingest-batch", default=1, show_default=True, help="Messages per Ingest call.")
@click.option("--seed", default=7, show_default=True, help="Seed of the corpus and workload.")
@_list_option(
    "--history-sizes",
    "100,1000,10000",
    _levels,
    "Memories per user of the users with LoCoMo-like histories, per group.",
)
@_list_option(
    "--history-users",
    "50,20,5",
    _levels_or_none,
    "Users of each history size (one number for all; 0 for none).",
)
@click.option(
    "--ingest-rate",
    default=200.0,
    show_default=True,
    help="Messages/s of the steady ingest load.",
)
@click.option(
    "--steady-seconds",
    default=30.0,
    show_default=True,
    help="Measured window of the steady ingest load.",
)
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Keep the corpus here and reuse it next time (default: a temporary folder).",
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("bench/results"),
    show_default=True,
    help="Where <size>.json and <size>.md go.",
)
def bench(
    memories: int,
    users: int,
    concurrency: tuple[int, ...],
    seconds: float,
    warmup: float,
    samples: int,
    pool: int,
    ingest_batch: int,
    seed: int,
    history_sizes: tuple[int, ...],
    history_users: tuple[int, ...],
    ingest_rate: float,
    steady_seconds: float,
    data_dir: Path | None,
    out: Path,
) -> None:
    """Seed a corpus, then measure Recall, Conscious and Ingest through the gRPC server."""
    from memoire_bench import Options, run  # noqa: PLC0415 - heavy imports
    from memoire_bench.progress import Bars  # noqa: PLC0415

    if users < 1 or memories < 2 * users:
        raise click.UsageError("need at least one user and two memories per user")
    if len(history_users) == 1:
        history_users *= len(history_sizes)
    if len(history_users) != len(history_sizes):
        raise click.UsageError("--history-users: one number, or one per history size")
    if min(history_sizes) < 2 or ingest_rate <= 0 or steady_seconds <= 0:
        raise click.UsageError("history sizes ≥ 2, a positive ingest rate and steady window")
    options = Options(
        memories=memories,
        users=users,
        concurrency=concurrency,
        seconds=seconds,
        warmup=warmup,
        samples=samples,
        pool=pool,
        ingest_batch=ingest_batch,
        seed=seed,
        history_sizes=history_sizes,
        history_users=history_users,
        ingest_rate=ingest_rate,
        steady_seconds=steady_seconds,
        data_dir=data_dir,
        out_dir=out,
    )
    bars = Bars()
    try:
        _, json_path, md_path = run(options, bars)
    finally:
        bars.close()
    click.echo(md_path.read_text())
    click.echo(f"written: {json_path} and {md_path}", err=True)
