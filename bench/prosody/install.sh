#!/bin/sh
# Installs Debian's Prosody and the SQLite driver for its SQL storage (mod_mam's
# archive), for the side-by-side comparison in docs/benchmarks.md. Run by
# `make bench`; never by `make test`. `baton-loadgen peer` then starts its own
# Prosody with its own configuration on loopback and stops it afterwards.
# The package's system-wide service is kept from starting during the install (a
# policy-rc.d that denies it, put in place only if the machine has none).
set -eu
if command -v prosody >/dev/null 2>&1 && dpkg -s lua-dbi-sqlite3 >/dev/null 2>&1; then
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
policy=/usr/sbin/policy-rc.d
ours=""
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' > "$policy"
  chmod 755 "$policy"
  ours=1
fi
cleanup() { if [ -n "$ours" ]; then rm -f "$policy"; fi; }
trap cleanup EXIT
apt-get update -qq
apt-get install -y -qq --no-install-recommends prosody lua-dbi-sqlite3 lua-event lua-unbound
