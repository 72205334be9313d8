"""Developer and test tooling that drives a real Asterisk: SIPp phones, PBX scenarios, the capture recorder.

Not part of the shipped packages (pyproject's package list leaves it out)."""
