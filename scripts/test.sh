#!/usr/bin/env bash
# Runs every Hookbridge test. Installs what the tests need when it is missing,
# so this one command works on a fresh machine (and is what .ci/run calls).
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

apt_updated=
apt_install() {
  [ -n "$apt_updated" ] || { as_root apt-get update -qq; apt_updated=1; }
  as_root apt-get install -y -qq "$@"
}

# The delivery tests run the seed page's Python verify_signature verbatim.
command -v python3 >/dev/null 2>&1 || apt_install python3
# The Zapier app's tests run on Node (18 or newer) with npm.
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  apt_install nodejs npm
fi
# The Rust suite runs a second time on real PostgreSQL servers it starts
# itself (initdb, pg_ctl) from the system's packages.
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && ! command -v initdb >/dev/null 2>&1; then
  apt_install postgresql
fi
# The dashboard's browser tests drive Debian's Chromium with Playwright
# (Playwright's own browser download cannot work here).
if ! command -v "${CHROMIUM:-chromium}" >/dev/null 2>&1; then
  apt_install chromium
fi
# The TLS test issues its PostgreSQL server a certificate with openssl.
command -v openssl >/dev/null 2>&1 || apt_install openssl
if ! cargo nextest --version >/dev/null 2>&1; then
  cargo install --locked cargo-nextest
fi

reports=$(mktemp -d)
trap 'rm -rf "$reports"' EXIT
# Installing Node 24 and n8n for the n8n suite takes minutes the first time
# (then it is cached): it runs beside the Rust suites.
bash n8n-node/scripts/install-n8n.sh >"$reports/n8n-install.log" 2>&1 &
n8n_install=$!

cargo fmt --all -- --check
cargo clippy --all-targets --locked -- -D warnings
cargo nextest run --locked --no-fail-fast 2>&1 | tee "$reports/nextest.log"
# The same black-box suite, every test on a PostgreSQL server of its own (the
# multi-node, TLS and PostgreSQL full-disk tests always run on PostgreSQL, and
# the SQLite full-disk, backup and container tests on SQLite, so they ran in
# the first pass).
HOOKBRIDGE_TEST_BACKEND=postgres cargo nextest run --locked --no-fail-fast \
  -E 'not (test(multinode) | test(postgres_tls) | test(storage::) | test(backup::) | test(container::))' 2>&1 \
  | tee "$reports/nextest-postgres.log"

# The Zapier app, with Zapier's own zapier-platform-core, against the real
# binary (built above by nextest; built again here in case of a filter).
cargo build --locked --bin hookbridge
(cd zapier-app && npm ci --no-audit --no-fund && npm test -- --json --outputFile="$reports/zapier.json")
# Zapier's own CLI validation, offline (the 19.x CLI needs Node 22, which the
# `node` package from npm provides).
(cd tools/zapier-cli && npm ci --no-audit --no-fund)
(cd zapier-app && PATH="$PWD/../tools/zapier-cli/node_modules/.bin:$PATH" zapier-platform validate --without-style)

# The Make app: its files against Make's schemas, and its own IML against
# the real binary (Node's test runner).
(cd make-app && npm ci --no-audit --no-fund && npm test) 2>&1 | tee "$reports/make.log"

# The n8n community node package: built and linted with n8n's own
# @n8n/node-cli, then run in a real n8n (2.x on Node 24, both installed once
# into ~/.cache/hookbridge by n8n-node/scripts/install-n8n.sh) against the
# real binary (Node's test runner).
if ! wait "$n8n_install"; then
  cat "$reports/n8n-install.log"
  exit 1
fi
(cd n8n-node && npm ci --no-audit --no-fund && npm test) 2>&1 | tee "$reports/n8n.log"

# The dashboard at /, in a real headless Chromium against the real binary.
(cd dashboard && npm ci --no-audit --no-fund && npm test) 2>&1 | tee "$reports/dashboard.log"

# One closing line over every suite, counted from the runners' own reports.
python3 - "$reports" <<'PY'
import json, re, sys
reports = sys.argv[1]
def nextest(name):
    log = open(f"{reports}/{name}").read()
    return re.findall(r"(\d+) tests? run: (\d+) passed(?:.*?(\d+) failed)?", log)[-1]
run = nextest("nextest.log")
pg = nextest("nextest-postgres.log")
zapier = json.load(open(f"{reports}/zapier.json"))
def node_test(name):
    log = open(f"{reports}/{name}").read()
    return (int(re.findall(r"^# pass (\d+)$", log, re.M)[-1]),
            int(re.findall(r"^# fail (\d+)$", log, re.M)[-1]))
make_passed, make_failed = node_test("make.log")
n8n_passed, n8n_failed = node_test("n8n.log")
dashboard_passed, dashboard_failed = node_test("dashboard.log")
passed = (int(run[1]) + int(pg[1]) + zapier["numPassedTests"] + make_passed + n8n_passed
          + dashboard_passed)
failed = (int(run[2] or 0) + int(pg[2] or 0) + zapier["numFailedTests"] + make_failed
          + n8n_failed + dashboard_failed)
print(f"rust on SQLite (nextest): {run[1]} passed; rust on PostgreSQL: {pg[1]} passed; "
      f"zapier-app (jest): {zapier['numPassedTests']} passed; "
      f"make-app (node --test): {make_passed} passed; "
      f"n8n-node (node --test, real n8n): {n8n_passed} passed; "
      f"dashboard (Playwright, Chromium): {dashboard_passed} passed")
print(f"all: {passed} passed, {failed} failed")
PY
