"""Line status from queue member events, on the recorded sessions."""

from __future__ import annotations

from amisim import load_capture
from callercard.lines.board import QueueBoard
from tests.support.captures import capture_path


def replay(board: QueueBoard, capture: str) -> list[tuple[str, int, int]]:
    changes = []
    for entry in load_capture(capture_path(f"{capture}.jsonl")).entries:
        if entry.dir == "in" and (queue := board.observe(entry.headers)) is not None:
            summary = board.summary(queue)
            changes.append((queue, summary["free"], summary["on_line"]))
    return changes


def test_members_joining_pausing_and_leaving_move_the_counts_as_the_readme_of_the_captures_says() -> None:
    assert [c for c in replay(QueueBoard(), "member_login_logout") if c[0] == "second"] == [
        ("second", 1, 1), ("second", 2, 2), ("second", 1, 2), ("second", 0, 1), ("second", 0, 0)]


def test_a_ringing_member_is_not_free_and_is_free_again_after_the_call() -> None:
    board = QueueBoard()
    changes = replay(board, "ringall_one_answers")
    assert ("sales", 0, 3) in changes, "all three ring at once"
    assert changes[-1] == ("sales", 3, 3)
    assert {m["name"] for m in board.summary("sales")["members"]} == {"Anna Smirnova", "Boris Ivanov", "Vera Kozlova"}


def test_queue_status_replaces_what_the_board_knew_of_the_queues_it_lists() -> None:
    board = QueueBoard()
    replay(board, "member_login_logout")
    status = [e.headers for e in load_capture(capture_path("member_pause_remove_add.jsonl")).entries
              if e.dir == "in" and e.headers.get("Event") in ("QueueParams", "QueueMember")]
    assert board.replace(status) == {"support"}
    support = board.summary("support")
    assert (support["free"], support["on_line"]) == (1, 2), "Anna is paused (lunch) in that answer"
    assert not any(m["dynamic"] for m in support["members"])
    assert board.summary("second")["on_line"] == 0, "a queue the answer does not list keeps its state"


def test_a_queue_is_reported_changed_exactly_when_its_summary_changed_on_every_capture() -> None:
    """``observe`` compares members, not summaries (it runs on every member event): the same answer."""
    captures = sorted(p.name for p in capture_path("README.md").parent.glob("*.jsonl") if ".http." not in p.name)
    reported = 0
    for name in captures:
        board = QueueBoard()
        for entry in load_capture(capture_path(name)).entries:
            queue = entry.headers.get("Queue", "")
            before = board.summary(queue) if queue else None
            changed = board.observe(entry.headers) if entry.dir == "in" else None
            assert changed == (queue if queue and board.summary(queue) != before else None), (name, entry.headers)
            reported += changed is not None
    assert reported > 50
