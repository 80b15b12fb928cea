"""The publish log: which changes were considered for an alert, the alerts, the digests sent
and the notices for maintainers, in the catalog.

Owns: the alerts, sends and notices tables, read and written. Must never: decide what an alert
says (monitor.alerts) or send anything (monitor.publish).
"""

from __future__ import annotations

import enum
import json
import sqlite3
from datetime import datetime

from monitor.archive.catalog import Catalog, StoredChange, from_iso, from_row, iso
from monitor.archive.serialize import alert_from_dict, alert_to_dict
from monitor.config import normal_address
from monitor.model import Alert


class SendStatus(enum.StrEnum):
    """What became of one digest for one recipient. IN_FLIGHT is written just before the
    message's DATA; a run killed there leaves it, and it counts as sent (unconfirmed): at most
    one duplicate is possible (a server that accepted the DATA but whose reply was lost), never a
    loss of a digest nobody confirmed as failed."""

    SENT = "sent"
    FAILED = "failed"  # the server refused it, or it never reached DATA: tried again next run
    IN_FLIGHT = "in_flight"
    UNCONFIRMED = "unconfirmed"  # DATA was sent and no verdict came back: never sent again


DELIVERED = (SendStatus.SENT, SendStatus.UNCONFIRMED, SendStatus.IN_FLIGHT)
_DELIVERED_SQL = ", ".join(f"'{s.value}'" for s in DELIVERED)


class PublishLog(Catalog):
    """What was told, and to whom: one row per change considered, digest sends, notices."""

    def changes_without_alerts(self) -> list[StoredChange]:
        rows = self._db.execute(
            "SELECT * FROM changes WHERE id NOT IN (SELECT change_id FROM alerts) ORDER BY id"
        )
        return [from_row(StoredChange, row) for row in rows]

    def record_alert(self, change: StoredChange, alert: Alert | None) -> None:
        """Remember that a change was considered, and the Alert it gave, if any. Idempotent."""
        with self._write() as db:
            db.execute(
                "INSERT OR IGNORE INTO alerts (change_id, alert_id, source_id, recorded_at, severity,"
                " threat, body) VALUES (?,?,?,?,?,?,?)",
                (
                    change.id,
                    alert.id if alert else None,
                    change.source_id,
                    iso(change.recorded_at),
                    alert.severity.value if alert else None,
                    int(alert.threat) if alert else None,
                    json.dumps(alert_to_dict(alert), ensure_ascii=False) if alert else None,
                ),
            )

    def alerts(self, since: datetime | None = None, until: datetime | None = None) -> list[Alert]:
        """Stored alerts, newest first."""
        query = "SELECT body FROM alerts WHERE alert_id IS NOT NULL"
        params: list[str] = []
        if since:
            query += " AND recorded_at >= ?"
            params.append(iso(since))
        if until:
            query += " AND recorded_at < ?"
            params.append(iso(until))
        rows = self._db.execute(query + " ORDER BY recorded_at DESC, change_id DESC", params)
        return [alert_from_dict(json.loads(row[0])) for row in rows]

    def sent(self, period: str, recipient: str) -> bool:
        """Whether the digest for `period` already went (or may have gone) to `recipient`: its
        last record is sent, unconfirmed or in flight."""
        row = self._db.execute(
            "SELECT status FROM sends WHERE period = ? AND recipient = ? ORDER BY id DESC LIMIT 1",
            (period, normal_address(recipient)),
        ).fetchone()
        return row is not None and row[0] in DELIVERED

    def record_send(
        self,
        period: str,
        recipient: str,
        at: datetime,
        status: SendStatus,
        message_id: str | None,
        error: str = "",
    ) -> None:
        with self._write() as db:
            db.execute(
                "INSERT INTO sends (period, recipient, attempted_at, status, message_id, error)"
                " VALUES (?,?,?,?,?,?)",
                (
                    period,
                    normal_address(recipient),
                    iso(at),
                    SendStatus(status).value,
                    message_id,
                    error,
                ),
            )

    def last_send_at(self) -> datetime | None:
        row = self._db.execute(
            f"SELECT max(attempted_at) FROM sends WHERE status IN ({_DELIVERED_SQL})"
        ).fetchone()
        return from_iso(row[0]) if row and row[0] else None

    def record_notice(self, source_id: str, at: datetime, kind: str, detail: str) -> None:
        with self._write() as db:
            db.execute(
                "INSERT INTO notices (source_id, at, kind, detail) VALUES (?,?,?,?)",
                (source_id, iso(at), kind, detail),
            )

    def notices(self, since: datetime | None = None) -> list[sqlite3.Row]:
        """Maintainer notices, newest first."""
        if since is None:
            return list(self._db.execute("SELECT * FROM notices ORDER BY id DESC"))
        return list(
            self._db.execute("SELECT * FROM notices WHERE at >= ? ORDER BY id DESC", (iso(since),))
        )
