# The commands the README names. Plain equivalents are in README.md, "Without make".
SHELL := /bin/bash
PY      := .venv/bin/python
VENV    := .venv/.installed
ASSETS  := _vendor/.installed
CHROMIUM ?= /usr/bin/chromium
CHAPTER ?=

.PHONY: book book-student test lab live execute bench venv assets chromium clean

book: $(VENV) $(ASSETS)   ## build the HTML book (from the executed .ipynb pairs; no execution)
	.venv/bin/jupyter-book build . --all --warningiserror --nitpick --keep-going
	@echo
	@echo "The book is built. Open it in a browser:"
	@echo "    file://$(CURDIR)/_build/html/index.html"

book-student: $(VENV) $(ASSETS)   ## the student edition: the exercises' solutions left out, into _build/student
	rm -rf _build/student _build/.student
	KEXUE_EDITION=student .venv/bin/jupyter-book build . --all --warningiserror --nitpick --keep-going --path-output _build/.student
	mv _build/.student/_build/html _build/student && rm -rf _build/.student
	@echo "The student edition is built: file://$(CURDIR)/_build/student/index.html"

test: book book-student chromium   ## everything CI checks: library, pairing, nbval (strict), the built site in Chromium
	$(PY) -m pytest -n 2 --dist loadscope --nbval --sanitize-with tests/book/sanitize.cfg tests book
	# the chapters again under another SIMD path than they were executed on: stored outputs must not depend on it
	ONEDNN_MAX_CPU_ISA=SSE41 ATEN_CPU_CAPABILITY=default $(PY) -m pytest -n 2 --dist loadscope --nbval --sanitize-with tests/book/sanitize.cfg book

lab: $(VENV)   ## JupyterLab on book/ (127.0.0.1, token): chapters open as rendered notebooks, one entry each, no autosave
	$(PY) -m jupyter lab --config=scripts/lab/jupyter_lab_config.py --ServerApp.root_dir=book $$([ "$$(id -u)" = 0 ] && echo --allow-root)

live: $(VENV)   ## the built book and a Jupyter server for its "Run live" buttons (127.0.0.1, token, the book's origin only); prints the address to open
	@test -f _build/html/index.html || $(MAKE) book
	$(PY) scripts/live.py

execute: $(VENV)   ## re-execute chapters (all, or CHAPTER=book/<part>/<slug>.md) and rewrite their .ipynb
	$(PY) scripts/execute.py $(CHAPTER)

bench: $(VENV) $(ASSETS)   ## benchmarks against the reference packages, widget latency, chapter times
	$(PY) scripts/bench.py

.PHONY: mutation
mutation: $(VENV)   ## mutation testing (mutmut) of a sample of lib/kexue against its mirror tests, MODULES=kexue/a.py,kexue/part/b.py; report in tests/mutation-report.md (not in CI)
	$(PY) scripts/mutation.py $(if $(MODULES),--modules $(MODULES))

venv: $(VENV)
$(VENV): requirements.lock lib/pyproject.toml
	@command -v python3.11 >/dev/null || command -v python3 >/dev/null || { echo "Python 3.11 is needed: install python3.11 (Debian: apt-get install python3.11 python3.11-venv)"; exit 1; }
	test -x $(PY) || python3 -m venv .venv
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.lock
	$(PY) -m pip install --quiet --no-deps -e lib
	touch $@

assets: $(ASSETS)
$(ASSETS): package.json package-lock.json scripts/vendor_assets.sh
	@command -v npm >/dev/null || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then apt-get update -qq && apt-get install -y -qq nodejs npm; \
	  else echo "npm is needed to install the book's JavaScript (MathJax, require.js, widget manager): install Node.js and npm (Debian: apt-get install nodejs npm)"; exit 1; fi; }
	npm ci --no-audit --no-fund --loglevel=error
	bash scripts/vendor_assets.sh
	touch $@

chromium:   ## Debian's chromium for the browser tests (installed when root, else a message)
	@if [ ! -x $(CHROMIUM) ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then apt-get update -qq && apt-get install -y -qq chromium; \
	  else echo "The browser tests need Chromium at $(CHROMIUM): install it (Debian: sudo apt-get install chromium) or set CHROMIUM=/path/to/chromium"; exit 1; fi; fi

clean:
	rm -rf _build .pytest_cache
