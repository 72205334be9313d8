#!/usr/bin/env bash
# The test command: lint, then unit and integration tests against real servers.
# Fails when pytest collected no test (its exit code 5), so an empty run never passes.
set -uo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
.venv/bin/ruff check callercard worker asterisk tests || exit 1
scripts/services.sh --profile test up || exit 1
.venv/bin/pytest -p no:cacheprovider "$@"
rc=$?
if [[ $rc -eq 5 ]]; then
  echo "test.sh: pytest collected no tests; failing on purpose" >&2
  exit 1
fi
exit $rc
