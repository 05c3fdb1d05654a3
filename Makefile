# Two set-up commands: `make demo` and `make test`. Each creates or refreshes .venv
# idempotently: the install step re-runs only when pyproject.toml changes.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install browser demo test test-slow bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet --upgrade pip
	# torch first, exactly this pin: the CPU build on this disk (a looser one pulls CUDA)
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

demo: install
	$(BIN)/slm-lab run slm_lab/spec/demo.json ppo_cartpole_demo train

# the report's browser test renders in headless Chromium (Debian package)
browser:
	@command -v chromium >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -qq chromium >/dev/null)

test: install browser
	$(BIN)/python -m pytest -n 2 -q

test-slow: install
	$(BIN)/python -m pytest -m slow -q

# short settings; full ones and their results: docs/BENCHMARKS.md "## Performance"
bench: install
	$(BIN)/pip install --quiet --no-deps 'stable-baselines3==2.9.2'
	$(BIN)/python bench/startup.py --repeats 3
	$(BIN)/python bench/throughput.py --case ppo_cartpole --frames 20000 --repeats 1
	$(BIN)/python bench/gradient_step.py --repeats 2
	$(BIN)/python bench/memory.py --transitions 100000
	$(BIN)/python bench/scaling.py --sessions 1 2 --frames 5000

clean:
	rm -rf $(VENV)
