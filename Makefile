# Two targets matter on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: demo test lint typecheck pytest chromium spamassassin netbed wrk bench bench-newsroom bench-peers bench-web sink worker serve clean messages

$(BIN)/alerts: pyproject.toml
	$(PYTHON) -c 'import sys; sys.exit("Python 3.11+ is required" if sys.version_info < (3, 11) else 0)'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $@

## Everything on the embedded defaults: SQLite, a local broker file, the built-in sink.
demo: $(BIN)/alerts
	$(BIN)/alerts demo

## Lint, type-check and the whole test suite (needs PostgreSQL, Redis and RabbitMQ on 127.0.0.1).
test: lint typecheck pytest

lint: $(BIN)/alerts
	$(BIN)/ruff check alerts tests bench worker.py migrations
	$(BIN)/ruff format --check alerts tests bench worker.py migrations

typecheck: $(BIN)/alerts
	$(BIN)/mypy alerts tests worker.py

pytest: $(BIN)/alerts chromium spamassassin netbed
	$(BIN)/python -m pytest

## The browser tests drive Debian's Chromium (Playwright never downloads a browser here).
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; \
	  else \
	    echo "the browser tests need Chromium: sudo apt-get install chromium" >&2; exit 1; \
	  fi; }

## The spam-score gate runs Debian's SpamAssassin (local rules only, no network tests).
spamassassin:
	@command -v spamassassin >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -o DPkg::Lock::Timeout=300 spamassassin; \
	  else \
	    echo "the spam-score test needs SpamAssassin: sudo apt-get install spamassassin" >&2; exit 1; \
	  fi; }

## The multi-host cases (tests/multihost/) build hosts from network namespaces and
## make their faults with nftables rules (iproute2 and nftables from Debian).
netbed:
	@command -v nft >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -o DPkg::Lock::Timeout=300 nftables; \
	  else \
	    echo "note: no nftables and not root: the multi-host cases will be skipped" >&2; \
	  fi; }

## Throughput against PostgreSQL + Redis (see bench/README.md).
bench: $(BIN)/alerts
	$(BIN)/python -m bench.fanout

## The newsroom and web-load benchmarks drive `alerts serve` with Debian's wrk (a bench tool, not a test one).
wrk:
	@command -v wrk >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -o DPkg::Lock::Timeout=300 wrk; \
	  else \
	    echo "the newsroom and web-load benchmarks need wrk: sudo apt-get install wrk" >&2; exit 1; \
	  fi; }

## /news, a filtered list, a search and the feeds at 20,000 items, SQLite then PostgreSQL.
bench-newsroom: $(BIN)/alerts wrk
	$(BIN)/python -m bench.newsroom

## GNU Mailman 3 beside us, same sink, same N (bench/README.md); not part of `make test`.
## Mailman goes into its own virtual environment under build/peers/mailman.
PEERS_MEMBERS ?= 2000
bench-peers: $(BIN)/alerts
	$(BIN)/python -m bench.peers --members $(PEERS_MEMBERS)

## The web side under load (bench/web_load.py): one-click POSTs, /subscribe, progress.
bench-web: $(BIN)/alerts wrk
	$(BIN)/python -m bench.web_load

sink: $(BIN)/alerts
	$(BIN)/alerts sink

worker: $(BIN)/alerts
	$(BIN)/alerts worker --beat

serve: $(BIN)/alerts
	$(BIN)/alerts serve

clean:
	rm -rf $(VENV) alerts-data build .pytest_cache .mypy_cache .ruff_cache

## Re-extract translatable text and merge it into each language's catalogue.
messages: $(BIN)/alerts
	$(BIN)/pybabel extract -F babel.cfg -k N_ -o alerts/locale/messages.pot --no-location --sort-output --omit-header .
	$(BIN)/pybabel update -i alerts/locale/messages.pot -d alerts/locale -D messages --no-fuzzy-matching
