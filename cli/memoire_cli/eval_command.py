"""``memoire eval``: retrieval quality on public benchmarks (the work is in memoire_eval)."""

from pathlib import Path

import click


@click.group(name="eval")
def eval_group() -> None:
    """Measure retrieval quality on public benchmarks."""


@eval_group.command(name="locomo")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write the run here as JSON lines, one per QA item.",
)
@click.option("--target", default=None, help="A running server (default: an embedded stack).")
@click.option("--api-key", envvar="MEMOIRE_API_KEY", default=None)
@click.option(
    "--user-prefix",
    default="locomo-",
    show_default=True,
    help="User ids are this prefix and the sample id.",
)
def eval_locomo(
    path: Path, out: Path | None, target: str | None, api_key: str | None, user_prefix: str
) -> None:
    """Ingest LoCoMo conversations, recall every question, print R@5/R@10/MRR beside BM25."""
    from memoire_eval.run import run_locomo  # noqa: PLC0415 - heavy imports

    if target and not api_key:
        raise click.UsageError("--target needs --api-key (or MEMOIRE_API_KEY): an app key")
    click.echo(run_locomo(path, out, target, api_key, user_prefix))
