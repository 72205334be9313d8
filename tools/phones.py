"""Agents' desk phones played by SIPp (Debian's ``sip-tester``): each phone a SIPp process on its own loopback
port, which the test PBX's PJSIP endpoint reaches through a static contact (``tests/live/pbx/pjsip.conf``).

A phone is given what to do with each call it gets, in turn (``Answer``, ``Decline``, ``NoAnswer``), or told to
place one (``Dial``); every call is one SIPp run of a scenario written for it (``-m 1``), so successive calls
to one phone can behave differently. SIPp's own logs go to ``log_dir``.
"""

from __future__ import annotations

import shutil
import subprocess
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

_HEAD = '<?xml version="1.0" encoding="ISO-8859-1" ?>\n<scenario name="{name}">\n'
_SDP = """v=0
o=phone 1 1 IN IP[local_ip_type] [local_ip]
s=-
c=IN IP[media_ip_type] [media_ip]
t=0 0
m=audio [media_port] RTP/AVP 0
a=rtpmap:0 PCMU/8000
"""
# Remember the INVITE's headers: the answers to a CANCEL and our own BYE need them.
# SIPp refuses a variable that is set and never used: the dialog's headers only where our own BYE is sent.
_KEEP_CSEQ = '      <ereg regexp=".*" search_in="hdr" header="CSeq:" assign_to="invite_cseq"/>\n'
_KEEP_DIALOG = """      <ereg regexp=".*" search_in="hdr" header="From:" assign_to="invite_from"/>
      <ereg regexp=".*" search_in="hdr" header="To:" assign_to="invite_to"/>
      <ereg regexp="sip:[^&gt;]*" search_in="hdr" header="Contact:" assign_to="contact_uri"/>
"""
_RECEIVE_INVITE = """  <recv request="INVITE" crlf="true">
    <action>
{keep}    </action>
  </recv>
  <send><![CDATA[
SIP/2.0 180 Ringing
[last_Via:]
[last_From:]
[last_To:];tag=[pid]phone[call_number]
[last_Call-ID:]
[last_CSeq:]
Contact: <sip:[local_ip]:[local_port];transport=[transport]>
Content-Length: 0

]]></send>
"""
# Rung until the PBX gives up: 200 to its CANCEL, 487 to the INVITE.
_CANCELLED = """  <label id="cancelled"/>
  <send><![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:];tag=[pid]phone[call_number]
[last_Call-ID:]
[last_CSeq:]
Content-Length: 0

]]></send>
  <send><![CDATA[
SIP/2.0 487 Request Terminated
[last_Via:]
[last_From:]
[last_To:];tag=[pid]phone[call_number]
[last_Call-ID:]
CSeq:[$invite_cseq]
Content-Length: 0

]]></send>
  <recv request="ACK" next="end"/>
"""
_ANSWER = """  <label id="answer"/>
  <send retrans="500"><![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:];tag=[pid]phone[call_number]
[last_Call-ID:]
[last_CSeq:]
Contact: <sip:[local_ip]:[local_port];transport=[transport]>
Content-Type: application/sdp
Content-Length: [len]

""" + _SDP + """
]]></send>
  <recv request="ACK" crlf="true"/>
"""
# Talking: the PBX's BYE, or ours after ``talk`` ms.
_TALK = """  <recv request="BYE" {timeout}/>
  <send><![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:]
[last_Call-ID:]
[last_CSeq:]
Content-Length: 0

]]></send>
  <nop next="end"/>
  <label id="hangup"/>
  <send retrans="500"><![CDATA[
BYE [$contact_uri] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From:[$invite_to];tag=[pid]phone[call_number]
To:[$invite_from]
Call-ID: [call_id]
CSeq: 1 BYE
Max-Forwards: 70
Content-Length: 0

]]></send>
  <recv response="200"/>
"""
_END = '  <label id="end"/>\n</scenario>\n'


@dataclass(frozen=True, slots=True)
class Answer:
    """Ring ``after`` seconds, answer; hang up after ``talk`` seconds (None: when the PBX hangs up)."""

    after: float = 1.0
    talk: float | None = None


@dataclass(frozen=True, slots=True)
class Decline:
    """Ring ``after`` seconds, then refuse the call with ``code`` (486 Busy Here, 603 Decline)."""

    after: float = 1.0
    code: int = 486


@dataclass(frozen=True, slots=True)
class NoAnswer:
    """Ring until the PBX gives up (CANCEL)."""


Behaviour = Answer | Decline | NoAnswer

_REASONS = {486: "Busy Here", 603: "Decline"}


def uas_scenario(behaviour: Behaviour) -> str:
    """The SIPp scenario of one incoming call."""
    talks = isinstance(behaviour, Answer)
    xml = _HEAD.format(name=type(behaviour).__name__.lower()) + _RECEIVE_INVITE.format(
        keep=_KEEP_CSEQ + (_KEEP_DIALOG if talks else ""))
    if isinstance(behaviour, NoAnswer):
        return xml + '  <recv request="CANCEL"/>\n' + _CANCELLED + _END
    ms = int(behaviour.after * 1000)
    then = "answer" if talks else "refuse"
    xml += f'  <recv request="CANCEL" timeout="{ms}" ontimeout="{then}" next="cancelled"/>\n' + _CANCELLED
    if isinstance(behaviour, Decline):
        return xml + f"""  <label id="refuse"/>
  <send><![CDATA[
SIP/2.0 {behaviour.code} {_REASONS.get(behaviour.code, "Refused")}
[last_Via:]
[last_From:]
[last_To:];tag=[pid]phone[call_number]
[last_Call-ID:]
[last_CSeq:]
Content-Length: 0

]]></send>
  <recv request="ACK"/>
""" + _END
    timeout = f'timeout="{int(behaviour.talk * 1000)}" ontimeout="hangup"' if behaviour.talk is not None \
        else 'timeout="600000" ontimeout="hangup"'
    return xml + _ANSWER + _TALK.format(timeout=timeout) + _END


def uac_scenario(*, caller: str, extension: str, talk: float) -> str:
    """The SIPp scenario of a call this phone places to ``extension``, hung up after ``talk`` seconds."""
    return _HEAD.format(name="dial") + f"""  <send retrans="500"><![CDATA[
INVITE sip:{extension}@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: <sip:{caller}@[local_ip]:[local_port]>;tag=[pid]phone[call_number]
To: <sip:{extension}@[remote_ip]:[remote_port]>
Call-ID: [call_id]
CSeq: 1 INVITE
Contact: <sip:{caller}@[local_ip]:[local_port]>
Max-Forwards: 70
Content-Type: application/sdp
Content-Length: [len]

""" + _SDP + f"""
]]></send>
  <recv response="100" optional="true"/>
  <recv response="180" optional="true"/>
  <recv response="183" optional="true"/>
  <recv response="200" rtd="true"/>
  <send><![CDATA[
ACK sip:{extension}@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: <sip:{caller}@[local_ip]:[local_port]>;tag=[pid]phone[call_number]
[last_To:]
Call-ID: [call_id]
CSeq: 1 ACK
Max-Forwards: 70
Content-Length: 0

]]></send>
  <recv request="BYE" timeout="{int(talk * 1000)}" ontimeout="hangup"/>
  <send><![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:]
[last_Call-ID:]
[last_CSeq:]
Content-Length: 0

]]></send>
  <nop next="end"/>
  <label id="hangup"/>
  <send retrans="500"><![CDATA[
BYE sip:{extension}@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: <sip:{caller}@[local_ip]:[local_port]>;tag=[pid]phone[call_number]
[last_To:]
Call-ID: [call_id]
CSeq: 2 BYE
Max-Forwards: 70
Content-Length: 0

]]></send>
  <recv response="200"/>
""" + _END


class Phone:
    """One desk phone (extension ``number``) on ``port``; ``serve`` / ``dial`` run in a background thread."""

    def __init__(self, *, number: str, port: int, pbx_sip_port: int, log_dir: Path) -> None:
        self.number = number
        self.port = port
        self.pbx_sip_port = pbx_sip_port
        self.log_dir = log_dir
        self.results: list[int] = []  # each SIPp run's exit status (0: the scenario went as written)
        self._thread: threading.Thread | None = None
        self._current: subprocess.Popen[bytes] | None = None
        self._stopped = False
        self._runs = 0

    def serve(self, calls: Sequence[Behaviour]) -> Phone:
        """Answer the next ``len(calls)`` calls to this phone, the n-th as ``calls[n]``."""
        return self._start([(uas_scenario(b), []) for b in calls])

    def dial(self, extension: str, *, talk: float) -> Phone:
        """Place one call to ``extension``, hung up after ``talk`` seconds unless the other side hangs up first."""
        return self._start([(uac_scenario(caller=self.number, extension=extension, talk=talk),
                             [f"127.0.0.1:{self.pbx_sip_port}"])])

    def _start(self, runs: list[tuple[str, list[str]]]) -> Phone:
        if shutil.which("sipp") is None:
            raise RuntimeError("sipp is not installed (Debian's sip-tester; scripts/asterisk.sh installs it)")
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self._thread = threading.Thread(target=self._run_all, args=(runs,), daemon=True)
        self._thread.start()
        return self

    def _run_all(self, runs: list[tuple[str, list[str]]]) -> None:
        for scenario, extra in runs:
            if self._stopped:
                return
            self._runs += 1
            name = f"phone{self.number}-{self._runs}"
            path = self.log_dir / f"{name}.xml"
            path.write_text(scenario)
            with (self.log_dir / f"{name}.log").open("wb") as log:
                self._current = subprocess.Popen(
                    ["sipp", "-sf", str(path), "-i", "127.0.0.1", "-p", str(self.port), "-m", "1", "-nostdin",
                     "-aa", "-timeout", "120", "-cp", str(self.port + 1000), "-trace_err",
                     "-error_file", str(self.log_dir / f"{name}.errors"), *extra],
                    stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=self.log_dir)
                self.results.append(self._current.wait())

    def ready(self, timeout: float = 5.0) -> None:
        """Wait until SIPp listens on the phone's port (a call placed earlier would find no phone)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            probe = subprocess.run(["ss", "-Hlun", f"sport = :{self.port}"], capture_output=True, text=True)
            if probe.stdout.strip():
                return
            time.sleep(0.05)
        raise TimeoutError(f"phone {self.number}: SIPp not listening on {self.port} after {timeout} s")

    def wait(self, timeout: float) -> list[int]:
        """Wait for every call given to finish; returns SIPp's exit statuses."""
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                raise TimeoutError(f"phone {self.number}: calls still going after {timeout} s")
        return self.results

    def stop(self) -> None:
        self._stopped = True
        if self._current is not None and self._current.poll() is None:
            self._current.terminate()
            try:
                self._current.wait(5)
            except subprocess.TimeoutExpired:
                self._current.kill()
        if self._thread is not None:
            self._thread.join(5)
