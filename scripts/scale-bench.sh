#!/usr/bin/env bash
# scale-bench.sh: how identityd's hot paths cost as the data grows, on PostgreSQL. Starts one
# identityd on a fresh database, and runs client credentials and introspection (c=32):
#   1. on an empty token table;
#   2. with 1 million and then 5 million more rows in oauth_access_tokens (seeded by SQL:
#      live-looking rows of another client, expiring in an hour, so nothing prunes them);
#   3. with 10,000 more tenants, each with one client and one user;
#   4. with two instances on the same database, each driven at c=16 at once (the sum is printed).
# It prints a Markdown table. Seeding 5 M rows takes a few minutes and about 3 GB of disk.
#
# Variables (environment):
#   IDENTITYD      path to a prebuilt identityd binary (required)
#   BENCH          path to a prebuilt identity-bench (default: go build ./cmd/identity-bench)
#   PG             PostgreSQL server URL without a database (default postgres://postgres@127.0.0.1:5432)
#   ROUND_SECONDS  seconds per run (default 10)
#   WARMUP_SECONDS warm-up before each run (default 2)
#   STEPS          which steps to run (default "base 1m 5m tenants two")
#
#   IDENTITYD=/tmp/identityd BENCH=/tmp/identity-bench scripts/scale-bench.sh
set -euo pipefail

: "${IDENTITYD:?set IDENTITYD to a prebuilt identityd binary}"
PG="${PG:-postgres://postgres@127.0.0.1:5432}"
PG="${PG%/}"
ROUND_SECONDS="${ROUND_SECONDS:-10}"
WARMUP_SECONDS="${WARMUP_SECONDS:-2}"
STEPS="${STEPS:-base 1m 5m tenants two}"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
. "$ROOT/scripts/bench-lib.sh"
for tool in psql jq curl python3; do
	command -v "$tool" >/dev/null || { echo "scale-bench: $tool is needed" >&2; exit 1; }
done

WORK="$(mktemp -d /tmp/scale-bench.XXXXXX)"
DB="bench_scale_$$_$(date +%s)"
PIDS=() DB_CREATED=""
log() { echo "scale-bench: $*" >&2; }
cleanup() {
	local rc=$? p
	set +e
	for p in "${PIDS[@]}"; do stop_pid "$p"; done
	[ -n "$DB_CREATED" ] && psql -q "$PG/postgres" -c "DROP DATABASE IF EXISTS \"$DB\" WITH (FORCE)" >/dev/null 2>&1
	if [ "$rc" -ne 0 ]; then
		for f in "$WORK"/*.log; do [ -s "$f" ] && { log "last lines of $f:"; tail -n 20 "$f" >&2; }; done
	fi
	rm -rf "$WORK"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
sql() { psql -q -v ON_ERROR_STOP=1 "$PG/$DB" "$@"; }

if [ -z "${BENCH:-}" ]; then
	BENCH="$WORK/identity-bench"
	(cd "$ROOT" && go build -o "$BENCH" ./cmd/identity-bench)
fi

psql -q -v ON_ERROR_STOP=1 "$PG/postgres" -c "CREATE DATABASE \"$DB\"" >/dev/null
DB_CREATED=1
SVC_SECRET="svc-$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')"
RS_SECRET="rs-$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')"
export DATABASE_URL="$PG/$DB?sslmode=disable" IDENTITY_DEV_LOG_MAIL=1 \
	IDENTITY_SECRET="$(head -c 48 /dev/urandom | od -An -tx1 | tr -d ' \n')" IDENTITY_DATA_DIR="$WORK/data"
mkdir -p "$IDENTITY_DATA_DIR"
"$IDENTITYD" migrate >"$WORK/setup.log" 2>&1
"$IDENTITYD" tenants create --slug bench --name Bench >>"$WORK/setup.log" 2>&1
printf '%s' "$SVC_SECRET" | "$IDENTITYD" clients create --tenant bench --id svc --secret-file - \
	--grant-types client_credentials --scopes service 2>>"$WORK/setup.log" >/dev/null
printf '%s' "$RS_SECRET" | "$IDENTITYD" clients create --tenant bench --id rsrv --secret-file - \
	--grant-types client_credentials --scopes service 2>>"$WORK/setup.log" >/dev/null

start_b() { # a second instance behind the same issuer; sets B_URL and B_PID
	local port
	port="$(free_port)"
	B_URL="http://127.0.0.1:$port"
	IDENTITY_ADDR="127.0.0.1:$port" IDENTITY_ISSUER="$A_URL" "$IDENTITYD" serve >"$WORK/b.log" 2>&1 &
	B_PID=$!
	PIDS+=("$B_PID")
	for i in $(seq 1 300); do curl -sf -o /dev/null "$B_URL/api/health/ready" && return 0; sleep 0.2; done
	log "the second instance was not ready"
	return 1
}
FIRST_PORT="$(free_port)"
A_URL="http://127.0.0.1:$FIRST_PORT"
IDENTITY_ADDR="127.0.0.1:$FIRST_PORT" IDENTITY_ISSUER="$A_URL" "$IDENTITYD" serve >"$WORK/a.log" 2>&1 &
A_PID=$!
PIDS+=("$A_PID")
for i in $(seq 1 300); do curl -sf -o /dev/null "$A_URL/api/health/ready" && break; sleep 0.2; done

bench() { # bench URL PID SCENARIO C OUT
	local extra=()
	[ "$3" = introspect ] && extra=(-introspect-client-id rsrv -introspect-client-secret "$RS_SECRET")
	"$BENCH" -url "$1" -pid "$2" -scenario "$3" -c "$4" -client-id svc -client-secret "$SVC_SECRET" -scope service \
		-d "${ROUND_SECONDS}s" -warmup "${WARMUP_SECONDS}s" -format json -progress=false "${extra[@]}" >"$5"
}
ROWS=()
measure() { # measure LABEL
	log "$1: client credentials, introspection"
	bench "$A_URL" "$A_PID" client-credentials 32 "$WORK/$1-cc.json"
	bench "$A_URL" "$A_PID" introspect 32 "$WORK/$1-in.json"
	ROWS+=("$1")
}
tenant_id="$(sql -At -c "SELECT id FROM tenants WHERE slug = 'bench'")"
seed_tokens() { # seed_tokens N: N more live-looking access-token rows of client rsrv
	local from to
	from="$(sql -At -c 'SELECT count(*) FROM oauth_access_tokens')"
	to=$((from + $1))
	log "seeding $1 access-token rows ($from → $to)"
	sql -c "INSERT INTO oauth_access_tokens (signature, request_id, tenant_id, client_id, subject, requested_at,
	  expires_at, scopes, granted_scopes, audience, granted_audience, form_data, session_data, active, session_id)
	SELECT md5(i::text) || md5((i * 7)::text), md5((i * 3)::text), '$tenant_id', 'rsrv', 'rsrv', now(),
	  now() + interval '1 hour', '[\"service\"]', '[\"service\"]', '[]', '[]', '', '{}', true, ''
	FROM generate_series($from + 1, $to) AS i" >/dev/null
	sql -c 'ANALYZE oauth_access_tokens' >/dev/null
}
for step in $STEPS; do
	case "$step" in
	base) measure "empty token table" ;;
	1m) seed_tokens 1000000; measure "1 M token rows" ;;
	5m)
		have="$(sql -At -c 'SELECT count(*) FROM oauth_access_tokens')"
		seed_tokens $((5000000 - have > 0 ? 5000000 - have : 0)); measure "5 M token rows" ;;
	tenants)
		log "seeding 10,000 tenants, each with a client and a user"
		sql -c "WITH t AS (
		  INSERT INTO tenants (id, slug, name, created_at, updated_at)
		  SELECT gen_random_uuid(), 'scale-' || i, 'Scale ' || i, now(), now() FROM generate_series(1, 10000) AS i
		  RETURNING id, slug)
		, c AS (INSERT INTO oauth_clients (id, tenant_id, name, secret_hash, grant_types, scopes, token_endpoint_auth_method, created_at, updated_at)
		  SELECT slug || '-svc', id, slug, (SELECT secret_hash FROM oauth_clients WHERE id = 'svc'), '[\"client_credentials\"]',
		    '[\"service\"]', 'client_secret_basic', now(), now() FROM t)
		INSERT INTO users (id, tenant_id, email, name, password_hash, created_at, updated_at)
		  SELECT gen_random_uuid(), id, slug || '@example.com', slug, '', now(), now() FROM t" >/dev/null
		# Each gets the bench tenant's system roles and policies, as a tenant created through the API
		# has: without them, every instance started later backfills 10,000 tenants before it is ready.
		for table in roles policies; do
			sql -c "INSERT INTO $table SELECT (jsonb_populate_record(r, jsonb_build_object('id', gen_random_uuid(), 'tenant_id', t.id))).*
			  FROM $table r CROSS JOIN (SELECT id FROM tenants WHERE slug LIKE 'scale-%') t
			  WHERE r.tenant_id = '$tenant_id'" >/dev/null
		done
		sql -c 'ANALYZE' >/dev/null
		measure "+ 10,000 tenants" ;;
	two)
		log "a second instance on the same database; both driven at c=16 at once"
		start_b
		for s in client-credentials introspect; do
			bench "$A_URL" "$A_PID" "$s" 16 "$WORK/two-$s-a.json" &
			p=$!
			bench "$B_URL" "$B_PID" "$s" 16 "$WORK/two-$s-b.json"
			wait "$p"
		done
		ROWS+=("two instances") ;;
	*) log "unknown step $step"; exit 2 ;;
	esac
done

python3 - "$WORK" "${ROWS[@]}" <<'PY'
import json, sys
w, rows = sys.argv[1], sys.argv[2:]
def cell(path):
    a = json.load(open(path))
    cpu = a.get("cpu_ms_per_request")
    return a["rps"], a.get("latency_ms", {}).get("p99", 0), cpu
print("| data | client credentials c=32 | introspection c=32 |")
print("|---|---:|---:|")
for r in rows:
    if r == "two instances":
        out = []
        for s in ("client-credentials", "introspect"):
            ra, pa, _ = cell(f"{w}/two-{s}-a.json")
            rb, pb, _ = cell(f"{w}/two-{s}-b.json")
            out.append(f"{ra + rb:.0f}/s ({ra:.0f} + {rb:.0f}), p99 {max(pa, pb):.1f} ms")
        print(f"| two instances, c=16 each | {out[0]} | {out[1]} |")
        continue
    out = []
    for s in ("cc", "in"):
        rps, p99, cpu = cell(f"{w}/{r}-{s}.json")
        c = f", {cpu:.3f} CPU ms/req" if cpu else ""
        out.append(f"{rps:.0f}/s, p99 {p99:.1f} ms{c}")
    print(f"| {r} | {out[0]} | {out[1]} |")
PY
