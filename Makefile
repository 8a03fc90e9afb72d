# Isnad: `make capture URL=...` sets up and captures; `make test` sets up and runs the tests.
# Both install what is missing: Debian packages (chromium, ffmpeg...) and a virtualenv with the
# pinned Python dependencies.

VENV        ?= .venv
PYTHON      ?= python3
SUDO        := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
# Fonts: without them screenshots and PDFs show empty boxes for emoji, CJK and Urdu letters.
# fonts-noto-core holds the Arabic-script families too (Noto Naskh Arabic, Noto Nastaliq Urdu).
FONT_PACKAGES = fonts-noto-core fonts-noto-color-emoji fonts-noto-cjk
RUN_PACKAGES  = chromium ffmpeg $(FONT_PACKAGES)
# postgresql and redis-server: the tests start their own throwaway instances (no system service).
TEST_PACKAGES = $(RUN_PACKAGES) wget openssl poppler-utils postgresql redis-server
# nginx serves the generated site of bench/capture_bench.py (its own process and config; the
# system service is never used). The bench only: the tests do not need it.
BENCH_PACKAGES = $(TEST_PACKAGES) nginx
# node and npm install the browser code Isnad serves itself (ReplayWeb.page, pinned by
# web-vendor/package-lock.json). Installed only when no `npm` is on the PATH: a Node.js from
# elsewhere (e.g. NodeSource's nodejs, which bundles npm and conflicts with Debian's npm) is kept.
NODE_PACKAGES = nodejs npm
WEB_VENDOR    = web-vendor
PYTEST_ARGS ?=
# pytest-xdist workers for the parallel run. The tests mostly wait on subprocesses, Chromium and
# sockets, so more workers than the CI machine's 2 cores pay off.
TEST_WORKERS ?= 4

.PHONY: capture test lint bench system-deps test-system-deps bench-system-deps web-deps clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -e '.[test]'
	touch $@

define apt_install
	@missing=""; for p in $(1); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $$missing; \
	fi
endef

system-deps:
	$(call apt_install,$(RUN_PACKAGES))

test-system-deps:
	$(call apt_install,$(TEST_PACKAGES))

bench-system-deps:
	$(call apt_install,$(BENCH_PACKAGES))

# ReplayWeb.page (ui.js, sw.js) for replay in the browser, from its npm package: the versions and
# integrity hashes of package-lock.json, no install scripts run.
$(WEB_VENDOR)/node_modules/.installed: $(WEB_VENDOR)/package.json $(WEB_VENDOR)/package-lock.json
	@command -v npm >/dev/null 2>&1 || { \
	  echo "installing Debian packages: $(NODE_PACKAGES)"; \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $(NODE_PACKAGES); }
	npm ci --prefix $(WEB_VENDOR) --ignore-scripts --no-audit --no-fund --loglevel=error
	touch $@

web-deps: $(WEB_VENDOR)/node_modules/.installed

capture: system-deps $(VENV)/.installed web-deps
	@if [ -z "$(URL)" ]; then echo "usage: make capture URL=https://example.org/page"; exit 2; fi
	$(VENV)/bin/isnad capture $(URL)

# Two pytest runs: every test not marked `serial` on $(TEST_WORKERS) xdist workers, then the
# `serial` ones (timing-sensitive or heavy) one at a time. Both always run; either failing fails
# make. Exit 5 (no test selected, e.g. PYTEST_ARGS picks one file) is fine unless both say so.
test: test-system-deps $(VENV)/.installed web-deps
	$(VENV)/bin/ruff check archiver crawlers scheduler isnad tests bench
	$(VENV)/bin/python -m pytest -n $(TEST_WORKERS) --dist loadgroup --serial-tests=exclude \
	  $(PYTEST_ARGS); parallel=$$?; \
	$(VENV)/bin/python -m pytest --serial-tests=only $(PYTEST_ARGS); serial=$$?; \
	if [ $$parallel = 5 ] && [ $$serial = 5 ]; then exit 5; fi; \
	for code in $$parallel $$serial; do case $$code in 0|5) ;; *) \
	  echo "make test: the parallel run exited $$parallel, the serial run $$serial" >&2; \
	  exit 1 ;; esac; done

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check archiver crawlers scheduler isnad tests bench

bench: bench-system-deps $(VENV)/.installed
	$(VENV)/bin/python bench/capture_bench.py
	$(VENV)/bin/python bench/storage_bench.py
	$(VENV)/bin/python bench/media_bench.py
	$(VENV)/bin/python bench/cli.py
	$(VENV)/bin/python bench/monitors.py
	$(VENV)/bin/python bench/runtime.py
	$(VENV)/bin/python bench/import_bench.py
	$(VENV)/bin/python bench/search_bench.py
	$(VENV)/bin/python bench/web_bench.py
	$(VENV)/bin/python bench/scaleout_bench.py
	$(VENV)/bin/python bench/catalog_bench.py
	$(VENV)/bin/python bench/sitesplit_bench.py

clean:
	rm -rf $(VENV) .pytest_cache $(WEB_VENDOR)/node_modules
