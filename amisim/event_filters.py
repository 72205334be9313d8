"""A session's event filters, applied as Asterisk 22's manager.c applies them (``should_send_event``).

Filters come from the ``Filter`` action (``Operation: Add``) or the user's ``eventfilter`` lines in manager.conf.
A filter is a regular expression searched (unanchored) in the event's whole text, ``Event: …\\r\\n…``; one
starting with ``!`` excludes. No filters: every event. Include filters only: an event that matches one of
them. Exclude filters only: an event that matches none. Both: an event that matches an include filter and no
exclude filter. Asterisk compiles POSIX extended expressions; here they are Python's ``re``, which reads the
common subset alike (literal text, ``^``, ``|``, groups, bracket lists without ``[:class:]``). The newer
``MatchCriteria`` form (``name()``, ``header()``, ``method()``) is not simulated and is answered with an error.
"""

from __future__ import annotations

import re

FORMAT_ERROR = "Filter was formatted incorrectly.  Check the syntax of the filter given."
COMPILE_ERROR = "Filter did not compile.  Check the syntax of the filter given."


class FilterError(ValueError):
    """A filter Asterisk would refuse; the message is the one its Filter action answers."""


class EventFilters:
    def __init__(self, patterns: tuple[str, ...] | list[str] = ()) -> None:
        self._include: list[re.Pattern[str]] = []
        self._exclude: list[re.Pattern[str]] = []
        for pattern in patterns:
            self.add(pattern)

    def add(self, pattern: str) -> None:
        """Add one filter (``!regex`` excludes); raises ``FilterError`` as Asterisk refuses one."""
        exclude = pattern.startswith("!")
        body = pattern[1:] if exclude else pattern
        if not body:
            raise FilterError(FORMAT_ERROR)
        try:
            compiled = re.compile(body)
        except re.error as error:
            raise FilterError(COMPILE_ERROR) from error
        (self._exclude if exclude else self._include).append(compiled)

    @property
    def active(self) -> bool:
        return bool(self._include or self._exclude)

    def admits(self, text: str) -> bool:
        """Whether an event with this text is sent to the session."""
        if self._include and not any(pattern.search(text) for pattern in self._include):
            return False
        return not any(pattern.search(text) for pattern in self._exclude)
