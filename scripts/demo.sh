#!/usr/bin/env bash
# `make demo`: services, demo accounts, then the API, the worker and (when the AMI
# listener is available) the listener against a simulated PBX replaying real calls.
# Ctrl-C stops the processes; `make services-down` stops the services.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
scripts/services.sh up
set -a; . var/demo/callercard.env; set +a
export CALLERCARD_DEMO_ENABLED=true
mkdir -p var/demo/logs
PY=.venv/bin/python

.venv/bin/callercard import customers callercard/demo/customers.csv

pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; }
trap cleanup EXIT INT TERM

.venv/bin/callercard worker >var/demo/logs/worker.log 2>&1 & pids+=($!)
.venv/bin/callercard api >var/demo/logs/api.log 2>&1 & pids+=($!)
if [[ -f asterisk/listener.py ]]; then
  $PY -m asterisk.simulator "${CALLERCARD_CAPTURES_DIR:-$ROOT/../shared/ami-captures}/ringall_one_answers.jsonl" \
    --port "$CALLERCARD_AMI_PORT" --username "$CALLERCARD_AMI_USERNAME" --secret "$CALLERCARD_AMI_SECRET" \
    --loop >var/demo/logs/pbx.log 2>&1 & pids+=($!)
  .venv/bin/callercard listener >var/demo/logs/listener.log 2>&1 & pids+=($!)
fi

url="http://127.0.0.1:$CALLERCARD_API_PORT"
for _ in $(seq 100); do curl -fsS -o /dev/null "$url/openapi.json" 2>/dev/null && break; sleep 0.2; done
echo
echo "callercard is running: $url  (status: $url/status, API docs: $url/docs)"
echo "try: curl \"$url/api/v1/lookup/name?number=84951234567&api_key=\$CALLERCARD_PBX_API_KEY\""
echo "     (keys in var/demo/callercard.env; logs in var/demo/logs/)"
echo "Ctrl-C to stop."
wait
