# Fresh machine:  make demo   (set up, then scan + tag the sample clips on the bundled models)
#                 make test   (set up, then run the test suite)
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
SAMPLES ?= out/samples
# The demo keeps its library, caches and log in one folder so it never touches a real library.
DEMO_HOME ?= $(CURDIR)/out/demo-home
TT := TRAILERTAGGER_HOME="$(DEMO_HOME)" $(PY) -m trailertagger

.PHONY: setup demo gui test lint bench clean dist dist-gpu smoke

setup:
	./scripts/setup.sh

demo: setup
	$(PY) -m trailertagger.devtools.samples "$(SAMPLES)"
	$(TT) models check
	$(TT) scan "$(SAMPLES)"
	$(TT) tags
	$(TT) status

gui: setup
	$(TT) gui

test: setup
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest -q -ra

lint:
	$(VENV)/bin/ruff check trailertagger tests benchmarks

bench:
	$(PY) benchmarks/extract.py
	$(PY) benchmarks/classifier.py
	$(PY) benchmarks/library.py
	QT_QPA_PLATFORM=offscreen $(PY) benchmarks/gui_model.py

# The one-folder desktop app (PyInstaller, its own venv under build/): dist/<variant>/trailertagger
dist:
	./scripts/build_dist.sh cpu

dist-gpu:
	./scripts/build_dist.sh gpu

smoke: setup
	PYTHON=$(PY) ./packaging/smoke_test.sh dist/cpu/trailertagger

clean:
	rm -rf out .pytest_cache
