#!/usr/bin/env bash
# redis-outage.sh: what a Redis outage costs identityd's hot paths. Starts a private
# redis-server (no persistence) and identityd on PostgreSQL with REDIS_URL pointing at it, then
# runs client credentials (c=8) and introspection (c=32) with Redis up, frozen (SIGSTOP), up
# again (SIGCONT) and stopped, and prints a Markdown table with each rate against Redis up.
#
# Variables (environment):
#   IDENTITYD      path to a prebuilt identityd binary (required)
#   BENCH          path to a prebuilt identity-bench (default: go build ./cmd/identity-bench)
#   REDIS_SERVER   the redis-server binary (default: redis-server from PATH)
#   PG             PostgreSQL server URL without a database (default postgres://postgres@127.0.0.1:5432);
#                  the script creates a fresh database and drops it at the end
#   ROUND_SECONDS  seconds per run (default 10)
#   WARMUP_SECONDS warm-up before each run (default 2)
#   LOG_LEVEL      identityd's log level (default info)
#
#   IDENTITYD=/tmp/identityd BENCH=/tmp/identity-bench scripts/redis-outage.sh
set -euo pipefail

: "${IDENTITYD:?set IDENTITYD to a prebuilt identityd binary}"
REDIS_SERVER="${REDIS_SERVER:-redis-server}"
PG="${PG:-postgres://postgres@127.0.0.1:5432}"
PG="${PG%/}"
ROUND_SECONDS="${ROUND_SECONDS:-10}"
WARMUP_SECONDS="${WARMUP_SECONDS:-2}"
LOG_LEVEL="${LOG_LEVEL:-info}"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
. "$ROOT/scripts/bench-lib.sh"
for tool in psql jq curl python3 "$REDIS_SERVER"; do
	command -v "$tool" >/dev/null || { echo "redis-outage: $tool is needed" >&2; exit 1; }
done

WORK="$(mktemp -d /tmp/redis-outage.XXXXXX)"
DB="bench_redis_outage_$$_$(date +%s)"
ID_PID="" RD_PID="" DB_CREATED=""
log() { echo "redis-outage: $*" >&2; }
cleanup() {
	local rc=$?
	set +e
	stop_pid "$ID_PID"
	stop_pid "$RD_PID"
	[ -n "$DB_CREATED" ] && psql -q "$PG/postgres" -c "DROP DATABASE IF EXISTS \"$DB\" WITH (FORCE)" >/dev/null 2>&1
	if [ "$rc" -ne 0 ]; then
		for f in "$WORK"/*.log; do [ -s "$f" ] && { log "last lines of $f:"; tail -n 20 "$f" >&2; }; done
	fi
	rm -rf "$WORK"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [ -z "${BENCH:-}" ]; then
	BENCH="$WORK/identity-bench"
	(cd "$ROOT" && go build -o "$BENCH" ./cmd/identity-bench)
fi

RD_PORT="$(free_port)"
"$REDIS_SERVER" --port "$RD_PORT" --bind 127.0.0.1 --save '' --appendonly no >"$WORK/redis.log" 2>&1 &
RD_PID=$!
for i in $(seq 1 50); do (echo PING | timeout 1 bash -c "cat > /dev/tcp/127.0.0.1/$RD_PORT") 2>/dev/null && break; sleep 0.1; done

psql -q -v ON_ERROR_STOP=1 "$PG/postgres" -c "CREATE DATABASE \"$DB\"" >/dev/null
DB_CREATED=1
ID_PORT="$(free_port)"
ID_URL="http://127.0.0.1:$ID_PORT"
SVC_SECRET="svc-$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')"
RS_SECRET="rs-$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')"
export DATABASE_URL="$PG/$DB?sslmode=disable" REDIS_URL="redis://127.0.0.1:$RD_PORT/0" \
	IDENTITY_ADDR="127.0.0.1:$ID_PORT" IDENTITY_ISSUER="$ID_URL" IDENTITY_LOG_LEVEL="$LOG_LEVEL" \
	IDENTITY_SECRET="$(head -c 48 /dev/urandom | od -An -tx1 | tr -d ' \n')" IDENTITY_DATA_DIR="$WORK/data" IDENTITY_DEV_LOG_MAIL=1
mkdir -p "$IDENTITY_DATA_DIR"
"$IDENTITYD" migrate >"$WORK/setup.log" 2>&1
"$IDENTITYD" tenants create --slug bench --name Bench >>"$WORK/setup.log" 2>&1
printf '%s' "$SVC_SECRET" | "$IDENTITYD" clients create --tenant bench --id svc --secret-file - \
	--grant-types client_credentials --scopes service 2>>"$WORK/setup.log" >/dev/null
printf '%s' "$RS_SECRET" | "$IDENTITYD" clients create --tenant bench --id rsrv --secret-file - \
	--grant-types client_credentials --scopes service 2>>"$WORK/setup.log" >/dev/null
"$IDENTITYD" serve >"$WORK/identityd.log" 2>&1 &
ID_PID=$!
for i in $(seq 1 300); do curl -sf -o /dev/null "$ID_URL/api/health/ready" && break; sleep 0.2; done
unset DATABASE_URL IDENTITY_SECRET

run() { # run PHASE: both scenarios, JSON to $WORK/PHASE-*.json
	local common=(-url "$ID_URL" -client-id svc -client-secret "$SVC_SECRET" -scope service
		-d "${ROUND_SECONDS}s" -warmup "${WARMUP_SECONDS}s" -format json -progress=false -pid "$ID_PID")
	log "$1: client credentials c=8"
	"$BENCH" "${common[@]}" -scenario client-credentials -c 8 >"$WORK/$1-cc.json"
	log "$1: introspection c=32"
	"$BENCH" "${common[@]}" -scenario introspect -c 32 -introspect-client-id rsrv -introspect-client-secret "$RS_SECRET" >"$WORK/$1-in.json"
}
redis_commands() { # total commands the private Redis has processed (the INFO call itself included)
	exec 3<>"/dev/tcp/127.0.0.1/$RD_PORT"
	printf 'INFO stats\r\n' >&3
	timeout 2 cat <&3 | tr -d '\r' | sed -n 's/^total_commands_processed://p' | head -n 1
	exec 3<&-
}
before="$(redis_commands)"
run up
after="$(redis_commands)"
echo "$((after - before - 1))" >"$WORK/redis-commands"
kill -STOP "$RD_PID"
run frozen
kill -CONT "$RD_PID"
sleep 2
run up-again
stop_pid "$RD_PID"
RD_PID=""
run stopped

python3 - "$WORK" <<'PY'
import json, sys
w = sys.argv[1]
def load(phase, s):
    a = json.load(open(f"{w}/{phase}-{s}.json"))
    a["p99_ms"] = a.get("latency_ms", {}).get("p99", 0)
    return a
print(f"| Redis | client credentials c=8 | vs up | introspection c=32 | vs up |")
print("|---|---:|---:|---:|---:|")
base = {s: (load("up", s)["rps"] + load("up-again", s)["rps"]) / 2 for s in ("cc", "in")}
for phase in ("up", "frozen", "up-again", "stopped"):
    cells = []
    for s in ("cc", "in"):
        a = load(phase, s)
        cells.append(f"{a['rps']:.0f}/s, p99 {a['p99_ms']:.1f} ms, {a.get('errors', 0)} errors")
        cells.append(f"{100 * a['rps'] / base[s]:.0f} %")
    print(f"| {phase} | " + " | ".join(cells) + " |")
print()
print('"vs up": against the mean of the two runs with Redis up.')
n = int(open(f"{w}/redis-commands").read().strip() or 0)
reqs = sum(json.load(open(f"{w}/up-{s}.json"))["requests"] for s in ("cc", "in"))
print(f"Redis commands during the first 'up' runs (warm-up included): {n}, for {reqs} measured requests ({n / max(reqs, 1):.4f} per request, an upper bound: the warm-up requests are not counted).")
PY
