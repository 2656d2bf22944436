# Two commands do all the set-up: `make demo` and `make test`.
# TF=cpu installs tensorflow-cpu (small wheel, fast CI); `make demo TF=gpu` installs tensorflow[and-cuda].
PYTHON ?= python3
VENV ?= .venv
TF ?= cpu
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(TF)
ifndef DEMO_OUT
DEMO_OUT := runs/demo-$(shell date +%Y%m%d-%H%M%S)
endif

.PHONY: install demo test test-fast bench clean

$(PY):
	$(PYTHON) -m venv $(VENV)

# Everything (TensorFlow, every extra, the test tools) at the tested versions of constraints.txt.
$(STAMP): pyproject.toml constraints.txt export/node/package.json export/node/package-lock.json \
		export/web/package.json export/web/package-lock.json | $(PY)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c constraints.txt -e ".[$(TF),all,dev]"
	# ONNX Runtime for Node.js at the lockfile's versions, for checking the ONNX files in a third
	# runtime. Its install script only fetches GPU binaries; the CPU binary is in the package.
	# Without npm the Node.js checks skip, saying why.
	if command -v npm >/dev/null; then cd export/node && { npm ci --ignore-scripts --no-audit --no-fund \
		--loglevel=error || echo "npm ci failed: ONNX files will not be checked in Node.js"; }; \
		else echo "npm not found: ONNX files will not be checked in Node.js"; fi
	# ONNX Runtime Web at the lockfile's versions, served with the browser page (export/serve_web.py).
	# Without npm the page cannot be served and its browser tests skip, saying why.
	if command -v npm >/dev/null; then cd export/web && { npm ci --ignore-scripts --no-audit --no-fund \
		--loglevel=error || echo "npm ci failed: the browser page (export/serve_web.py) will not run"; }; \
		else echo "npm not found: the browser page (export/serve_web.py) will not run"; fi
	# TF Serving's request protos (warm-up files, the gRPC client). Its metadata asks for the full
	# `tensorflow` wheel, which would sit beside tensorflow-cpu; its real needs (grpcio, protobuf)
	# come with TensorFlow, so it is installed without its declared dependencies.
	$(PY) -m pip install --quiet --no-deps "tensorflow-serving-api>=2.21,<2.22"
	touch $@

install: $(STAMP)

demo: install
	$(PY) training/train_char_rnn.py --preset demo --out $(DEMO_OUT)
	$(PY) training/sample_char_rnn.py --model $(DEMO_OUT) --prime "def " --length 400 --temperature 0.7 --seed 0

# Two worker processes (pytest-xdist), each test file in one of them (module fixtures built once).
test: install
	$(PY) -m pytest -q -n 2 --dist loadfile

# The fast tier (about a minute): everything but the tests marked slow (see tests/conftest.py).
test-fast: install
	$(PY) -m pytest -q -n 2 -m "not slow"

bench: install
	$(PY) benchmarks/bench_char_rnn.py

clean:
	rm -rf $(VENV) runs .pytest_cache
