#!/usr/bin/env bash
# Every figure of README's "Performance" section, in one run: release
# builds, then the relay side by side with the floor (5,000 and 10,000
# frames/s), the waiting room (1,000 patients, ten queues, 200 check-ins/s),
# idle sockets (server memory per socket), FHIR search under 100 clients,
# consult close -> claim ready (SQLite, then PostgreSQL with two billing
# workers), sign-ins per second and a sign-in storm. Each figure is printed
# with the load average beside it: run it on a quiet machine.
#
#   loadgen/scripts/bench_all.sh | tee bench.txt
#
# Servers are pinned to core 0 and the load driver to the others (taskset).
# Ports: Bedside on BEDSIDE_BENCH_PORT+1 upwards (default 18080), the relay
# comparison on BEDSIDE_BENCH_COMPARE_PORT and the next (default 19100), the
# billing webhook receiver on BEDSIDE_BENCH_WEBHOOK_PORT (default 18310).
# PostgreSQL runs get a fresh database on BEDSIDE_BENCH_POSTGRES (default
# postgres://postgres@127.0.0.1:5432), dropped afterwards; without psql
# they are skipped.
#
# BEDSIDE_BENCH_SECTIONS picks sections (default: all of relay waiting idle
# fhir claims sign-in storm); BEDSIDE_BENCH_BIN runs another Bedside build
# (say, the commit before a change) against this load tool, for a baseline
# in the same sitting:
#
#   BEDSIDE_BENCH_BIN=../before/target/release/bedside BEDSIDE_BENCH_SECTIONS=claims \
#     loadgen/scripts/bench_all.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
work="$(mktemp -d /tmp/bedside-bench.XXXXXX)"
port="${BEDSIDE_BENCH_PORT:-18080}"
compare_port="${BEDSIDE_BENCH_COMPARE_PORT:-19100}"
webhook="127.0.0.1:${BEDSIDE_BENCH_WEBHOOK_PORT:-18310}"
postgres="${BEDSIDE_BENCH_POSTGRES:-postgres://postgres@127.0.0.1:5432}"

# BEDSIDE_BENCH_PROFILE=debug reuses debug builds (figures then say little).
profile="${BEDSIDE_BENCH_PROFILE:-release}"
if [ "$profile" = release ]; then
  cargo build --release -p bedside -p bedside-loadgen
else
  cargo build -p bedside -p bedside-loadgen
fi
bedside="${BEDSIDE_BENCH_BIN:-target/$profile/bedside}"
loadgen="target/$profile/bedside-loadgen"
sections=" ${BEDSIDE_BENCH_SECTIONS:-relay waiting idle fhir claims sign-in storm} "
# Whether section $1 was asked for.
wanted() { [[ "$sections" == *" $1 "* ]]; }

log() { printf '%s\n' "$*"; }
server_pin=() driver_pin=()
if command -v taskset >/dev/null && [ "$(nproc)" -ge 2 ]; then
  server_pin=(taskset -c 0) driver_pin=(taskset -c "1-$(($(nproc) - 1))")
fi

# A fresh Bedside on its own port (a stopped one may still be draining on
# the last); sets $pid and $port. The store is a new SQLite file unless
# DATABASE_URL=... is among the extra VAR=value arguments after the name.
start_bedside() {
  port=$((port + 1))
  local dir="$work/$1"
  shift
  mkdir -p "$dir"
  env DATABASE_URL="sqlite://$dir/bedside.db" BEDSIDE_ADDR="127.0.0.1:$port" RUST_LOG=warn "$@" \
    "${server_pin[@]}" "$bedside" serve --demo >"$dir/bedside.log" 2>&1 &
  pid=$!
  for _ in $(seq 1 600); do
    curl -fs "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break
    sleep 0.1
  done
}

# Stops the Bedside started last and waits for it to go.
stop_bedside() {
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

log "# bench_all $(date -u +%FT%TZ) on $(nproc) cores; $(git rev-parse --short HEAD); $profile builds; Bedside: $bedside"
log "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"

if wanted relay; then for rate in 5000 10000; do
  log ""
  log "## relay, 100 pairs, $rate frames/s: floor and Bedside side by side"
  "$loadgen" --pairs 100 --rate "$rate" --seconds 20 \
    compare --bedside-bin "$bedside" --port "$compare_port" 2>>"$work/loadgen.log"
done; fi

if wanted waiting; then
log ""
log "## waiting room: 1,000 patients, 10 queues, 200 check-ins/s"
start_bedside waiting
"${driver_pin[@]}" "$loadgen" --url "http://127.0.0.1:$port" waiting-room --patients 1000 --queues 10 --per-second 200 \
  2>>"$work/loadgen.log"
log "lagged-bus lines in Bedside's log: $(grep -c lagged "$work/waiting/bedside.log" || true)"
stop_bedside
fi

if wanted idle; then
log ""
log "## idle authenticated patient sockets: 10,000"
start_bedside idle
"${driver_pin[@]}" "$loadgen" --url "http://127.0.0.1:$port" --server-pid "$pid" idle --sockets 10000 \
  2>>"$work/loadgen.log"
stop_bedside
fi

if wanted fhir; then
log ""
log "## FHIR search: 10,000 patients (200 with vital signs), 100 clients"
start_bedside fhir
"${driver_pin[@]}" "$loadgen" --url "http://127.0.0.1:$port" fhir --patients 10000 --with-vitals 200 --clients 100 --seconds 20 \
  2>>"$work/loadgen.log"
stop_bedside
fi

# The billing webhook points at the load tool, which times each claim's arrival.
claims_env=(BEDSIDE_BILLING_WEBHOOK_URL="http://$webhook/" BEDSIDE_BILLING_WEBHOOK_SECRET=bench-webhook-secret-0001)

if wanted claims; then
log ""
log "## consult close -> claim ready, SQLite, one billing worker: 3,000 visits at 300 closes/s"
start_bedside claims-sqlite "${claims_env[@]}" BEDSIDE_BILLING_WORKERS=1
"${driver_pin[@]}" "$loadgen" --url "http://127.0.0.1:$port" close-claim --visits 3000 --per-second 300 \
  --webhook "$webhook" 2>>"$work/loadgen.log" || log "(close-claim on SQLite failed: see $work/loadgen.log)"
stop_bedside

if command -v psql >/dev/null; then
  database="bedside_bench_$$"
  psql "$postgres/postgres" -qc "CREATE DATABASE $database" >/dev/null
  log ""
  log "## consult close -> claim ready, PostgreSQL, two billing workers: 10,000 visits at 1,000 closes/s"
  start_bedside claims-postgres "${claims_env[@]}" BEDSIDE_BILLING_WORKERS=2 DATABASE_URL="$postgres/$database"
  "${driver_pin[@]}" "$loadgen" --url "http://127.0.0.1:$port" close-claim --visits 10000 --per-second 1000 \
    --webhook "$webhook" 2>>"$work/loadgen.log" || log "(close-claim on PostgreSQL failed: see $work/loadgen.log)"
  stop_bedside
  psql "$postgres/postgres" -qc "DROP DATABASE $database" >/dev/null
fi
fi

if wanted sign-in; then
log ""
log "## sign-ins per second: 32 clients signing one clinician in (hashing bounded)"
start_bedside sign-in
"${driver_pin[@]}" "$loadgen" --url "http://127.0.0.1:$port" sign-in --clients 32 --seconds 20 \
  2>>"$work/loadgen.log"
stop_bedside
fi

if wanted storm; then
log ""
log "## sign-in storm: 400 concurrent sign-ins (hashing bounded)"
python3 loadgen/scripts/signin_storm.py "$bedside" 400
fi

log ""
log "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg); work files in $work"
