"""The weekly digest against a real SMTP server (aiosmtpd) on 127.0.0.1."""

from __future__ import annotations

import email
import email.policy
import io
import shutil
import socket
import ssl
import subprocess
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller

from monitor.cli.main import Environment, ExitStatus, main
from monitor.config import Settings


class Inbox:
    """An aiosmtpd handler that keeps what it receives, or refuses every recipient."""

    def __init__(self, refuse: bool = False, close_first: bool = False) -> None:
        self.refuse = refuse
        self.close_first = close_first  # answer the first DATA with 421 (closing the session)
        self.messages: list[email.message.EmailMessage] = []
        self.encrypted: list[bool] = []  # for each message kept: did it come over TLS?

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # type: ignore[no-untyped-def]
        if self.refuse:
            return "550 5.1.1 mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # type: ignore[no-untyped-def]
        if self.close_first:
            self.close_first = False
            return "421 4.3.2 service shutting down"
        # session.ssl after STARTTLS; the transport's own SSL object with implicit TLS
        self.encrypted.append(
            session.ssl is not None or server.transport.get_extra_info("ssl_object") is not None
        )
        self.messages.append(
            email.message_from_bytes(envelope.content, policy=email.policy.default)
        )  # type: ignore[arg-type]
        return "250 Message accepted for delivery"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


def configure(tmp_path: Path, port: int, *subscribers: str, security: str = "none") -> None:
    (tmp_path / "clausewatch.toml").write_text(
        "public_base_url = 'https://watch.example.org/'\n"
        f"[smtp]\nhost = '127.0.0.1'\nport = {port}\nsecurity = '{security}'\ntimeout = 5\n"
        "[digest]\nsender = 'Clausewatch <digest@watch.example.org>'\n"
        "unsubscribe = 'mailto:unsubscribe@watch.example.org'\n" + "".join(subscribers)
    )


MUSICIAN = (
    "[[digest.subscribers]]\nemail = 'ana@example.org'\nname = 'Ana'\naudiences = ['musicians']\n"
)
WRITER = "[[digest.subscribers]]\nemail = 'bo@example.org'\nname = 'Bo'\naudiences = ['writers']\n"


def digest(tmp_path: Path, *args: str) -> tuple[int, str, str]:
    """`clausewatch digest ARGS`, by default over the week ending today (the fixtures' alerts
    are recorded today; without --until the period ends yesterday, the last whole day)."""
    if not any(a == "--until" for a in args):
        args = (*args, "--until", "today")
    out, err = io.StringIO(), io.StringIO()
    code = main(["digest", *args], Environment(stdout=out, stderr=err, env={}, cwd=tmp_path))
    return code, out.getvalue(), err.getvalue()


def test_digest_is_sent_once_per_period(
    archive_with_alerts: Settings, tmp_path: Path, smtp: tuple[Inbox, int]
) -> None:
    inbox, port = smtp
    configure(tmp_path, port, MUSICIAN, WRITER)
    code, out, _ = digest(tmp_path, "--send")
    assert code == ExitStatus.OK, out
    assert "2 sent, 0 failed, 0 already sent before" in out
    by_recipient = {m["To"].addresses[0].addr_spec: m for m in inbox.messages}
    ana, bo = by_recipient["ana@example.org"], by_recipient["bo@example.org"]
    assert ana["Subject"].startswith("Clausewatch weekly: 1 alert, 1 other change")
    assert bo["Subject"].startswith("Clausewatch weekly: a quiet week")
    for message in (ana, bo):
        assert message["Date"] and message["Message-ID"].endswith("@watch.example.org>")
        assert message["List-Unsubscribe"] == "<mailto:unsubscribe@watch.example.org>"
    text = ana.get_body(("plain",)).get_content()
    html = ana.get_body(("html",)).get_content()
    assert "Example Terms of Service: AI-training permission added" in text
    assert text.index("High: broad new rights") < text.index("Good news and other notes")
    assert "https://watch.example.org/sources/example-terms/changes/" in text
    assert "<script>alert('x')</script>" in text  # plain text shows the words as they are
    assert "<script>" not in html and "&lt;script&gt;alert(" in html
    assert ana.get_body(("plain",))["Content-Type"].params["charset"] == "utf-8"
    code, out, _ = digest(tmp_path, "--send")
    assert code == ExitStatus.OK and "0 sent, 0 failed, 2 already sent before" in out
    assert len(inbox.messages) == 2


def test_a_refused_send_is_never_marked_sent_and_is_retried(
    archive_with_alerts: Settings, tmp_path: Path, smtp: tuple[Inbox, int]
) -> None:
    inbox, port = smtp
    inbox.refuse = True
    configure(tmp_path, port, MUSICIAN)
    code, out, _ = digest(tmp_path, "--send")
    assert code == ExitStatus.ERROR and "ana@example.org: failed" in out and "550" in out
    assert inbox.messages == []
    inbox.refuse = False
    code, out, _ = digest(tmp_path, "--send")
    assert code == ExitStatus.OK and "1 sent, 0 failed, 0 already sent before" in out
    assert len(inbox.messages) == 1


def test_an_unreachable_server_fails_every_send(
    archive_with_alerts: Settings, tmp_path: Path
) -> None:
    configure(tmp_path, free_port(), MUSICIAN)
    code, out, _ = digest(tmp_path, "--send")
    assert code == ExitStatus.ERROR and "cannot connect to 127.0.0.1" in out


def test_to_dir_and_preview(archive_with_alerts: Settings, tmp_path: Path) -> None:
    configure(tmp_path, free_port(), MUSICIAN)
    code, _, _ = digest(tmp_path, "--to-dir", "out")
    assert code == ExitStatus.OK
    eml = email.message_from_bytes(
        (tmp_path / "out" / "ana@example.org.eml").read_bytes(), policy=email.policy.default
    )
    assert eml["Subject"].startswith("Clausewatch weekly: 1 alert")
    assert "&lt;script&gt;" in (tmp_path / "out" / "ana@example.org.html").read_text()
    # the digest says in words what the platform may now do; the rule is a detail after it
    text = (tmp_path / "out" / "ana@example.org.txt").read_text()
    sentence = text.index("The platform may now use your content or data to train AI models.")
    assert sentence < text.index("ai_training.train-on-content")
    assert "fired on" not in text and '"We"' not in text
    code, out, _ = digest(tmp_path, "--since", "2w")
    assert (
        code == ExitStatus.OK
        and out.startswith("Subject: Clausewatch weekly: 1 alert")
        and "To: ana@example.org" in out
    )


def test_bad_usage(archive_with_alerts: Settings, tmp_path: Path) -> None:
    code, _, err = digest(tmp_path, "--since", "soon")
    assert code == ExitStatus.USAGE and "7d or 2w" in err
    code, _, err = digest(tmp_path, "--send")
    assert code == ExitStatus.USAGE and "no subscribers" in err
    (tmp_path / "clausewatch.toml").write_text("[smtp]\npassword = 'hunter2'\n")
    code, _, err = digest(tmp_path)
    assert code == ExitStatus.USAGE and "CLAUSEWATCH_SMTP_PASSWORD" in err


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[Path, ssl.SSLContext]:
    """A self-signed certificate for 127.0.0.1, and a server context that presents it."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("the openssl command is needed to make a certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            *(openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2"),
            *("-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1"),
            *("-addext", "subjectAltName=IP:127.0.0.1"),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return cert, context


@pytest.fixture
def start_smtp() -> Iterator[Callable[..., tuple[Inbox, int]]]:
    """Starts aiosmtpd servers with the given options; stops them after the test."""
    controllers: list[Controller] = []

    def start(inbox: Inbox | None = None, **options: object) -> tuple[Inbox, int]:
        inbox = inbox or Inbox()
        port = free_port()
        controller = Controller(inbox, hostname="127.0.0.1", port=port, **options)
        controller.start()
        controllers.append(controller)
        return inbox, port

    yield start
    for controller in controllers:
        controller.stop()


@pytest.mark.parametrize(
    ("security", "server_options"),
    [
        ("starttls", {"require_starttls": True}),  # the server takes no mail before STARTTLS
        ("tls", {}),  # implicit TLS from the first byte
    ],
)
def test_tls_sends_to_a_trusted_server(
    archive_with_alerts: Settings,
    tmp_path: Path,
    certificate: tuple[Path, ssl.SSLContext],
    start_smtp: Callable[..., tuple[Inbox, int]],
    monkeypatch: pytest.MonkeyPatch,
    security: str,
    server_options: dict[str, object],
) -> None:
    cert, context = certificate
    tls_option = "tls_context" if security == "starttls" else "ssl_context"
    inbox, port = start_smtp(**{tls_option: context}, **server_options)
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))  # the system's trust store, plus our CA
    configure(tmp_path, port, MUSICIAN, WRITER, security=security)
    code, out, _ = digest(tmp_path, "--send")
    assert code == ExitStatus.OK and "2 sent, 0 failed" in out, out
    assert len(inbox.messages) == 2 and inbox.encrypted == [True, True]


def test_starttls_refuses_an_untrusted_certificate(
    archive_with_alerts: Settings,
    tmp_path: Path,
    certificate: tuple[Path, ssl.SSLContext],
    start_smtp: Callable[..., tuple[Inbox, int]],
) -> None:
    _, context = certificate
    inbox, port = start_smtp(tls_context=context, require_starttls=True)
    configure(tmp_path, port, MUSICIAN, security="starttls")
    code, out, _ = digest(tmp_path, "--send")
    assert code == ExitStatus.ERROR and "ana@example.org: failed" in out
    assert "CERTIFICATE_VERIFY_FAILED" in " ".join(out.split()) and inbox.messages == []


def test_starttls_never_falls_back_to_plain_text(
    archive_with_alerts: Settings,
    tmp_path: Path,
    start_smtp: Callable[..., tuple[Inbox, int]],
) -> None:
    inbox, port = start_smtp()  # offers no STARTTLS
    configure(tmp_path, port, MUSICIAN, security="starttls")
    code, out, _ = digest(tmp_path, "--send")
    assert code == ExitStatus.ERROR and "STARTTLS extension not supported" in " ".join(out.split())
    assert inbox.messages == []


def test_a_closed_session_is_opened_again_for_the_next_message(
    archive_with_alerts: Settings,
    tmp_path: Path,
    start_smtp: Callable[..., tuple[Inbox, int]],
) -> None:
    inbox, port = start_smtp(Inbox(close_first=True))
    configure(tmp_path, port, MUSICIAN, WRITER)
    code, out, _ = digest(tmp_path, "--send")
    # the first message meets the 421 and fails (tried again next run); the second goes out
    # on a new session
    assert code == ExitStatus.ERROR and "1 sent, 1 failed" in out, out
    assert "421" in out and len(inbox.messages) == 1
    code, out, _ = digest(tmp_path, "--send")
    assert code == ExitStatus.OK and "1 sent, 0 failed, 1 already sent before" in out, out
    assert len(inbox.messages) == 2


def move_alerts(settings: Settings, *moves: tuple[str, datetime]) -> None:
    """Set the recorded time of the changes (and their alerts) whose alert title ends with
    each given text: tracking stamps the fetch time, and these tests need a day's edges."""
    import json
    import sqlite3

    with sqlite3.connect(settings.archive_dir / "catalog.sqlite") as db:
        for ending, when in moves:
            at = when.isoformat(timespec="seconds")
            rows = db.execute("SELECT change_id, body FROM alerts WHERE alert_id IS NOT NULL")
            (change_id, body), *more = [
                r for r in rows if json.loads(r[1])["title"].endswith(ending)
            ]
            assert not more
            moved = {**json.loads(body), "recorded_at": at}
            if "decided_at" in moved:  # one that waited for a later capture: decided then too
                moved["decided_at"] = at
            db.execute(
                "UPDATE alerts SET recorded_at = ?, body = ? WHERE change_id = ?",
                (at, json.dumps(moved), change_id),
            )
            db.execute("UPDATE changes SET recorded_at = ? WHERE id = ?", (at, change_id))


def sends(settings: Settings) -> list[tuple[str, str]]:
    import sqlite3

    with sqlite3.connect(settings.archive_dir / "catalog.sqlite") as db:
        return [(str(p), str(s)) for p, s in db.execute("SELECT period, status FROM sends")]


TRAINING_TITLE = "AI-training permission added"
PROMISE_TITLE = "promise not to train on your content added"


def test_the_period_ends_at_the_end_of_its_last_day(
    archive_with_alerts: Settings, tmp_path: Path
) -> None:
    move_alerts(
        archive_with_alerts,
        (TRAINING_TITLE, datetime(2026, 11, 29, 23, 59, 59, tzinfo=UTC)),  # Sunday, last second
        (PROMISE_TITLE, datetime(2026, 11, 30, 0, 0, 0, tzinfo=UTC)),  # Monday, first second
    )
    code, out, _ = digest(tmp_path, "--until", "2026-11-29")
    assert code == ExitStatus.OK, out
    assert "23 Nov 2026 to 29 Nov 2026" in out and "(2026-11-23/2026-11-29)" in out
    assert TRAINING_TITLE in out and PROMISE_TITLE not in out
    # the day after starts at that Monday's first second
    code, out, _ = digest(tmp_path, "--until", "2026-11-30", "--since", "1d")
    assert "(2026-11-30/2026-11-30)" in out
    assert PROMISE_TITLE in out and TRAINING_TITLE not in out
    code, out, _ = digest(tmp_path, "--until", "2026-11-30")  # Tuesday 24 to Monday 30
    assert "(2026-11-24/2026-11-30)" in out and PROMISE_TITLE in out and TRAINING_TITLE in out


def test_the_default_period_is_the_seven_whole_days_before_today(
    archive_with_alerts: Settings, tmp_path: Path
) -> None:
    from datetime import timedelta

    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    move_alerts(
        archive_with_alerts,
        (TRAINING_TITLE, today - timedelta(seconds=1)),  # yesterday 23:59:59
        (PROMISE_TITLE, today),  # today 00:00:00: next week's
    )
    out, err = io.StringIO(), io.StringIO()
    code = main(["digest"], Environment(stdout=out, stderr=err, env={}, cwd=tmp_path))
    first, last = today - timedelta(days=7), today - timedelta(days=1)
    assert code == ExitStatus.OK and f"({first:%Y-%m-%d}/{last:%Y-%m-%d})" in out.getvalue()
    assert TRAINING_TITLE in out.getvalue() and PROMISE_TITLE not in out.getvalue()


def test_until_rebuilds_a_past_week_without_taking_it_for_a_send(
    archive_with_alerts: Settings, tmp_path: Path, smtp: tuple[Inbox, int]
) -> None:
    inbox, port = smtp
    configure(tmp_path, port, MUSICIAN)
    move_alerts(
        archive_with_alerts,
        (TRAINING_TITLE, datetime(2026, 11, 4, 12, 0, tzinfo=UTC)),
        (PROMISE_TITLE, datetime(2026, 11, 10, 12, 0, tzinfo=UTC)),
    )
    code, _, _ = digest(tmp_path, "--until", "2026-11-08", "--to-dir", "past")
    assert code == ExitStatus.OK
    text = (tmp_path / "past" / "ana@example.org.txt").read_text()
    assert "02 Nov 2026 to 08 Nov 2026" in text
    assert TRAINING_TITLE in text and PROMISE_TITLE not in text
    code, out, _ = digest(tmp_path, "--until", "2026-11-08")
    assert code == ExitStatus.OK and TRAINING_TITLE in out
    assert sends(archive_with_alerts) == []  # printed or written: never recorded as sent
    # sent when told, under that week's key only: this week's digest still goes out
    code, out, _ = digest(tmp_path, "--until", "2026-11-08", "--send")
    assert code == ExitStatus.OK and "period 2026-11-02/2026-11-08: 1 sent" in out
    assert {p for p, _ in sends(archive_with_alerts)} == {"2026-11-02/2026-11-08"}
    code, out, _ = digest(tmp_path, "--send")
    assert code == ExitStatus.OK and "1 sent, 0 failed, 0 already sent before" in out
    code, out, _ = digest(tmp_path, "--until", "2026-11-08", "--send")
    assert "0 sent, 0 failed, 1 already sent before" in out
    assert len(inbox.messages) == 2


def test_until_is_checked(archive_with_alerts: Settings, tmp_path: Path) -> None:
    code, _, err = digest(tmp_path, "--until", "last week")
    assert code == ExitStatus.USAGE and "2026-11-29" in err
    code, _, err = digest(tmp_path, "--until", "2999-01-01")
    assert code == ExitStatus.USAGE and "has not come yet" in err


def test_a_change_confirmed_after_its_week_is_told_in_the_week_it_was_confirmed(
    archive_with_alerts: Settings, tmp_path: Path
) -> None:
    # good news waits for a later capture (monitor.trust): a change of Sunday confirmed on
    # Tuesday was in no digest of its own week (built on Monday), so it is told the next week
    import json
    import sqlite3

    move_alerts(
        archive_with_alerts,
        (TRAINING_TITLE, datetime(2026, 11, 22, 12, 0, tzinfo=UTC)),
        (PROMISE_TITLE, datetime(2026, 11, 22, 12, 0, tzinfo=UTC)),
    )
    with sqlite3.connect(archive_with_alerts.archive_dir / "catalog.sqlite") as db:
        rows = list(db.execute("SELECT change_id, body FROM alerts WHERE alert_id IS NOT NULL"))
        bodies = {json.loads(b)["title"]: (c, json.loads(b)) for c, b in rows}
        (change, body), *_ = [v for t, v in bodies.items() if t.endswith(PROMISE_TITLE)]
        assert "decided_at" in body  # recorded as one that waited
        (_, training), *_ = [v for t, v in bodies.items() if t.endswith(TRAINING_TITLE)]
        assert "decided_at" not in training  # a new threat is told at once
        body["decided_at"] = "2026-11-24T09:00:00+00:00"
        db.execute("UPDATE alerts SET body = ? WHERE change_id = ?", (json.dumps(body), change))
    code, out, _ = digest(tmp_path, "--until", "2026-11-22")
    assert code == ExitStatus.OK and TRAINING_TITLE in out and PROMISE_TITLE not in out
    code, out, _ = digest(tmp_path, "--until", "2026-11-29")
    assert code == ExitStatus.OK and PROMISE_TITLE in out and TRAINING_TITLE not in out
