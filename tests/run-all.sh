#!/usr/bin/env bash
# Runs every test of ferrokube on a fresh machine: installs what the tests need (PostgreSQL 15 for the
# throwaway databases, the stock kubectl binaries come with the machine and ../shared/tools), then runs the
# unit, storage conformance and end-to-end kubectl suites. Usage: tests/run-all.sh
set -euo pipefail
cd "$(dirname "$0")/.."

need_postgres() {
  ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && ! command -v initdb >/dev/null 2>&1
}
if need_postgres; then
  echo "installing PostgreSQL 15 (initdb and postgres for the tests' throwaway databases)"
  if [ "$(id -u)" -eq 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql-15 >/dev/null
  else
    sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql-15 >/dev/null
  fi
fi

# The end-to-end tests drive stock kubectl binaries; this prints (and fetches once) the ones available.
if [ -x ../shared/tools/kubectl-versions ]; then
  ../shared/tools/kubectl-versions
fi

# The benchmark only prints figures (run it with `cargo bench --bench apiserver`); here it is just compiled.
cargo build --benches
cargo test --lib --bins --tests -- --test-threads=2
