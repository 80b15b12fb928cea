"""The weekly digest against a real SMTP server (aiosmtpd) on 127.0.0.1."""

from __future__ import annotations

import email
import email.policy
import io
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller

from monitor.cli import Environment, ExitStatus, main
from monitor.config import Settings


class Inbox:
    """An aiosmtpd handler that keeps what it receives, or refuses every recipient."""

    def __init__(self, refuse: bool = False) -> None:
        self.refuse = refuse
        self.messages: list[email.message.EmailMessage] = []

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # type: ignore[no-untyped-def]
        if self.refuse:
            return "550 5.1.1 mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # type: ignore[no-untyped-def]
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


def configure(tmp_path: Path, port: int, *subscribers: str) -> None:
    (tmp_path / "clausewatch.toml").write_text(
        "public_base_url = 'https://watch.example.org/'\n"
        f"[smtp]\nhost = '127.0.0.1'\nport = {port}\nsecurity = 'none'\ntimeout = 5\n"
        "[digest]\nsender = 'Clausewatch <digest@watch.example.org>'\n"
        "unsubscribe = 'mailto:unsubscribe@watch.example.org'\n" + "".join(subscribers)
    )


MUSICIAN = (
    "[[digest.subscribers]]\nemail = 'ana@example.org'\nname = 'Ana'\naudiences = ['musicians']\n"
)
WRITER = "[[digest.subscribers]]\nemail = 'bo@example.org'\nname = 'Bo'\naudiences = ['writers']\n"


def digest(tmp_path: Path, *args: str) -> tuple[int, str, str]:
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
