# Fresh machine:  make demo   (set up, then tag the sample clips on the bundled models)
#                 make test   (set up, then run the test suite)
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
SAMPLES ?= out/samples

.PHONY: setup demo test lint bench clean

setup:
	./scripts/setup.sh

demo: setup
	$(PY) -m trailertagger.devtools.samples $(SAMPLES)
	$(PY) -m trailertagger extract "$(SAMPLES)"

test: setup
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest -q -ra

lint:
	$(VENV)/bin/ruff check trailertagger tests benchmarks

bench:
	$(PY) benchmarks/extract.py
	$(PY) benchmarks/classifier.py
	$(PY) benchmarks/library.py

clean:
	rm -rf out .pytest_cache
