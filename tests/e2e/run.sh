#!/usr/bin/env bash
# Runs every browser test (tests/e2e/*.test.mjs) against build/baton, one at a time.
# Exits non-zero when any fails. Screenshots land in build/screenshots/ and are
# copied to docs/screenshots/.
#   BATON_E2E_ASSETS=1 tests/e2e/run.sh   serves web/static from disk (no rebuild needed)
#   BATON_BIN=build-x/baton tests/e2e/run.sh tests/e2e/safety.test.mjs
#                                         another binary; only the files named
set -euo pipefail
cd "$(dirname "$0")/../.."
bin="${BATON_BIN:-build/baton}"
if [ ! -x "$bin" ]; then
  echo "e2e: $bin is missing; run 'make build' first" >&2
  exit 1
fi
export BATON_BIN="$(realpath "$bin")"
if [ ! -d tests/e2e/node_modules/playwright-core ] || [ ! -d tests/e2e/node_modules/axe-core ]; then
  echo "e2e: playwright-core or axe-core is missing; run scripts/install-deps" >&2
  exit 1
fi
if [ $# -eq 0 ]; then set -- tests/e2e/; fi
exec node --test --test-concurrency=1 "$@"
