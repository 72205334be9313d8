"""What the captures README says each agent must see, per capture, and each call's outcome."""

from __future__ import annotations

DEMO_AGENTS = {
    "anna": {"name": "Anna Smirnova", "devices": ["Local/201@agents"], "lines": ["support", "second"]},
    "boris": {"name": "Boris Ivanov", "devices": ["Local/202@agents"], "lines": ["support", "second"]},
    "vera": {"name": "Vera Kozlova", "devices": ["Local/203@agents"], "lines": ["sales", "second"]},
}

R, A, E, D = "ringing", "answered", "ended", "dismissed"

# capture -> (caller as the PBX gives it, {agent: events}, outcome, agents who answered in order)
SCENARIOS: dict[str, tuple[str, dict[str, list[str]], str, list[str]]] = {
    "answered_agent_hangs_up": ("84951234567", {"anna": [R, A, E], "boris": [R, D]}, "answered", ["anna"]),
    "answered_caller_hangs_up": ("+79161234567", {"boris": [R, A, E]}, "answered", ["boris"]),
    "no_answer_then_next_agent": ("84957654321", {"anna": [R, D], "boris": [R, A, E]}, "answered", ["boris"]),
    "no_answer_then_abandon": ("+79161234567", {"boris": [R, D]}, "missed_abandoned_in_queue", []),
    "ringall_one_answers": ("+74959876543", {"anna": [R, D], "boris": [R, D], "vera": [R, A, E]}, "answered",
                            ["vera"]),
    "abandon_while_ringing": ("89031112233", {"anna": [R, D]}, "missed_abandoned_while_ringing", []),
    "abandon_during_greeting": ("84991234567", {}, "missed_abandoned_in_greeting", []),
    "withheld_number": ("anonymous", {"anna": [R, A, E], "boris": [R, D]}, "answered", ["anna"]),
    "decline_then_next_agent": ("84956667788", {"anna": [R, D, R, A, E], "boris": [R, D]}, "answered", ["anna"]),
    "blind_transfer": ("84955556677", {"anna": [R, A, E], "boris": [R, A, E]}, "answered", ["anna", "boris"]),
    "dialplan_lookup": ("84951234567", {"anna": [R, A, E]}, "answered", ["anna"]),
}
