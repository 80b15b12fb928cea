"""Mail: building digest messages and sending them over SMTP (smtplib), idempotently.

Owns: the message (UTF-8 text and HTML alternatives, Date, Message-ID, List-Unsubscribe), the
SMTP session (STARTTLS, implicit TLS or plain, login from settings and environment), and the
send policy: a period goes to a recipient once; a send that fails is recorded as failed, never
as sent, and is tried again on the next run. Must never: decide what goes in a digest.
"""

from __future__ import annotations

import smtplib
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime, formataddr, make_msgid, parseaddr

from monitor.archive import Archive, SendStatus
from monitor.config import MailSettings, Settings, Subscriber
from monitor.publish.digest import Digest, Period, period_ending, render_digest

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


@dataclass(frozen=True, slots=True)
class SendResult:
    recipient: str
    sent: bool
    message_id: str | None
    error: str = ""


def send_all(
    settings: MailSettings,
    messages: list[tuple[Subscriber, EmailMessage]],
    record: Callable[[SendResult], None],
) -> list[SendResult]:
    """Send over one SMTP session; every outcome is passed to `record` as soon as it is known."""
    results: list[SendResult] = []
    if not messages:
        return results
    try:
        session = _connect(settings)
    except (OSError, smtplib.SMTPException) as exc:
        for subscriber, message in messages:
            result = SendResult(
                subscriber.email,
                False,
                message["Message-ID"],
                f"cannot connect to {settings.host}:{settings.port}: {exc}",
            )
            record(result)
            results.append(result)
        return results
    try:
        for subscriber, message in messages:
            try:
                try:
                    refused = session.send_message(message)
                except smtplib.SMTPServerDisconnected:
                    # the server closed the session (after a 421, or idle): one new session,
                    # and this message tried once more on it
                    session.close()
                    session = _connect(settings)
                    refused = session.send_message(message)
                result = (
                    SendResult(
                        subscriber.email, False, message["Message-ID"], f"refused: {refused}"
                    )
                    if refused
                    else SendResult(subscriber.email, True, message["Message-ID"])
                )
            except (OSError, smtplib.SMTPException) as exc:
                result = SendResult(
                    subscriber.email, False, message["Message-ID"], f"{type(exc).__name__}: {exc}"
                )
            record(result)
            results.append(result)
    finally:
        try:
            session.quit()
        except (OSError, smtplib.SMTPException):
            session.close()
    return results


def _connect(settings: MailSettings) -> smtplib.SMTP:
    context = ssl.create_default_context()
    if settings.security == "tls":
        session: smtplib.SMTP = smtplib.SMTP_SSL(
            settings.host, settings.port, timeout=settings.timeout, context=context
        )
    else:
        session = smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout)
    try:
        if settings.security == "starttls":
            # raises if the server offers no STARTTLS: never a fall back to plain text
            session.starttls(context=context)
        if settings.username:
            session.login(settings.username, settings.password)
    except BaseException:
        session.close()
        raise
    return session


@dataclass(frozen=True, slots=True)
class DigestRun:
    period: Period
    results: list[SendResult]
    already_sent: int


def send_period_digest(archive: Archive, settings: Settings, days: int, now: datetime) -> DigestRun:
    """Send the digest of the `days` before `now` to every subscriber who has not had it.
    The caller holds the archive lock and has given every change its alert."""
    period = period_ending(now, days)
    alerts = archive.alerts(since=period.since, until=period.until)
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

    def record(result: SendResult) -> None:
        status = SendStatus.SENT if result.sent else SendStatus.FAILED
        archive.record_send(
            period.key, result.recipient, now, status, result.message_id, result.error
        )

    results = send_all(settings.mail, pending, record)
    return DigestRun(period, results, len(settings.mail.subscribers) - len(pending))
