# Two commands for a fresh machine (see README): `make run` and `make test`.
# Both create .venv, install everything into it, then start the app or run the whole suite.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# llama.cpp built portably: -march=native dies with "Illegal instruction" on CPUs whose features the
# sandbox hides (AMX), and a bundle must run on other people's machines anyway. pip caches the wheel.
PORTABLE_CMAKE_ARGS := -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON

.PHONY: setup run test lint bench package smoke screenshots clean

setup: $(STAMP)

$(STAMP): pyproject.toml Makefile
	@bash packaging/system-deps.sh
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	CMAKE_ARGS="$(PORTABLE_CMAKE_ARGS)" $(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/quantdoctor --demo

# mypy once per OS the app ships for (the core must not call what Windows or macOS lack: os.pread,
# O_NONBLOCK, resource...); actionlint and zizmor check the release workflow (.github/workflows).
lint: $(STAMP)
	$(BIN)/ruff check core gui tests
	$(BIN)/mypy --platform linux
	$(BIN)/mypy --platform win32
	$(BIN)/mypy --platform darwin
	$(BIN)/lint-imports
	$(BIN)/actionlint
	$(BIN)/zizmor --offline --quiet .github/workflows

test: lint
	@bash packaging/system-deps.sh --test
	# llama-server (tests/test_engines_llama_server.py) and llama-perplexity (tests/test_eval_agreement.py):
	# one configure, both targets, from the installed llama-cpp-python's own llama.cpp, then cached
	# (minutes the first time: the script prints how long). Under CI=true a test whose tool is missing fails.
	PYTHON=$(BIN)/python bash tests/bench/build_llama_tools.sh llama-server llama-perplexity
	$(BIN)/python -m pytest

# Every figure the READMEs state that a quick command can measure, printed beside its claim; exits 1 when
# one leaves its bound (tests/bench/figures.py; CI runs it after `make test`). The long ones are listed.
.PHONY: figures
figures: $(STAMP)
	PYTHON=$(BIN)/python bash tests/bench/build_llama_tools.sh llama-server llama-perplexity
	$(BIN)/python tests/bench/figures.py

package: $(STAMP)
	$(BIN)/python packaging/build.py

smoke:
	bash packaging/smoke.sh

bench: $(STAMP)
	$(BIN)/python tests/bench/bench_inspect.py
	$(BIN)/python tests/bench/bench_ui_stall.py
	$(BIN)/python tests/bench/bench_eval.py

# The README's pictures and the layout review: every page, light and dark, at 1366x768 and 900x600,
# from the demo model (the Machine page replays a real H200's recorded answers; Compare runs the demo pair).
screenshots: $(STAMP)
	QUANTDOCTOR_FAKE_NVML=tests/fixtures/nvml/h200-driver580.json \
		$(BIN)/quantdoctor --screenshots docs/screenshots --symptom nonsense --timeout 900

clean:
	rm -rf $(VENV) build dist
