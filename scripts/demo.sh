#!/usr/bin/env bash
# `make demo`: services, demo accounts and agents, then the API, the worker and the
# listener, against a simulated PBX that replays a real recorded Asterisk call in a loop.
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

url="http://127.0.0.1:$CALLERCARD_API_PORT"
for _ in $(seq 150); do curl -fsS -o /dev/null "$url/openapi.json" 2>/dev/null && break; sleep 0.2; done
$PY - "$url" <<'PY'
import json, os, sys, urllib.request
url, key = sys.argv[1], os.environ["CALLERCARD_ADMIN_API_KEY"]
for agent_id, body in json.load(open("callercard/demo/agents.json")).items():
    request = urllib.request.Request(f"{url}/api/v1/agents/{agent_id}", data=json.dumps(body).encode(),
                                     method="PUT", headers={"Authorization": f"Bearer {key}",
                                                            "Content-Type": "application/json"})
    urllib.request.urlopen(request, timeout=5)
print("demo agents: anna (201), boris (202), vera (203)")
PY
# A supervisor's key for the wallboard (a new one each run; `callercard keys list` / `revoke` manage them).
supervisor_key=$(.venv/bin/callercard keys create --role supervisor --name "Demo supervisor" | tail -n 1)

# The simulated PBX: real recorded Asterisk sessions (agents joining a line, a ring-all call Vera answers,
# a missed call, a declined call, ...), replayed in turn and in a loop with fresh call ids, to the real listener.
captures="$ROOT/tests/captures"
playlist=(member_login_logout ringall_one_answers answered_agent_hangs_up no_answer_then_abandon
          decline_then_next_agent withheld_number abandon_while_ringing blind_transfer)
files=(); for name in "${playlist[@]}"; do files+=("$captures/$name.jsonl"); done
$PY -m amisim "${files[@]}" --port "$CALLERCARD_AMI_PORT" \
  --username "$CALLERCARD_AMI_USERNAME" --secret "$CALLERCARD_AMI_SECRET" --loop >var/demo/logs/pbx.log 2>&1 &
pids+=($!)
.venv/bin/callercard listener >var/demo/logs/listener.log 2>&1 & pids+=($!)

sleep 3
echo
echo "callercard is running: $url"
echo "  OPEN THIS: $url/demo   (pick Anna, Boris or Vera; calls arrive every few seconds)"
echo "  wallboard: $url/wallboard#key=$supervisor_key"
echo "  status:    curl $url/status"
echo "  call log:  curl -H \"Authorization: Bearer \$CALLERCARD_ADMIN_API_KEY\" $url/api/v1/calls"
echo "  lookup:    curl \"$url/api/v1/lookup/name?number=84951234567&api_key=\$CALLERCARD_PBX_API_KEY\""
echo "  API docs:  $url/docs      keys: var/demo/callercard.env      logs: var/demo/logs/"
echo "Ctrl-C to stop."
wait
