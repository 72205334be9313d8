#!/usr/bin/env bash
# The test command: lint and type checks, then unit and integration tests against real servers.
# Fails when pytest collected no test (its exit code 5), so an empty run never passes.
set -uo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
.venv/bin/ruff check callercard worker asterisk crm amisim tests bench tools || exit 1
# Types, strict (pyproject.toml [tool.mypy] says where not and why).
.venv/bin/mypy || exit 1
# Browser tests drive Debian's Chromium through Playwright (no browser download).
if [[ ! -x /usr/bin/chromium ]]; then
  echo "test.sh: installing chromium from Debian's packages" >&2
  { apt-get install -y -q chromium >/dev/null 2>&1 || { apt-get update -q >/dev/null && apt-get install -y -q chromium >/dev/null; }; } \
    || { echo "test.sh: apt-get install chromium failed" >&2; exit 1; }
fi
scripts/services.sh --profile test up || exit 1
.venv/bin/pytest -p no:cacheprovider "$@"
rc=$?
if [[ $rc -eq 5 ]]; then
  echo "test.sh: pytest collected no tests; failing on purpose" >&2
  exit 1
fi
exit $rc
