"""amisim: a small AMI server that replays recorded Asterisk sessions, for the tests, the benchmarks and the demo.

A tool, not part of the product: the wheel does not ship it, and it may import the product (``asterisk``'s AMI
parser) while the product never imports it. After a client logs in, the simulator sends the capture's ``in``
messages that followed the recorded login, byte for byte, with the recorded spacing divided by ``speed``.
``OriginateResponse`` is replayed although it carries the recorder's ActionID: Asterisk broadcasts it to every
session, so a listener really sees it.

- ``amisim.capture``: the capture file, its entries and recorded answers
- ``amisim.cloning``: the same calls with fresh ids
- ``amisim.session``: one client connection, its login and the answers to its actions
- ``amisim.server``: ``AmiSimulator``, the server, and the fault controls the tests use
- ``python -m amisim``: the demo's PBX
"""

from amisim.capture import Capture, Entry, load_capture, recorded_responses
from amisim.cloning import FreshIds, clone_with_fresh_ids, fresh_ids
from amisim.server import AmiSimulator

__all__ = ["AmiSimulator", "Capture", "Entry", "FreshIds", "clone_with_fresh_ids", "fresh_ids", "load_capture",
           "recorded_responses"]
