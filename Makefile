# The two commands of the README:  `make run`  and  `make test`.
VENV   ?= .venv
PY     := $(VENV)/bin/python
SHARED ?= ../shared
# The sample documents: the project's own guide, plus the shared news article when present.
SAMPLES := rag/sample_docs $(wildcard $(SHARED)/corpus)

.PHONY: install run test bench

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	# torch first, pinned: the CPU build (a plain `torch` requirement could pull a CUDA build of several GB)
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e '.[test]'
	$(VENV)/bin/rag models prepare
	touch $@

install: $(VENV)/.installed

run: install
	$(VENV)/bin/rag ingest $(SAMPLES)
	$(VENV)/bin/rag ui

test: install
	# the browser tests drive Debian's Chromium (Playwright never downloads a browser here)
	command -v chromium >/dev/null || (apt-get update -qq && apt-get install -y -qq chromium) \
		|| echo "Chromium could not be installed: the browser tests will be skipped"
	$(PY) -m pytest

bench: install
	$(PY) -m pip install --quiet -e '.[bench]'
	$(PY) -m bench.embed_bench
	$(PY) -m bench.core_bench
	$(PY) -m bench.answer_bench
	$(PY) -m bench.ui_bench
