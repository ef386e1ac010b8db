"""A private real Asterisk for the tests: found, configured in a temporary folder, started.

The configuration is the project's own: ``asterisk/manager.conf`` (the ``acd`` user with its
rights and event filters, only the port and the secret changed), ``extensions_acd.conf`` and
``features_acd.conf`` included as they are. Around them: PJSIP endpoints for the agents' SIPp
phones (REGISTER with digest auth), a caller "trunk" identified by address, and the IVR of
``asterisk/README.md`` (its three lines) that hands each caller to acd. Everything listens on
127.0.0.1 on free ports.
"""

from __future__ import annotations

import contextlib
import math
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import threading
import time
import wave
from dataclasses import dataclass
from pathlib import Path

from tests.pbx.sipp import free_udp_port, sipp_available

ROOT = Path(__file__).resolve().parents[2]
# Where `.ci/run` (and `make asterisk`) unpack ../shared/asterisk's bundle.
BUNDLE_PREFIX = ROOT / ".cache" / "asterisk" / "install"
INSTALL_HINT = (
    "install Asterisk 22 with chan_pjsip (set ACD_TEST_ASTERISK to its install "
    "prefix, or `make asterisk` with ../shared/asterisk beside the repo) and SIPp "
    "(Debian: apt-get install sip-tester)"
)
AMI_SECRET = "s3cret"
OBSERVER = ("observer", "observer-secret")
AGENT_IDS = tuple(f"{n}" for n in [*range(1001, 1013), *range(2001, 2005), 9001, 9002])


def agent_password(agent: str) -> str:
    return f"pw{agent}"


@dataclass(frozen=True, slots=True)
class Install:
    """An Asterisk binary and its modules."""

    binary: Path
    modules: Path

    @property
    def data(self) -> Path:
        """Its XML documentation lives here; Asterisk's core refuses to start without it."""
        return self.binary.parent.parent / "var" / "lib" / "asterisk"


def find_install() -> Install | str:
    """The Asterisk to test with, or the reason there is none."""
    candidates: list[Path] = []
    if env := os.environ.get("ACD_TEST_ASTERISK"):
        candidates.append(Path(env))
    candidates.append(BUNDLE_PREFIX)
    if found := shutil.which("asterisk"):
        candidates.append(Path(found).resolve().parent.parent)
    for prefix in candidates:
        binary = prefix / "sbin" / "asterisk"
        for modules in (
            prefix / "lib" / "asterisk" / "modules",
            prefix / "lib" / "x86_64-linux-gnu" / "asterisk" / "modules",
        ):
            if binary.exists() and (modules / "chan_pjsip.so").exists():
                if not sipp_available():
                    return "no SIPp on PATH: " + INSTALL_HINT
                return Install(binary, modules)
    return "no Asterisk with chan_pjsip found: " + INSTALL_HINT


def free_tcp_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# Modules that open ports or need services the tests do not have.
_NOLOAD = [
    "chan_iax2",
    "pbx_dundi",
    "chan_websocket",
    "chan_audiosocket",
    "res_audiosocket",
    "res_phoneprov",
    "res_pjsip_phoneprov_provider",
    "res_hep",
    "res_hep_pjsip",
    "res_hep_rtcp",
    "res_statsd",
    "res_calendar",
    "res_smdi",
    "res_stun_monitor",
    "res_pjsip_transport_websocket",
    "cdr_pgsql",
    "cel_pgsql",
    "res_config_pgsql",
    "res_websocket_client",
    "res_ari",
    "res_prometheus",
    "app_voicemail",
    "app_minivm",
    "res_config_curl",
    "res_pjsip_outbound_publish",
    "res_pjsip_publish_asterisk",
]


def inbound_context() -> str:
    """The context the operator's IVR hands callers to, as acd's dialplan names it."""
    text = (ROOT / "asterisk" / "extensions_acd.conf").read_text(encoding="utf-8")
    match = re.search(r"^\[(acd[^\]]*inbound)\]", text, re.MULTILINE)
    assert match, "extensions_acd.conf has no inbound context"
    return match.group(1)


def fallback_context() -> str:
    text = (ROOT / "asterisk" / "extensions_acd.conf").read_text(encoding="utf-8")
    match = re.search(r"^\[(acd[^\]]*fallback)\]", text, re.MULTILINE)
    assert match, "extensions_acd.conf has no fallback context"
    return match.group(1)


class AsteriskProcess:
    """One Asterisk in its own folder. start(), kill() and start() again keep the ports."""

    def __init__(
        self,
        install: Install,
        *,
        queues: str = "",
        dialplan: str = "",
        timestamp_events: bool = False,
    ) -> None:
        """``queues`` and ``dialplan`` are appended to queues.conf and extensions.conf (e.g. an
        app_queue queue to compare with); ``timestamp_events`` stamps every AMI event with
        Asterisk's own clock (a ``Timestamp`` header) for measurements."""
        self.install = install
        self.extra_queues, self.extra_dialplan = queues, dialplan
        self.timestamp_events = timestamp_events
        # Short: Asterisk's control socket path must fit in a sockaddr_un.
        self.directory = Path(tempfile.mkdtemp(prefix="acd-ast-"))
        self.ami_port = free_tcp_port()
        self.sip_port = free_udp_port()
        self.rtp_start = free_udp_port(span=400)  # all of rtp.conf's range: no SIPp there
        self.process: subprocess.Popen[bytes] | None = None
        self.log_lines: list[str] = []
        self._write_configuration()

    @property
    def conf(self) -> Path:
        return self.directory / "etc" / "asterisk.conf"

    def _write_configuration(self) -> None:
        etc = self.directory / "etc"
        for sub in ("etc", "lib", "run", "log", "spool", "agi", "moh", "sounds"):
            (self.directory / sub).mkdir(parents=True, exist_ok=True)
        d = self.directory
        (etc / "asterisk.conf").write_text(f"""[directories]
astetcdir => {etc}
astmoddir => {self.install.modules}
astvarlibdir => {d / "lib"}
astdbdir => {d / "lib"}
astkeydir => {d / "lib"}
astdatadir => {self.install.data}
astagidir => {d / "agi"}
astspooldir => {d / "spool"}
astrundir => {d / "run"}
astlogdir => {d / "log"}
astsbindir => {self.install.binary.parent}
[options]
nocolor = yes
verbose = 3
""")
        (etc / "modules.conf").write_text(
            "[modules]\nautoload = yes\npreload => pbx_config.so\n"
            + "".join(f"noload => {name}.so\n" for name in _NOLOAD)
        )
        (etc / "logger.conf").write_text(
            "[general]\n[logfiles]\nconsole => notice,warning,"
            "error,verbose\nmessages.log => notice,warning,error\n"
        )
        (etc / "manager.conf").write_text(self._manager_conf(), encoding="utf-8")
        (etc / "extensions.conf").write_text(self._extensions_conf(), encoding="utf-8")
        (etc / "features.conf").write_text(
            f"[general]\n#include {ROOT / 'asterisk' / 'features_acd.conf'}\n"
        )
        (etc / "pjsip.conf").write_text(self._pjsip_conf())
        (etc / "rtp.conf").write_text(
            f"[general]\nrtpstart = {self.rtp_start}\nrtpend = {self.rtp_start + 400}\n"
        )
        (etc / "musiconhold.conf").write_text(f"[default]\nmode = files\ndirectory = {d / 'moh'}\n")
        _write_tone(d / "moh" / "tone.wav")
        (etc / "queues.conf").write_text("[general]\n" + self.extra_queues)
        (etc / "cdr.conf").write_text("[general]\nenable = no\n")
        (etc / "cel.conf").write_text("[general]\nenable = no\n")

    def _manager_conf(self) -> str:
        text = (ROOT / "asterisk" / "manager.conf").read_text(encoding="utf-8")
        text, ports = re.subn(r"^port = 5038", f"port = {self.ami_port}", text, flags=re.M)
        text, secrets = re.subn(r"^secret = \S+", f"secret = {AMI_SECRET}", text, flags=re.M)
        assert ports == secrets == 1, "asterisk/manager.conf changed shape"
        if self.timestamp_events:
            text, stamped = re.subn(
                r"^enabled = yes", "enabled = yes\ntimestampevents = yes", text, count=1, flags=re.M
            )
            assert stamped == 1, "asterisk/manager.conf changed shape"
        user, secret = OBSERVER
        # The tests' own eyes: every event, no filters (acd's user keeps its own).
        return text + f"\n[{user}]\nsecret = {secret}\nread = all\nwrite = all\n"

    def _extensions_conf(self) -> str:
        inbound = inbound_context()
        return (
            f"""[general]
static = yes
writeprotect = yes

#include {ROOT / "asterisk" / "extensions_acd.conf"}

; The operator's IVR: the three lines of asterisk/README.md, with the values a test caller
; brings in SIP headers.
[from-callers]
exten => acd,1,Set(TEST_CALL=${{PJSIP_HEADER(read,X-Test-Call)}})
 same => n,Set(ACD_PRIORITY=${{PJSIP_HEADER(read,X-ACD-Priority)}})
 same => n,Set(ACD_ATTRS=${{PJSIP_HEADER(read,X-ACD-Attrs)}})
 same => n,Set(ACD_QUEUE=${{PJSIP_HEADER(read,X-ACD-Queue)}})
 same => n,Set(ACD_SKILLS=${{PJSIP_HEADER(read,X-ACD-Skills)}})
 same => n,Set(ACD_ANNOUNCE_EVERY=${{PJSIP_HEADER(read,X-ACD-Announce-Every)}})
 same => n,Goto({inbound},s,1)
; a private call straight to an agent's phone (not through acd)
exten => _[1-9]XXX,1,Set(TEST_CALL=${{PJSIP_HEADER(read,X-Test-Call)}})
 same => n,Dial(PJSIP/${{EXTEN}},30)
 same => n,Hangup()

[from-agents]
exten => _X.,1,Hangup(21)
"""
            + self.extra_dialplan
        )

    def _pjsip_conf(self) -> str:
        common = """transport = udp
disallow = all
allow = ulaw
direct_media = no
send_connected_line = no
rtp_symmetric = yes
dtmf_mode = info
"""
        parts = [
            f"""[global]
type = global
endpoint_identifier_order = username,ip
user_agent = acd-test-asterisk

[udp]
type = transport
protocol = udp
bind = 127.0.0.1:{self.sip_port}

[callers]
type = endpoint
context = from-callers
{common}
[callers]
type = identify
endpoint = callers
match = 127.0.0.1
"""
        ]
        for agent in AGENT_IDS:
            parts.append(f"""[{agent}]
type = endpoint
context = from-agents
auth = {agent}
aors = {agent}
{common}
[{agent}]
type = auth
auth_type = userpass
username = {agent}
password = {agent_password(agent)}

[{agent}]
type = aor
max_contacts = 1
remove_existing = yes
""")
        return "\n".join(parts)

    # --- the process ---------------------------------------------------------------------------

    def start(self, timeout: float = 30.0) -> None:
        """Start Asterisk and return once its AMI says FullyBooted."""
        assert self.process is None or self.process.poll() is not None
        self.process = subprocess.Popen(
            [str(self.install.binary), "-C", str(self.conf), "-f", "-n"],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        threading.Thread(target=self._read_log, args=(self.process,), daemon=True).start()
        try:
            self._wait_booted(time.monotonic() + timeout)
        except (OSError, TimeoutError) as exc:
            code = self.process.poll()
            self.kill()
            tail = "\n".join(self.log_lines[-30:])
            raise RuntimeError(f"Asterisk did not start (exit {code}): {exc}\n{tail}") from None

    def _wait_booted(self, deadline: float) -> None:
        """Asterisk prints nothing useful without a console: ask its AMI. Until the port is
        open there is no event to wait on, so connecting is retried (bounded by ``deadline``),
        and the process's exit ends the wait at once."""
        user, secret = OBSERVER
        while True:
            assert self.process is not None
            if self.process.poll() is not None:
                raise OSError("Asterisk exited")
            try:
                with socket.create_connection(("127.0.0.1", self.ami_port), timeout=2) as ami:
                    ami.sendall(
                        f"Action: Login\r\nUsername: {user}\r\nSecret: {secret}\r\n\r\n".encode()
                    )
                    seen = b""
                    while b"Event: FullyBooted" not in seen:
                        ami.settimeout(max(0.1, deadline - time.monotonic()))
                        chunk = ami.recv(65536)
                        if not chunk:
                            raise ConnectionResetError("AMI closed during login")
                        seen += chunk
                    return
            except (ConnectionRefusedError, ConnectionResetError):
                if time.monotonic() > deadline:
                    raise TimeoutError("no FullyBooted on AMI") from None
                time.sleep(0.05)

    def _read_log(self, process: subprocess.Popen[bytes]) -> None:
        assert process.stdout is not None
        for raw in process.stdout:
            self.log_lines.append(raw.decode("utf-8", "replace").rstrip())
            del self.log_lines[:-2000]

    def cli(self, command: str, timeout: float = 20.0) -> str:
        """A CLI command on the running Asterisk (``asterisk -rx``)."""
        result = subprocess.run(
            [str(self.install.binary), "-C", str(self.conf), "-rx", command],
            capture_output=True,
            timeout=timeout,
            check=False,
        )
        return result.stdout.decode("utf-8", "replace")

    def kill(self) -> None:
        """SIGKILL, as a crash would: no events, sockets reset."""
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)

    def stop(self) -> None:
        """``core stop now``, then make sure."""
        if self.process is not None and self.process.poll() is None:
            self.cli("core stop now")
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(15)
        self.kill()

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.directory, ignore_errors=True)


def _write_tone(path: Path) -> None:
    """One second of a quiet 440 Hz tone, 8 kHz mono 16-bit: MusicOnHold needs a file."""
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8000)
        out.writeframes(
            b"".join(
                struct.pack("<h", int(3000 * math.sin(2 * math.pi * 440 * n / 8000)))
                for n in range(8000)
            )
        )
