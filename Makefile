# Taiji — common tasks. Every target creates .venv when it is missing.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

# Front-end packages vendored into the console (no CDN); see static/vendor/README.md.
VENDOR_DIR ?= taiji/platform/web/static/vendor
TABLER_VERSION := 1.6.1
HTMX_VERSION := 2.0.8
REDOC_VERSION := 2.5.4

.PHONY: install run test lint bench i18n vendor clean

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/taiji db upgrade
	$(BIN)/taiji up --no-migrate

lint: $(STAMP)
	$(BIN)/ruff check taiji tests bench docs tools
	$(BIN)/lint-imports
	$(BIN)/python docs/settings_table.py --check

# The tests run in parallel: pytest-xdist workers, each with databases and folders of its own
# (tests/conftest.py). One more worker than cores, at most 4: many tests wait on the servers,
# workers and browsers they start, and a third worker on 2 cores used that idle time (CI's test
# phase 565 s with 3 workers, 639-656 s with 2, 598 s with 4; docs/testing.md). TEST_WORKERS=0 runs
# them in this one process; PYTEST_ARGS adds options (CI: --durations=25).
TEST_WORKERS ?= $(shell n=$$(nproc 2>/dev/null || echo 1); echo $$((n + 1)))
PYTEST_ARGS ?=
# The tests start hundreds of Python processes (servers, workers, the CLI): compiled once here, each
# of them loads bytecode instead of compiling Taiji again, which is most of its start-up where
# PYTHONDONTWRITEBYTECODE is set (as on CI's machines: 1.6 s of CPU instead of 4 s per app).
test: lint
	$(BIN)/python -m compileall -q -j 0 taiji tests bench >/dev/null
	$(BIN)/pytest -n $(TEST_WORKERS) --maxprocesses 4 $(PYTEST_ARGS)

# Load test on loopback; wrk comes from Debian (installed here when missing and we are root).
bench: $(STAMP)
	@command -v wrk >/dev/null || [ "$$(id -u)" != 0 ] || \
		(apt-get install -y -qq wrk >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -qq wrk >/dev/null)) || true
	$(BIN)/python bench/run.py
	$(BIN)/python -m bench.api_bench
	$(BIN)/python -m bench.iam_bench
	$(BIN)/python -m bench.tx_bench
	$(BIN)/python -m bench.bpr_bench
	$(BIN)/python -m bench.cicd_bench
	$(BIN)/python -m bench.vcs_bench
	$(BIN)/python -m bench.live_bench
	$(BIN)/python -m bench.scm_bench

# Extract the console's strings, merge them into the Chinese catalogues (the platform's, and a
# module's own under taiji/modules/<code>/translations for the strings only it uses), compile them.
# Translate the new entries in the messages.po files, then run again (tools/i18n.py).
i18n: $(STAMP)
	$(BIN)/python -m tools.i18n

# Refresh the vendored CSS/JS from the npm registry (npm pack; nothing is installed).
vendor:
	rm -rf build/vendor && mkdir -p build/vendor
	cd build/vendor && npm pack --silent @tabler/core@$(TABLER_VERSION) htmx.org@$(HTMX_VERSION) \
		redoc@$(REDOC_VERSION) >/dev/null
	cd build/vendor && for f in *.tgz; do mkdir -p "$${f%.tgz}" && tar -xzf "$$f" -C "$${f%.tgz}"; done
	mkdir -p $(VENDOR_DIR)/tabler $(VENDOR_DIR)/htmx $(VENDOR_DIR)/redoc
	cp build/vendor/tabler-core-$(TABLER_VERSION)/package/dist/css/tabler.min.css \
		build/vendor/tabler-core-$(TABLER_VERSION)/package/dist/js/tabler.min.js $(VENDOR_DIR)/tabler/
	cp build/vendor/htmx.org-$(HTMX_VERSION)/package/dist/htmx.min.js \
		build/vendor/htmx.org-$(HTMX_VERSION)/package/LICENSE $(VENDOR_DIR)/htmx/
	cp build/vendor/redoc-$(REDOC_VERSION)/package/bundles/redoc.standalone.js \
		build/vendor/redoc-$(REDOC_VERSION)/package/bundles/redoc.standalone.js.LICENSE.txt \
		build/vendor/redoc-$(REDOC_VERSION)/package/LICENSE $(VENDOR_DIR)/redoc/
	@echo "vendored into $(VENDOR_DIR)"

clean:
	rm -rf $(VENV) build *.egg-info
