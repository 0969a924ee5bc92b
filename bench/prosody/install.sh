#!/bin/sh
# Installs Debian's Prosody and the SQLite driver for its SQL storage (mod_mam's
# archive), for the side-by-side comparison in docs/benchmarks.md. Run by
# `baton-loadgen peer` through `make bench`; never by `make test`.
# The bench starts its own Prosody with its own configuration on loopback; the
# package's system service is not used (the machine's policy-rc.d, when it has
# one, keeps it from starting).
set -eu
if command -v prosody >/dev/null 2>&1 && dpkg -s lua-dbi-sqlite3 >/dev/null 2>&1; then
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends prosody lua-dbi-sqlite3 lua-event lua-unbound
