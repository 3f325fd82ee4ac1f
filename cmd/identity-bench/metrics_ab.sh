#!/bin/bash
# Interleaved A/B: IDENTITY_METRICS_ENABLED=1 vs 0, SQLite embedded default
# (docs/benchmarks.md, "Metrics overhead"). Prints one line per round and setting.
set -e
ROOT="$(cd "$(dirname "$0")/../.." && pwd)" # the repository, before the cd below
mkdir -p /tmp/d-bench && cd /tmp/d-bench
(cd "$ROOT" && go build -o /tmp/d-bench/identityd ./cmd/identityd && go build -o /tmp/d-bench/identity-bench ./cmd/identity-bench)
rm -rf data; export IDENTITY_DATA_DIR=/tmp/d-bench/data IDENTITY_ADDR=127.0.0.1:18931 IDENTITY_LOG_LEVEL=warn
./identityd tenants create --slug acme --name Acme >/dev/null
./identityd clients create --tenant acme --id svc  --secret svc-secret-0123456789abcdef --grant-types client_credentials --scopes service >/dev/null
./identityd clients create --tenant acme --id rsrv --secret rs-secret-0123456789abcdef  --grant-types client_credentials --scopes service >/dev/null
B='./identity-bench -url http://127.0.0.1:18931 -json'
for round in 1 2 3; do
  if [ $((round % 2)) = 1 ]; then order="1 0"; else order="0 1"; fi
  for m in $order; do
    IDENTITY_METRICS_ENABLED=$m ./identityd serve 2>serve.log & pid=$!
    until curl -sf http://127.0.0.1:18931/api/health/live >/dev/null; do sleep 0.2; done
    cc=$($B -scenario client-credentials -client-id svc -client-secret svc-secret-0123456789abcdef -scope service -c 16 -d 8s -warmup 2s | python3 -c 'import json,sys;d=json.load(sys.stdin);print(round(d.get("rps",d.get("requests_per_second",0))))')
    in=$($B -scenario introspect -client-id svc -client-secret svc-secret-0123456789abcdef -scope service -introspect-client-id rsrv -introspect-client-secret rs-secret-0123456789abcdef -c 16 -d 8s -warmup 2s | python3 -c 'import json,sys;d=json.load(sys.stdin);print(round(d.get("rps",d.get("requests_per_second",0))))')
    echo "round=$round metrics=$m cc_rps=$cc introspect_rps=$in load=$(cut -d' ' -f1 /proc/loadavg)"
    kill $pid; wait $pid || true
  done
done
