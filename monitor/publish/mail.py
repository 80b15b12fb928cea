"""Mail: building digest messages and sending them over SMTP (smtplib), idempotently.

Owns: the message (UTF-8 text and HTML alternatives, Date, Message-ID, List-Unsubscribe), the
SMTP session (STARTTLS, implicit TLS or plain, login from settings and environment; each
exchange within a total deadline, each reply within MAX_REPLY_BYTES), and the send policy: a
period goes to a recipient once; a send that fails before its DATA is recorded as failed and
tried again on the next run; "in flight" is recorded just before DATA, and a DATA with no
verdict is "unconfirmed" and never sent again (at most one duplicate, never a loss). The
archive's lock is held only to write those records, never while talking to a server. Must
never: decide what goes in a digest.
"""

from __future__ import annotations

import contextlib
import re
import smtplib
import socket
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime, formataddr, make_msgid, parseaddr
from typing import Any

from monitor.archive import Archive
from monitor.archive.ledger import SendStatus
from monitor.config import MailSettings, Security, Settings, Subscriber
from monitor.publish.digest import Digest, Period, render_digest

HEADER_UNSAFE = str.maketrans({"\r": " ", "\n": " "})


def build_message(
    settings: MailSettings, subscriber: Subscriber, digest: Digest, now: datetime
) -> EmailMessage:
    message = EmailMessage()
    message["Subject"] = digest.subject.translate(HEADER_UNSAFE)
    message["From"] = settings.sender
    message["To"] = formataddr((subscriber.name.translate(HEADER_UNSAFE), subscriber.email))
    message["Date"] = format_datetime(now)
    domain = parseaddr(settings.sender)[1].rpartition("@")[2] or "clausewatch.localhost"
    message["Message-ID"] = make_msgid("digest", domain=domain)
    if settings.unsubscribe:
        message["List-Unsubscribe"] = f"<{settings.unsubscribe}>"
        if settings.unsubscribe.startswith("https:"):
            message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    message.set_content(digest.text, charset="utf-8")
    message.add_alternative(digest.html, subtype="html", charset="utf-8")
    return message


MAX_REPLY_BYTES = 64 * 1024  # one SMTP reply, all its lines: a longer one is an attack


class DeadlineExceeded(smtplib.SMTPException):
    """An SMTP exchange took longer in all than MailSettings.deadline allows."""


class ReplyTooLong(smtplib.SMTPException):
    """A server sent more than MAX_REPLY_BYTES in one reply ("250-" lines for ever)."""


class _LimitedReader:
    """The session's socket file, counting the bytes of the current reply."""

    def __init__(self, file: Any) -> None:
        self.file = file
        self.remaining = MAX_REPLY_BYTES

    def readline(self, size: int = -1) -> bytes:
        line: bytes = self.file.readline(size)
        self.remaining -= len(line)
        if self.remaining < 0:
            raise ReplyTooLong(f"the server's reply is longer than {MAX_REPLY_BYTES} bytes")
        return line

    def close(self) -> None:
        self.file.close()


class _BoundedReplies(smtplib.SMTP):
    """smtplib reads a multi-line reply until its last line, however many lines come."""

    def getreply(self) -> tuple[int, bytes]:
        sock = getattr(self, "sock", None)
        if self.file is None and sock is not None:
            self.file = sock.makefile("rb")
        if self.file is not None:
            reader = (
                self.file if isinstance(self.file, _LimitedReader) else _LimitedReader(self.file)
            )
            reader.remaining = MAX_REPLY_BYTES
            self.file = reader
        return super().getreply()


class _Session(_BoundedReplies):
    pass


class _TlsSession(_BoundedReplies, smtplib.SMTP_SSL):
    pass


class Deadline:
    """One SMTP exchange (connecting and greeting; or one message) gets `seconds` in all: the
    socket's timeout bounds each read, this bounds the whole exchange, however slowly the
    server drips its bytes. When it passes, the socket is shut down and the read in progress
    fails."""

    def __init__(self, session: smtplib.SMTP, seconds: float) -> None:
        self.session = session
        self.seconds = seconds
        self.passed = False
        self._timer: threading.Timer | None = None

    def _expire(self) -> None:
        self.passed = True
        sock = getattr(self.session, "sock", None)
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def __enter__(self) -> Deadline:
        self._timer = threading.Timer(self.seconds, self._expire)
        self._timer.daemon = True
        self._timer.start()
        return self

    def __exit__(self, kind: object, exc: BaseException | None, tb: object) -> None:
        assert self._timer is not None
        self._timer.cancel()
        if self.passed and isinstance(exc, (OSError, smtplib.SMTPException)):
            raise DeadlineExceeded(
                f"the SMTP exchange took more than {self.seconds:g}s in all ({exc})"
            ) from exc


@dataclass(frozen=True, slots=True)
class SendResult:
    recipient: str
    status: SendStatus
    message_id: str | None
    error: str = ""


class _Unconfirmed(Exception):
    """The message's DATA went out and no verdict came back."""


def _quote_periods(data: bytes) -> bytes:
    data = re.sub(rb"(?:\r\n|\n|\r(?!\n))", b"\r\n", data)
    data = re.sub(rb"(?m)^\.", b"..", data)
    return data if data.endswith(b"\r\n") else data + b"\r\n"


def _deliver(
    session: smtplib.SMTP,
    sender: str,
    recipient: str,
    message: EmailMessage,
    claim: Callable[[], bool],
) -> bool:
    """MAIL, RCPT, then `claim()` (the in-flight record; False: someone else has it), then DATA.
    Raises _Unconfirmed when the body went out and no reply came; False when not claimed."""
    body = message.as_bytes(policy=message.policy.clone(linesep="\r\n"))
    international = not (sender + recipient).isascii()
    session.ehlo_or_helo_if_needed()
    code, reply = session.mail(sender, ["SMTPUTF8"] if international else [])
    if code != 250:
        session.rset()
        raise smtplib.SMTPSenderRefused(code, reply, sender)
    code, reply = session.rcpt(recipient)
    if code not in (250, 251):
        session.rset()
        raise smtplib.SMTPRecipientsRefused({recipient: (code, reply)})
    if not claim():
        session.rset()
        return False
    session.putcmd("data")
    code, reply = session.getreply()
    if code != 354:
        raise smtplib.SMTPDataError(code, reply)
    try:
        session.send(_quote_periods(body) + b".\r\n")
        code, reply = session.getreply()
    except (OSError, smtplib.SMTPException) as exc:
        raise _Unconfirmed(f"{type(exc).__name__}: {exc}") from exc
    if code != 250:
        raise smtplib.SMTPDataError(code, reply)
    return True


Recorder = Callable[[SendResult], bool]


def send_all(
    settings: MailSettings, messages: list[tuple[Subscriber, EmailMessage]], record: Recorder
) -> list[SendResult]:
    """Send over one SMTP session. `record` gets an IN_FLIGHT result just before each DATA
    (returning False when that recipient is already done: the message is skipped) and every
    outcome as soon as it is known. A session the server closed before DATA is opened again
    and the message tried once more; after DATA it never is (the server may have it)."""
    results: list[SendResult] = []
    if not messages:
        return results
    sender = parseaddr(settings.sender)[1]
    session: smtplib.SMTP | None = None
    unreachable: str | None = None  # once connecting fails, the rest fail with the same reason
    try:
        for subscriber, message in messages:
            message_id = message["Message-ID"]

            def claim(email: str = subscriber.email, mid: str | None = message_id) -> bool:
                return record(SendResult(email, SendStatus.IN_FLIGHT, mid))

            result: SendResult | None = None
            for attempt in range(2):
                if unreachable is not None:
                    result = SendResult(
                        subscriber.email, SendStatus.FAILED, message_id, unreachable
                    )
                    break
                try:
                    if session is None:
                        session = _connect(settings)
                    with Deadline(session, settings.deadline):
                        delivered = _deliver(session, sender, subscriber.email, message, claim)
                    if delivered:
                        result = SendResult(subscriber.email, SendStatus.SENT, message_id)
                except _ConnectFailed as exc:
                    unreachable = f"cannot connect to {settings.host}:{settings.port}: {exc}"
                    result = SendResult(
                        subscriber.email, SendStatus.FAILED, message_id, unreachable
                    )
                except _Unconfirmed as exc:
                    _close(session)
                    session = None
                    result = SendResult(
                        subscriber.email,
                        SendStatus.UNCONFIRMED,
                        message_id,
                        f"no reply after the message was sent ({exc}); it is not sent again",
                    )
                except smtplib.SMTPServerDisconnected as exc:
                    # closed before DATA (a 421, or idle): a new session, the message once more
                    _close(session)
                    session = None
                    if attempt == 0:
                        continue
                    result = _failed(subscriber, message_id, exc)
                except smtplib.SMTPResponseException as exc:  # refused: the session is still good
                    result = _failed(subscriber, message_id, exc)
                except (OSError, smtplib.SMTPException) as exc:  # a deadline, a flood, a reset
                    _close(session)
                    session = None
                    result = _failed(subscriber, message_id, exc)
                break
            if result is not None:
                record(result)
                results.append(result)
    except BaseException:  # the ledger refused a record (archive locked), Ctrl-C
        _close(session)
        raise

    if session is not None:
        try:
            with Deadline(session, settings.deadline):
                session.quit()
        except (OSError, smtplib.SMTPException):
            _close(session)
    return results


def _failed(subscriber: Subscriber, message_id: str | None, exc: BaseException) -> SendResult:
    return SendResult(
        subscriber.email, SendStatus.FAILED, message_id, f"{type(exc).__name__}: {exc}"
    )


def _close(session: smtplib.SMTP | None) -> None:
    """Close a session that can no longer be trusted."""
    if session is not None:
        with contextlib.suppress(OSError, smtplib.SMTPException):
            session.close()


class _ConnectFailed(smtplib.SMTPException):
    """Connecting, greeting, STARTTLS or login failed."""


def _connect(settings: MailSettings) -> smtplib.SMTP:
    """A session, greeted (and upgraded and logged in), within one deadline."""
    context = ssl.create_default_context()
    session: smtplib.SMTP = (
        _TlsSession(timeout=settings.timeout, context=context)
        if settings.security is Security.TLS
        else _Session(timeout=settings.timeout)
    )
    # what smtplib checks the certificate against (the constructor sets it, and would connect
    # at once, outside the deadline)
    session._host = settings.host  # type: ignore[attr-defined]
    try:
        with Deadline(session, settings.deadline):
            session.connect(settings.host, settings.port)
            if settings.security is Security.STARTTLS:
                # raises if the server offers no STARTTLS: never a fall back to plain text
                session.starttls(context=context)
            if settings.username:
                session.login(settings.username, settings.password)
    except (OSError, smtplib.SMTPException) as exc:
        _close(session)
        raise _ConnectFailed(str(exc)) from exc
    except BaseException:
        _close(session)
        raise
    return session


@dataclass(frozen=True, slots=True)
class DigestRun:
    period: Period
    results: list[SendResult]
    already_sent: int


def send_period_digest(
    archive: Archive, settings: Settings, period: Period, now: datetime
) -> DigestRun:
    """Send the digest of `period` to every subscriber who has not had it (recorded under the
    period's key, at `now`). The caller has given every change its alert and must NOT hold the
    archive lock: it is taken here for each record, never while a server is talked to."""
    alerts = archive.alerts(until=period.until)  # all before its end: events group as in feeds
    pending = [
        (
            s,
            build_message(
                settings.mail, s, render_digest(alerts, s, period, settings.public_base_url), now
            ),
        )
        for s in settings.mail.subscribers
        if not archive.sent(period.key, s.email)
    ]

    def record(result: SendResult) -> bool:
        with archive.lock():
            if result.status is SendStatus.IN_FLIGHT and archive.sent(period.key, result.recipient):
                return False  # another run has it (or had it) in flight
            archive.record_send(
                period.key, result.recipient, now, result.status, result.message_id, result.error
            )
        return True

    results = send_all(settings.mail, pending, record)
    return DigestRun(period, results, len(settings.mail.subscribers) - len(pending))
