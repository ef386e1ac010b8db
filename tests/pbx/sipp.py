"""SIPp scenarios for the real-Asterisk tier: agents' phones (UAS), callers (UAC), REGISTER.

SIPp 3.6 takes no variables in ``timeout=`` and an optional ``<recv>`` may not precede a
``<pause>``, so each phone and each caller gets its own copy of a scenario with its times
written in. Waits that a SIP message can cut short (a CANCEL while ringing, a BYE while
talking) are ``<recv timeout=... ontimeout=label>``, never pauses.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import shutil
import socket
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape

SIPP = "sipp"
FOREVER_MS = 3_600_000

# Headers of a request the phone sends inside the dialog the INVITE opened (BYE, INFO).
_IN_DIALOG = """Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: [$invite_to];tag=[pid]SIPpTag01[call_number]
To: [$invite_from]
Call-ID: [$invite_callid]
Max-Forwards: 70
Contact: <sip:[service]@[local_ip]:[local_port]>"""

_SDP = """v=0
o=phone 53655765 2353687637 IN IP[local_ip_type] [local_ip]
s=-
c=IN IP[media_ip_type] [media_ip]
t=0 0
m=audio [media_port] RTP/AVP 0 101
a=rtpmap:0 PCMU/8000
a=rtpmap:101 telephone-event/8000
a=fmtp:101 0-16
a=sendrecv"""


def _reply(status: str, *, sdp: bool = False, cseq: str = "[last_CSeq:]") -> str:
    body = (
        f"Content-Type: application/sdp\nContent-Length: [len]\n\n{_SDP}"
        if sdp
        else ("Content-Length: 0")
    )
    return f"""<send><![CDATA[
SIP/2.0 {status}
[last_Via:]
[last_From:]
[last_To:];tag=[pid]SIPpTag01[call_number]
[last_Call-ID:]
{cseq}
Contact: <sip:[service]@[local_ip]:[local_port]>
{body}

]]></send>"""


def _request(method: str, cseq: int, body: str = "", content_type: str = "") -> str:
    extra = (
        f"Content-Type: {content_type}\nContent-Length: [len]\n\n{body}"
        if body
        else ("Content-Length: 0\n")
    )
    return f"""<send retrans="500"><![CDATA[
{method} [$invite_contact] SIP/2.0
{_IN_DIALOG}
CSeq: {cseq} {method}
{extra}
]]></send>
<recv response="200"/>"""


def _dtmf(digit: str, cseq: int) -> str:
    return _request("INFO", cseq, f"Signal={digit}\nDuration=160\n", "application/dtmf-relay")


_CAPTURE = """<action>
  <ereg regexp=".*" search_in="hdr" header="From:" check_it="true" assign_to="invite_from"/>
  <ereg regexp="^[^;]*" search_in="hdr" header="To:" check_it="true" assign_to="invite_to"/>
  <ereg regexp=".*" search_in="hdr" header="Call-ID:" check_it="true" assign_to="invite_callid"/>
  <ereg regexp="sip:[^&gt;;]*" search_in="hdr" header="Contact:" check_it="true"
        assign_to="invite_contact"/>
</action>"""


@dataclass(frozen=True, slots=True)
class PhoneScript:
    """What an agent's phone does with each INVITE (times in seconds)."""

    answer_after: float = 1.0
    talk_for: float = 3.0
    answers: bool = True
    busy: bool = False
    escalate_after: float | None = None  # key *0 (SIP INFO) this long after answering


def phone_scenario(script: PhoneScript) -> str:
    """A UAS scenario: ring, then answer (or not), talk, hang up (or key *0 first)."""
    if script.busy:
        # SIPp refuses a scenario that captures a variable it never uses: no _CAPTURE here.
        steps = f"""<recv request="INVITE"/>
{_reply("486 Busy Here")}
<recv request="ACK"/>"""
    else:
        answer_ms = int(script.answer_after * 1000) if script.answers else FOREVER_MS
        talk_ms = int(script.talk_for * 1000)
        if script.escalate_after is not None:
            talking = f"""<recv request="BYE" timeout="{int(script.escalate_after * 1000)}"
      ontimeout="escalate" next="bye_received"/>
<label id="escalate"/>
{_dtmf("*", 1)}
{_dtmf("0", 2)}
<recv request="BYE"/>"""
        else:
            talking = f"""<recv request="BYE" timeout="{talk_ms}" ontimeout="hang_up"
      next="bye_received"/>
<label id="hang_up"/>
{_request("BYE", 1)}
<nop next="end"/>"""
        steps = f"""<recv request="INVITE">{_CAPTURE}</recv>
{_reply("100 Trying")}
{_reply("180 Ringing")}
<recv request="CANCEL" timeout="{max(1, answer_ms)}" ontimeout="answer"/>
{_reply("200 OK")}
{_reply("487 Request Terminated", cseq="CSeq: [last_cseq_number] INVITE")}
<recv request="ACK" next="end"/>
<label id="answer"/>
{_reply("200 OK", sdp=True)}
<recv request="ACK"/>
{talking}
<label id="bye_received"/>
{_reply("200 OK")}
<label id="end"/>"""
    return _scenario("acd agent phone", steps)


def caller_scenario(
    *, name: str, number: str, headers: dict[str, str], patience: float | None, target: str = "acd"
) -> str:
    """A UAC scenario: call ``target``, stay until Asterisk hangs up or ``patience`` runs out
    (counted from the answer: acd-inbound answers at once)."""
    extra = "".join(f"{key}: {value}\n" for key, value in headers.items())
    display = name.replace("\\", "\\\\").replace('"', '\\"')
    wait_ms = FOREVER_MS if patience is None else max(1, int(patience * 1000))

    def in_dialog(method: str, cseq: int, retrans: str) -> str:
        """A request of the caller's own inside the dialog its INVITE opened."""
        return f"""<send{retrans}><![CDATA[
{method} [next_url] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: "{display}" <sip:{number}@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
[last_To:]
Call-ID: [call_id]
CSeq: {cseq} {method}
Max-Forwards: 70
Content-Length: 0

]]></send>"""

    steps = f"""<send retrans="500"><![CDATA[
INVITE sip:{target}@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: "{display}" <sip:{number}@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
To: <sip:{target}@[remote_ip]:[remote_port]>
Call-ID: [call_id]
CSeq: 1 INVITE
Contact: <sip:{number}@[local_ip]:[local_port]>
Max-Forwards: 70
{extra}Content-Type: application/sdp
Content-Length: [len]

{_SDP}
]]></send>
<recv response="100" optional="true"/>
<recv response="180" optional="true"/>
<recv response="183" optional="true"/>
<recv response="200" rrs="true"/>
{in_dialog("ACK", 1, "")}
<recv request="BYE" timeout="{wait_ms}" ontimeout="hang_up" next="bye_received"/>
<label id="hang_up"/>
{in_dialog("BYE", 2, ' retrans="500"')}
<recv response="200" next="end"/>
<label id="bye_received"/>
{_reply("200 OK")}
<label id="end"/>"""
    return _scenario("acd caller", steps)


def register_scenario(user: str, password: str, contact_port: int, expires: int) -> str:
    """REGISTER ``user`` (digest auth) with a Contact at the phone's own port; ``expires`` 0
    removes every contact of the user."""
    contact = "*" if expires == 0 else f"<sip:{user}@[local_ip]:{contact_port}>"
    request = f"""
REGISTER sip:[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: <sip:{user}@[remote_ip]>;tag=[pid]SIPpTag00[call_number]
To: <sip:{user}@[remote_ip]>
Call-ID: [call_id]
CSeq: [cseq] REGISTER
Contact: {contact}
Expires: {expires}
Max-Forwards: 70
"""
    steps = f"""<send retrans="500"><![CDATA[{request}Content-Length: 0

]]></send>
<recv response="401" auth="true"/>
<send retrans="500"><![CDATA[{request}[authentication username={user} password={password}]
Content-Length: 0

]]></send>
<recv response="200"/>"""
    return _scenario("acd phone registration", steps)


def _scenario(name: str, steps: str) -> str:
    return f"""<?xml version="1.0" encoding="UTF-8" ?>
<scenario name="{escape(name)}">
{steps}
</scenario>
"""


# --- ports and processes -------------------------------------------------------------------------

_taken: set[int] = set()
_rng = random.Random()


def free_udp_port(span: int = 1) -> int:
    """A UDP port p such that p .. p+span are free now and not handed out before."""
    for _ in itertools.count():
        port = _rng.randrange(20000, 59000, 4)
        if any(p in _taken for p in range(port, port + span + 1)):
            continue
        try:
            for p in range(port, port + span + 1):
                with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
                    probe.bind(("127.0.0.1", p))
        except OSError:
            continue
        _taken.update(range(port, port + span + 1))
        return port
    raise AssertionError("unreachable")


def sipp_available() -> bool:
    return shutil.which(SIPP) is not None


class Sipp:
    """One SIPp process running one scenario file against Asterisk's SIP port."""

    def __init__(
        self,
        directory: Path,
        label: str,
        scenario: str,
        sip_port: int,
        *,
        uas: bool = False,
        service: str = "",
        calls: int | None = 1,
    ) -> None:
        self.directory = directory
        self.label = label
        self.file = directory / f"{label}.xml"
        self.file.write_text(scenario, encoding="utf-8")
        self.sip_port = sip_port
        self.uas = uas
        self.service = service
        self.calls = calls
        self.local_port = free_udp_port()
        self.media_port = free_udp_port(span=3)  # SIPp's audio port and video at +2
        self.process: asyncio.subprocess.Process | None = None

    def _args(self) -> list[str]:
        args = [
            "-sf",
            str(self.file),
            "-i",
            "127.0.0.1",
            "-p",
            str(self.local_port),
            "-mp",
            str(self.media_port),
            "-nostdin",
            "-trace_err",
            "-trace_msg",
            "-error_file",
            str(self.directory / f"{self.label}.errors.log"),
        ]
        if self.uas:
            args += ["-aa"]  # answers OPTIONS, INFO, NOTIFY and UPDATE by itself
        else:
            args += [f"127.0.0.1:{self.sip_port}", "-s", self.service or "acd"]
        if self.calls is not None:
            args += ["-m", str(self.calls)]
        return args

    async def start(self) -> None:
        self.process = await asyncio.create_subprocess_exec(
            SIPP,
            *self._args(),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
            cwd=self.directory,
        )

    async def run(self, timeout: float) -> int:
        """Start, and wait for the scenario to finish; SIPp's exit code (0: all calls passed)."""
        await self.start()
        assert self.process is not None
        return await asyncio.wait_for(self.process.wait(), timeout)

    async def stop(self) -> None:
        process, self.process = self.process, None
        if process is None or process.returncode is not None:
            return
        process.kill()
        await process.wait()
