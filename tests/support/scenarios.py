"""What the captures README says each agent must see, per capture, and how each call is logged.

Every scenario names each agent's card events in full (event and reason; every event carries the call's card,
whose kind and display name are the scenario's ``card``) and the record's fields (outcome, who answered, each
agent's leg results in the order they were rung, transfers, direction). The same expectations hold for the
recording replayed (unit and integration tests) and for the call made again on the live PBX (``tests/live``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

DEMO_AGENTS = {
    "anna": {"name": "Anna Smirnova", "devices": ["Local/201@agents", "PJSIP/201"], "lines": ["support", "second"]},
    "boris": {"name": "Boris Ivanov", "devices": ["Local/202@agents", "PJSIP/202"], "lines": ["support", "second"]},
    "vera": {"name": "Vera Kozlova", "devices": ["Local/203@agents", "PJSIP/203"], "lines": ["sales", "second"]},
}

Event = tuple[str, str | None]  # (event, reason)
RINGING: Event = ("ringing", None)
ANSWERED: Event = ("answered", None)
ENDED: Event = ("ended", "hangup")
TRANSFERRED: Event = ("ended", "transferred")
NO_ANSWER: Event = ("dismissed", "no_answer")
DECLINED: Event = ("dismissed", "declined")
ELSEWHERE: Event = ("dismissed", "answered_elsewhere")
CALLER_GONE: Event = ("dismissed", "caller_hung_up")


@dataclass(frozen=True)
class Scenario:
    caller: str  # the number as the PBX gives it
    card: tuple[str, str] | None  # (kind, display name) of the card on every event; None: no agent sees the call
    events: dict[str, list[Event]]  # agent -> every card event they get, in order
    outcome: str
    answered_by: list[str] = field(default_factory=list)
    legs: list[tuple[str, str]] = field(default_factory=list)  # (agent, result), in the order they were rung
    transfers: int = 0
    direction: str = "inbound"
    queues: list[str] = field(default_factory=list)

    @property
    def event_names(self) -> dict[str, list[str]]:
        """Each agent's events by name only: for tests about delivery (faults), not about the flow."""
        return {agent: [event for event, _ in events] for agent, events in self.events.items()}


# capture -> what must happen. Names on cards come from callercard/demo/customers.csv.
SCENARIOS: dict[str, Scenario] = {
    "answered_agent_hangs_up": Scenario(
        "84951234567", ("known", "Ivan Petrov"), {"anna": [RINGING, ANSWERED, ENDED], "boris": [RINGING, NO_ANSWER]},
        "answered", ["anna"], [("boris", "no_answer"), ("anna", "answered")], queues=["support"]),
    "answered_caller_hangs_up": Scenario(
        "+79161234567", ("known", "Maria Sokolova"), {"boris": [RINGING, ANSWERED, ENDED]},
        "answered", ["boris"], [("boris", "answered")], queues=["support"]),
    "no_answer_then_next_agent": Scenario(
        "84957654321", ("known", "Dmitry Volkov"), {"anna": [RINGING, NO_ANSWER], "boris": [RINGING, ANSWERED, ENDED]},
        "answered", ["boris"], [("anna", "no_answer"), ("boris", "answered")], queues=["support"]),
    "no_answer_then_abandon": Scenario(
        "+79161234567", ("known", "Maria Sokolova"), {"boris": [RINGING, NO_ANSWER]},
        "missed_abandoned_in_queue", [], [("boris", "no_answer")], queues=["support"]),
    "ringall_one_answers": Scenario(
        "+74959876543", ("known", "Elena Morozova"),
        {"anna": [RINGING, ELSEWHERE], "boris": [RINGING, ELSEWHERE], "vera": [RINGING, ANSWERED, ENDED]},
        "answered", ["vera"], [("anna", "answered_elsewhere"), ("boris", "answered_elsewhere"), ("vera", "answered")],
        queues=["sales"]),
    "abandon_while_ringing": Scenario(
        "89031112233", ("known", "Alexey Smirnov + Alexandra Smirnova"), {"anna": [RINGING, CALLER_GONE]},
        "missed_abandoned_while_ringing", [], [("anna", "caller_hung_up")], queues=["support"]),
    "abandon_during_greeting": Scenario("84991234567", None, {}, "missed_abandoned_in_greeting"),
    "withheld_number": Scenario(
        "anonymous", ("withheld", "Number withheld"),
        {"anna": [RINGING, ANSWERED, ENDED], "boris": [RINGING, NO_ANSWER]},
        "answered", ["anna"], [("boris", "no_answer"), ("anna", "answered")], queues=["support"]),
    "decline_then_next_agent": Scenario(
        "84956667788", ("known", "Natalia Popova"),
        {"anna": [RINGING, NO_ANSWER, RINGING, ANSWERED, ENDED], "boris": [RINGING, DECLINED]},
        "answered", ["anna"], [("boris", "declined"), ("anna", "no_answer"), ("anna", "answered")],
        queues=["support"]),
    "blind_transfer": Scenario(
        "84955556677", ("known", "Pavel Lebedev"),
        {"anna": [RINGING, ANSWERED, TRANSFERRED], "boris": [RINGING, ANSWERED, ENDED]},
        "answered", ["anna", "boris"], [("anna", "transferred"), ("boris", "answered")], transfers=1,
        queues=["support"]),
    "dialplan_lookup": Scenario(
        "84951234567", ("known", "Ivan Petrov"), {"anna": [RINGING, ANSWERED, ENDED]},
        "answered", ["anna"], [("anna", "answered")], queues=["support"]),
    # Recorded on the PJSIP test PBX (tests/captures/asterisk-conf-pjsip/), and made again by tests/live.
    "pjsip_answered": Scenario(
        "+79161234567", ("known", "Maria Sokolova"), {"boris": [RINGING, ANSWERED, ENDED]},
        "answered", ["boris"], [("boris", "answered")], queues=["support"]),
    "pjsip_no_answer_then_next_agent": Scenario(
        "84957654321", ("known", "Dmitry Volkov"), {"anna": [RINGING, NO_ANSWER], "boris": [RINGING, ANSWERED, ENDED]},
        "answered", ["boris"], [("anna", "no_answer"), ("boris", "answered")], queues=["support"]),
    "pjsip_ringall_one_answers": Scenario(
        "+74959876543", ("known", "Elena Morozova"),
        {"anna": [RINGING, ELSEWHERE], "boris": [RINGING, ELSEWHERE], "vera": [RINGING, ANSWERED, ENDED]},
        "answered", ["vera"], [("anna", "answered_elsewhere"), ("boris", "answered_elsewhere"), ("vera", "answered")],
        queues=["sales"]),
    "pjsip_decline_486": Scenario(
        "84956667788", ("known", "Natalia Popova"), {"boris": [RINGING, DECLINED], "anna": [RINGING, ANSWERED, ENDED]},
        "answered", ["anna"], [("boris", "declined"), ("anna", "answered")], queues=["support"]),
    "pjsip_decline_603": Scenario(
        "84956667788", ("known", "Natalia Popova"), {"boris": [RINGING, DECLINED], "anna": [RINGING, ANSWERED, ENDED]},
        "answered", ["anna"], [("boris", "declined"), ("anna", "answered")], queues=["support"]),
    "pjsip_decline_button": Scenario(
        "84956667788", ("known", "Natalia Popova"), {"boris": [RINGING, DECLINED], "anna": [RINGING, ANSWERED, ENDED]},
        "answered", ["anna"], [("boris", "declined"), ("anna", "answered")], queues=["support"]),
    "blind_transfer_to_queue": Scenario(
        "84955556677", ("known", "Pavel Lebedev"),
        {"anna": [RINGING, ANSWERED, TRANSFERRED], "vera": [RINGING, ANSWERED, ENDED]},
        "answered", ["anna", "vera"], [("anna", "transferred"), ("vera", "answered")], transfers=1,
        queues=["support", "night"]),
    "attended_transfer": Scenario(
        "84951234567", ("known", "Ivan Petrov"),
        {"anna": [RINGING, ANSWERED, TRANSFERRED], "vera": [RINGING, ANSWERED, ENDED]},
        "answered", ["anna", "vera"], [("anna", "transferred"), ("vera", "answered")], transfers=1,
        queues=["support"]),
    "agent_to_agent_call": Scenario(
        "201", ("internal", "Anna Smirnova"), {"boris": [RINGING, ANSWERED, ENDED]},
        "answered", ["boris"], [("boris", "answered")], direction="internal"),
    "did_direct_to_phone": Scenario(
        "84957654321", ("known", "Dmitry Volkov"), {"anna": [RINGING, ANSWERED, ENDED]},
        "answered", ["anna"], [("anna", "answered")]),
    "ring_group_one_answers": Scenario(
        "89031112233", ("known", "Alexey Smirnov + Alexandra Smirnova"),
        {"anna": [RINGING, ELSEWHERE], "boris": [RINGING, ANSWERED, ENDED]},
        "answered", ["boris"], [("anna", "answered_elsewhere"), ("boris", "answered")]),
    "queue_timeout_continues": Scenario(
        "84991234567", ("known", "Sergey Kuznetsov"), {"vera": [RINGING, NO_ANSWER]},
        "missed_unanswered", [], [("vera", "no_answer")], queues=["night"]),
    "abandon_in_queue_nobody_free": Scenario(
        "+79161234567", None, {}, "missed_abandoned_in_queue", queues=["second"]),
}
