"""The Celery adapter's batching (worker/queue.py): consecutive call records travel as one record_calls message,
in order, and every other task as it is; each says how many of the hand-offs it carries."""

from __future__ import annotations

from callercard.ports import LOOKUP_CALLER, RECORD_CALL, RECORD_CALLS
from worker.queue import _combined


def test_consecutive_records_go_as_one_message_and_the_rest_as_they_are() -> None:
    tasks = [(RECORD_CALL, [{"call_id": "1"}], {}), (RECORD_CALL, [{"call_id": "2"}], {}),
             (LOOKUP_CALLER, ["+74951234567"], {"call_id": "3"}), (RECORD_CALL, [{"call_id": "3"}], {})]
    assert _combined(tasks) == [
        (RECORD_CALLS, [[{"call_id": "1"}, {"call_id": "2"}]], {}, 2),
        (LOOKUP_CALLER, ["+74951234567"], {"call_id": "3"}, 1),
        (RECORD_CALLS, [[{"call_id": "3"}]], {}, 1),
    ]
    assert sum(count for *_, count in _combined(tasks)) == len(tasks)
