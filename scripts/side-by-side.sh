#!/usr/bin/env bash
# side-by-side.sh: benchmark identityd against Ory Hydra (or identityd alone) on
# PostgreSQL with cmd/identity-bench in compare mode, and print a Markdown table.
#
# Variables (environment):
#   IDENTITYD      path to a prebuilt identityd binary (required)
#   HYDRA          path to a prebuilt Ory Hydra v2 binary (optional; unset: identityd only).
#                  This script never builds Hydra and holds none of its code.
#   BENCH          path to a prebuilt identity-bench (default: go build ./cmd/identity-bench)
#   PG             PostgreSQL server URL without a database (default postgres://postgres@127.0.0.1:5432);
#                  the script creates two fresh databases on it and drops them at the end
#   ROUNDS         rounds per scenario (default 3); each round runs Identity then Hydra
#   ROUND_SECONDS  seconds per round and target (default 10)
#   WARMUP_SECONDS warm-up before each measured round (default 2)
#   OUT            directory for the raw JSON of each scenario (default: a temporary one, removed)
#   LOG_LEVEL      both servers' log level (default info: each one's default, a line per request)
#
#   IDENTITYD=/tmp/bench-identityd HYDRA=/opt/hydra/hydra scripts/side-by-side.sh
#   IDENTITYD=/tmp/bench-identityd ROUNDS=1 ROUND_SECONDS=2 scripts/side-by-side.sh   # smoke run
#
# Both servers run with their defaults (opaque access tokens, each one's own client-secret hashing),
# no Redis for identityd. CPU is the server process only (/proc/PID/stat), not PostgreSQL's.
#
# The Hydra commands used (Hydra v2 command line; DSN and the SERVE_*/URLS_*/SECRETS_* variables
# are Hydra's own configuration names):
#   DSN=postgres://…/db hydra migrate sql -e --yes
#   DSN=… SERVE_PUBLIC_PORT=P SERVE_ADMIN_PORT=A SERVE_PUBLIC_HOST=127.0.0.1 SERVE_ADMIN_HOST=127.0.0.1 \
#     URLS_SELF_ISSUER=http://127.0.0.1:P SECRETS_SYSTEM=… LOG_LEVEL=info hydra serve all --dev
#   hydra create client --endpoint http://127.0.0.1:A --grant-type client_credentials --scope service \
#     --token-endpoint-auth-method client_secret_basic --format json     (prints client_id, client_secret)
# Endpoints: token POST P/oauth2/token, introspection POST A/admin/oauth2/introspect (admin port,
# unauthenticated in this setup), no-op GET P/health/alive, readiness GET A/health/ready.
set -euo pipefail

: "${IDENTITYD:?set IDENTITYD to a prebuilt identityd binary}"
HYDRA="${HYDRA:-}"
PG="${PG:-postgres://postgres@127.0.0.1:5432}"
PG="${PG%/}"
ROUNDS="${ROUNDS:-3}"
ROUND_SECONDS="${ROUND_SECONDS:-10}"
WARMUP_SECONDS="${WARMUP_SECONDS:-2}"
LOG_LEVEL="${LOG_LEVEL:-info}"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
. "$ROOT/scripts/bench-lib.sh"

for tool in psql jq curl python3; do
	command -v "$tool" >/dev/null || { echo "side-by-side: $tool is needed" >&2; exit 1; }
done
[ -x "$IDENTITYD" ] || { echo "side-by-side: IDENTITYD=$IDENTITYD is not executable" >&2; exit 1; }
[ -z "$HYDRA" ] || [ -x "$HYDRA" ] || { echo "side-by-side: HYDRA=$HYDRA is not executable" >&2; exit 1; }

WORK="$(mktemp -d /tmp/side-by-side.XXXXXX)"
KEEP_OUT=1
if [ -z "${OUT:-}" ]; then OUT="$WORK/out"; KEEP_OUT=0; fi
mkdir -p "$OUT"
SUFFIX="$$_$(date +%s)"
DB_ID="bench_identity_$SUFFIX"
DB_HY="bench_hydra_$SUFFIX"
ID_PID=""
HY_PID=""
BENCH_PID=""
DBS_CREATED=()

log() { echo "side-by-side: $*" >&2; }


cleanup() {
	local rc=$?
	set +e
	stop_pid "$BENCH_PID"
	stop_pid "$ID_PID"
	stop_pid "$HY_PID"
	for db in "${DBS_CREATED[@]}"; do
		psql -q "$PG/postgres" -c "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)" >/dev/null 2>&1 ||
			log "could not drop database $db"
	done
	if [ "$rc" -ne 0 ]; then
		for f in "$WORK"/*.log; do
			[ -s "$f" ] && { log "last lines of $f:"; tail -n 20 "$f" >&2; }
		done
	fi
	rm -rf "$WORK" # OUT, when given, is elsewhere and kept
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM


wait_ready() { # wait_ready URL PID NAME: until URL answers 2xx, the process lives, and 60 s pass
	local url="$1" pid="$2" name="$3" i
	for i in $(seq 1 300); do
		curl -sf -o /dev/null "$url" && return 0
		kill -0 "$pid" 2>/dev/null || { log "$name exited before it was ready"; return 1; }
		sleep 0.2
	done
	log "$name was not ready at $url after 60 s"
	return 1
}

create_db() {
	psql -q -v ON_ERROR_STOP=1 "$PG/postgres" -c "CREATE DATABASE \"$1\"" >/dev/null
	DBS_CREATED+=("$1")
}

# dburl NAME: PG with the database, keeping any query string PG has.
dburl() {
	local base="${PG%%\?*}" query=""
	[ "$base" = "$PG" ] || query="${PG#*\?}"
	if [ -n "$query" ]; then echo "$base/$1?$query"; else echo "$base/$1?sslmode=disable"; fi
}

if [ -z "${BENCH:-}" ]; then
	BENCH="$WORK/identity-bench"
	log "building identity-bench"
	(cd "$ROOT" && go build -o "$BENCH" ./cmd/identity-bench)
fi

# --- identityd -------------------------------------------------------------
ID_PORT="$(free_port)"
ID_URL="http://127.0.0.1:$ID_PORT"
ID_SECRET="svc-$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')"
RS_SECRET="rs-$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')"
create_db "$DB_ID"
export DATABASE_URL IDENTITY_ADDR IDENTITY_ISSUER IDENTITY_SECRET IDENTITY_DATA_DIR IDENTITY_LOG_LEVEL IDENTITY_DEV_LOG_MAIL
DATABASE_URL="$(dburl "$DB_ID")"
IDENTITY_ADDR="127.0.0.1:$ID_PORT"
IDENTITY_ISSUER="$ID_URL"
IDENTITY_SECRET="$(head -c 48 /dev/urandom | od -An -tx1 | tr -d ' \n')"
IDENTITY_DATA_DIR="$WORK/data"
IDENTITY_LOG_LEVEL="$LOG_LEVEL"
IDENTITY_DEV_LOG_MAIL=1 # no SMTP here: mail (none is sent in these scenarios) goes to the log
mkdir -p "$IDENTITY_DATA_DIR"
log "identityd: migrate, tenant, clients (database $DB_ID)"
"$IDENTITYD" migrate >"$WORK/identityd-setup.log" 2>&1
"$IDENTITYD" tenants create --slug bench --name Bench >>"$WORK/identityd-setup.log" 2>&1
# svc gets tokens; rsrv is the resource server that introspects them. Their answers echo the
# secret, so stdout goes nowhere (the log, shown on failure, gets stderr only).
printf '%s' "$ID_SECRET" | "$IDENTITYD" clients create --tenant bench --id svc --secret-file - \
	--grant-types client_credentials --scopes service 2>>"$WORK/identityd-setup.log" >/dev/null
printf '%s' "$RS_SECRET" | "$IDENTITYD" clients create --tenant bench --id rsrv --secret-file - \
	--grant-types client_credentials --scopes service 2>>"$WORK/identityd-setup.log" >/dev/null
"$IDENTITYD" serve >"$WORK/identityd.log" 2>&1 &
ID_PID=$!
wait_ready "$ID_URL/api/health/ready" "$ID_PID" identityd
log "identityd ready on $ID_URL (pid $ID_PID)"
unset DATABASE_URL IDENTITY_SECRET

# --- Hydra (optional) ------------------------------------------------------
if [ -n "$HYDRA" ]; then
	HY_PUB="$(free_port)"
	HY_ADM="$(free_port)"
	while [ "$HY_ADM" = "$HY_PUB" ] || [ "$HY_ADM" = "$ID_PORT" ]; do HY_ADM="$(free_port)"; done
	create_db "$DB_HY"
	log "hydra: migrate, serve, client (database $DB_HY)"
	(
		export DSN
		DSN="$(dburl "$DB_HY")"
		"$HYDRA" migrate sql -e --yes >"$WORK/hydra-setup.log" 2>&1
	)
	(
		export DSN SERVE_PUBLIC_PORT SERVE_ADMIN_PORT SERVE_PUBLIC_HOST SERVE_ADMIN_HOST URLS_SELF_ISSUER SECRETS_SYSTEM LOG_LEVEL
		DSN="$(dburl "$DB_HY")"
		SERVE_PUBLIC_PORT="$HY_PUB" SERVE_ADMIN_PORT="$HY_ADM"
		SERVE_PUBLIC_HOST=127.0.0.1 SERVE_ADMIN_HOST=127.0.0.1
		URLS_SELF_ISSUER="http://127.0.0.1:$HY_PUB"
		SECRETS_SYSTEM="$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')"
		LOG_LEVEL="$LOG_LEVEL"
		exec "$HYDRA" serve all --dev
	) >"$WORK/hydra.log" 2>&1 &
	HY_PID=$!
	wait_ready "http://127.0.0.1:$HY_ADM/health/ready" "$HY_PID" hydra
	HY_CLIENT="$("$HYDRA" create client --endpoint "http://127.0.0.1:$HY_ADM" --grant-type client_credentials \
		--scope service --token-endpoint-auth-method client_secret_basic --format json 2>>"$WORK/hydra-setup.log")"
	HY_ID="$(jq -r .client_id <<<"$HY_CLIENT")"
	HY_SECRET="$(jq -r .client_secret <<<"$HY_CLIENT")"
	unset HY_CLIENT
	log "hydra ready on public :$HY_PUB, admin :$HY_ADM (pid $HY_PID)"
fi

# --- the runs --------------------------------------------------------------
# bench NAME SCENARIO C [extra flags for the A side…] -- [extra flags for the B side…]
bench() {
	local name="$1" scenario="$2" c="$3"
	shift 3
	local a=() b=()
	while [ $# -gt 0 ] && [ "$1" != "--" ]; do a+=("$1"); shift; done
	[ $# -gt 0 ] && shift
	b=("$@")
	local args=(-url "$ID_URL" -scenario "$scenario" -c "$c" -d "${ROUND_SECONDS}s" -warmup "${WARMUP_SECONDS}s"
		-rounds "$ROUNDS" -format json -progress=false -pid "$ID_PID" "${a[@]}")
	if [ -n "$HYDRA" ]; then
		args+=(-compare-url "http://127.0.0.1:$HY_PUB" -compare-pid "$HY_PID" "${b[@]}")
	fi
	log "run $name"
	# In the background with wait, so that a signal to this script runs the trap at once.
	"$BENCH" "${args[@]}" >"$OUT/$name.json" &
	BENCH_PID=$!
	wait "$BENCH_PID"
	BENCH_PID=""
}

ID_CC=(-client-id svc -client-secret "$ID_SECRET" -scope service)
HY_CC=()
if [ -n "$HYDRA" ]; then
	HY_CC=(-compare-token-path /oauth2/token -compare-client-id "$HY_ID" -compare-client-secret "$HY_SECRET")
fi
bench cc-c8 client-credentials 8 "${ID_CC[@]}" -- "${HY_CC[@]}"
bench cc-c32 client-credentials 32 "${ID_CC[@]}" -- "${HY_CC[@]}"
bench introspect-c32 introspect 32 "${ID_CC[@]}" -introspect-client-id rsrv -introspect-client-secret "$RS_SECRET" -- \
	"${HY_CC[@]}" ${HYDRA:+-compare-introspect-url "http://127.0.0.1:${HY_ADM:-}/admin/oauth2/introspect"}
bench noop-c32 get 32 -path /api/health/live -- ${HYDRA:+-compare-path /health/alive}

# --- the table -------------------------------------------------------------
fmt() { jq -r "$1" "$2"; }
echo
echo "$ROUNDS round(s) × ${ROUND_SECONDS} s per server and scenario (after ${WARMUP_SECONDS} s warm-up), medians${HYDRA:+; ratio = Identity / Hydra, median of the per-round ratios}."
echo "CPU: the server process only (utime+stime from /proc, 100 ticks/s), per counted request (ok or failed)."
echo
if [ -n "$HYDRA" ]; then
	echo "| scenario | Identity | Hydra | ratio |"
	echo "|---|---:|---:|---:|"
else
	echo "| scenario | Identity |"
	echo "|---|---:|"
fi
row() { # row LABEL FILE
	local label="$1" f="$2"
	if [ -n "$HYDRA" ]; then
		fmt "\"| $label, req/s | \((.median.a.rps // 0)|round) | \((.median.b.rps // 0)|round) | \((.median.rps_ratio // 0)*100|round/100) |\"" "$f"
		fmt "\"| $label, p99 ms | \((.median.a.p99_ms // 0)*100|round/100) | \((.median.b.p99_ms // 0)*100|round/100) | \((.median.p99_ratio // 0)*100|round/100) |\"" "$f"
		fmt "\"| $label, CPU ms/req | \((.median.a.cpu_ms_per_request // 0)*1000|round/1000) | \((.median.b.cpu_ms_per_request // 0)*1000|round/1000) | \((.median.cpu_per_request_ratio // 0)*100|round/100) |\"" "$f"
		fmt "\"| $label, errors | \((.median.a.errors // 0)) | \((.median.b.errors // 0)) | |\"" "$f"
	else
		fmt "\"| $label, req/s | \((.median.a.rps // 0)|round) |\"" "$f"
		fmt "\"| $label, p99 ms | \((.median.a.p99_ms // 0)*100|round/100) |\"" "$f"
		fmt "\"| $label, CPU ms/req | \((.median.a.cpu_ms_per_request // 0)*1000|round/1000) |\"" "$f"
		fmt "\"| $label, errors | \((.median.a.errors // 0)) |\"" "$f"
	fi
}
row "client-credentials c=8" "$OUT/cc-c8.json"
row "client-credentials c=32" "$OUT/cc-c32.json"
row "introspection c=32" "$OUT/introspect-c32.json"
row "no-op GET c=32" "$OUT/noop-c32.json"
if [ "$KEEP_OUT" = 1 ]; then echo; echo "raw JSON: $OUT/*.json"; fi
