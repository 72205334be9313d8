"""Which AMI events the listener asks Asterisk for, derived from the code that reads them: the one place.

Most of what a PBX sends per call (``Newstate``, ``VarSet``, ``Newexten``, bridge and connected-line events, RTCP)
is read by nothing here. Asterisk filters server-side, per session, before it writes an event: the ``Filter``
action (needs the ``system`` write class, which the shipped AMI user does not have) or ``eventfilter`` lines of
the user's ``manager.conf`` section (``asterisk/conf/manager_callercard.conf`` ships them). Both take the same
regular expression, matched (POSIX extended, unanchored) against the event's whole text, which Asterisk always
begins with ``Event: <name>\\r\\n``.

The list is every ``_on_<event>`` handler of the call flow (``asterisk.events.AmiCallFlow``, looked up by the
event's lower-cased name), the line board's and the wallboard's events (``OBSERVED_EVENTS`` of
``callercard.lines.board`` and ``callercard.wallboard.board``) and ``Shutdown`` (panoramisk ends the session on
it): whoever reads events in the listener (``asterisk.listener.AmiEvents.on_event``) is listed here. Handlers are
named in lower case, Asterisk's names are not (and its regex is case-sensitive): ``ASTERISK_SPELLING`` gives each
name as Asterisk writes it, and a handler without an entry there is an error at import, not a silently
filtered event. What else needs events is not filtered by this: action answers (``CoreShowChannels``'s
``CoreShowChannel``, ``QueueStatus``'s entries) are written to the asking session directly, never through the
filter (manager.c applies ``should_send_event`` to queued events only).
"""

from __future__ import annotations

from asterisk.events import AmiCallFlow
from callercard.lines.board import OBSERVED_EVENTS as LINE_BOARD_EVENTS
from callercard.wallboard.board import OBSERVED_EVENTS as WALLBOARD_EVENTS

_HANDLER_PREFIX = "_on_"
# Asterisk's spelling of the events the call flow has handlers for (as tests/captures record them).
ASTERISK_SPELLING = {name.lower(): name for name in (
    "Newchannel", "Hangup", "HangupRequest", "SoftHangupRequest", "QueueCallerJoin", "QueueCallerAbandon",
    "AgentCalled", "AgentRingNoAnswer", "AgentConnect", "DialBegin", "DialEnd", "BlindTransfer",
    "AttendedTransfer")}


class UnspelledHandler(Exception):
    """A call-flow handler whose event has no entry in ``ASTERISK_SPELLING``: its events would be filtered out."""


def call_flow_events(flow_class: type = AmiCallFlow) -> frozenset[str]:
    """The events ``flow_class`` has an ``_on_<event>`` handler for, spelled as Asterisk sends them."""
    handled = {name.removeprefix(_HANDLER_PREFIX) for name in dir(flow_class) if name.startswith(_HANDLER_PREFIX)}
    unspelled = sorted(handled - ASTERISK_SPELLING.keys())
    if unspelled:
        raise UnspelledHandler(f"handlers without Asterisk's spelling in asterisk.event_filter.ASTERISK_SPELLING: "
                               f"{', '.join(unspelled)}")
    return frozenset(ASTERISK_SPELLING[name] for name in handled)


# Read by the link itself: panoramisk ends the session on Asterisk's Shutdown.
LINK_EVENTS = frozenset({"Shutdown"})
# Read without a handler: the call flow looks the caller up from the first event of a caller channel that carries
# a number (``AmiCallFlow.handle``). Where the dialplan sets the caller ID (``Set(CALLERID(num)=…)``, a Local
# channel's first leg, as in tests/captures/ringall_one_answers) ``Newchannel`` says ``<unknown>`` and only
# ``NewCallerid`` carries the number during the greeting: without it the lookup waited for the queue.
CALLER_ID_EVENTS = frozenset({"NewCallerid"})
LISTENER_EVENTS: frozenset[str] = (call_flow_events() | CALLER_ID_EVENTS | LINE_BOARD_EVENTS | WALLBOARD_EVENTS
                                   | LINK_EVENTS)


def filter_regex(events: frozenset[str] = LISTENER_EVENTS) -> str:
    """One include filter for ``events``: the name and then the line's end, so ``Hangup`` never admits
    ``HangupHandlerRun``. Only what POSIX extended and Python's ``re`` read alike (the simulator uses ``re``)."""
    return f"^Event: ({'|'.join(sorted(events))})[^A-Za-z]"


def filter_action(events: frozenset[str] = LISTENER_EVENTS) -> dict[str, str]:
    """The ``Filter`` action the listener sends after each login."""
    return {"Action": "Filter", "Operation": "Add", "Filter": filter_regex(events)}


def manager_conf_line(events: frozenset[str] = LISTENER_EVENTS) -> str:
    """The same filter as a ``manager.conf`` user option (the shipped snippet carries it; a unit test compares)."""
    return f"eventfilter = {filter_regex(events)}"
