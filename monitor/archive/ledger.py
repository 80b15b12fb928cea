"""The publish log: which changes were considered for an alert, the alerts, the digests sent
and the notices for maintainers, in the catalog.

Owns: the alerts, sends and notices tables, read and written through the Catalog, and their
values (SendStatus, Notice). Must never: decide what an alert says (monitor.alerts) or send
anything (monitor.publish).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from monitor.archive.catalog import Catalog, StoredChange, from_iso, iso
from monitor.archive.serialize import alert_from_dict, alert_to_dict
from monitor.config import normal_address
from monitor.model import Alert


class SendStatus(StrEnum):
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


@dataclass(frozen=True, slots=True)
class Notice:
    """A notice for maintainers: a source failing N times in a row, recovering, repaired."""

    id: int
    source_id: str
    at: datetime
    kind: str
    detail: str


class Ledger:
    """What was told, and to whom: one row per change considered, digest sends, notices."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog

    def changes_without_alerts(self, source_id: str | None = None) -> list[StoredChange]:
        """The changes not yet decided, oldest first: all, or `source_id`'s."""
        condition = "id NOT IN (SELECT change_id FROM alerts)"
        if source_id is None:
            return self.catalog.changes_where(condition)
        return self.catalog.changes_where(f"source_id = ? AND {condition}", (source_id,))

    def record_alert(self, change: StoredChange, alert: Alert | None, reason: str = "") -> None:
        """Remember that a change was considered, and the Alert it gave, if any, or why it gave
        none (`reason`, "not alerted: ..."). Idempotent. An alert whose id another change
        already has (the same news on the same day) is recorded as that one, not dropped: a
        change left without its row would be considered again at every pass."""
        with self.catalog.write():
            if alert is not None:
                rows = self.catalog.query(
                    "SELECT change_id FROM alerts WHERE alert_id = ? AND change_id != ?",
                    (alert.id, change.id),
                )
                if rows:
                    reason = f"not alerted: the same alert as change {rows[0][0]}"
                    alert = None
            self.catalog.execute(
                "INSERT OR IGNORE INTO alerts (change_id, alert_id, source_id, recorded_at, severity,"
                " threat, body, reason) VALUES (?,?,?,?,?,?,?,?)",
                (
                    change.id,
                    alert.id if alert else None,
                    change.source_id,
                    iso(change.recorded_at),
                    alert.severity.value if alert else None,
                    int(alert.threat) if alert else None,
                    json.dumps(alert_to_dict(alert), ensure_ascii=False) if alert else None,
                    reason,
                ),
            )

    def reasons(self, source_id: str) -> dict[int, str]:
        """Why each considered change of a source gave no alert ("" when there was nothing to
        tell), by change id; changes not yet decided (held) are not in it."""
        rows = self.catalog.query(
            "SELECT change_id, reason FROM alerts WHERE source_id = ? AND alert_id IS NULL",
            (source_id,),
        )
        return {int(str(row[0])): str(row[1] or "") for row in rows}

    def alerts(
        self,
        since: datetime | None = None,
        until: datetime | None = None,
        source_id: str | None = None,
    ) -> list[Alert]:
        """Stored alerts, newest first: all, or `source_id`'s."""
        query = "SELECT body FROM alerts WHERE alert_id IS NOT NULL"
        params: list[str] = []
        if source_id is not None:
            query += " AND source_id = ?"
            params.append(source_id)
        if since:
            query += " AND recorded_at >= ?"
            params.append(iso(since))
        if until:
            query += " AND recorded_at < ?"
            params.append(iso(until))
        rows = self.catalog.query(
            query + " ORDER BY recorded_at DESC, change_id DESC", tuple(params)
        )
        return [alert_from_dict(json.loads(str(row[0]))) for row in rows]

    def sent(self, period: str, recipient: str) -> bool:
        """Whether the digest for `period` already went (or may have gone) to `recipient`: its
        last record is sent, unconfirmed or in flight."""
        rows = self.catalog.query(
            "SELECT status FROM sends WHERE period = ? AND recipient = ? ORDER BY id DESC LIMIT 1",
            (period, normal_address(recipient)),
        )
        return bool(rows) and rows[0][0] in DELIVERED

    def record_send(
        self,
        period: str,
        recipient: str,
        at: datetime,
        status: SendStatus,
        message_id: str | None,
        error: str = "",
    ) -> None:
        with self.catalog.write():
            self.catalog.execute(
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
        rows = self.catalog.query(
            f"SELECT max(attempted_at) FROM sends WHERE status IN ({_DELIVERED_SQL})"
        )
        return from_iso(str(rows[0][0])) if rows and rows[0][0] else None

    def record_notice(self, source_id: str, at: datetime, kind: str, detail: str) -> None:
        with self.catalog.write():
            self.catalog.execute(
                "INSERT INTO notices (source_id, at, kind, detail) VALUES (?,?,?,?)",
                (source_id, iso(at), kind, detail),
            )

    def notices(self, since: datetime | None = None) -> list[Notice]:
        """Maintainer notices, newest first."""
        query = "SELECT id, source_id, at, kind, detail FROM notices"
        params: tuple[object, ...] = ()
        if since is not None:
            query += " WHERE at >= ?"
            params = (iso(since),)
        return [
            Notice(int(str(row[0])), str(row[1]), from_iso(str(row[2])), str(row[3]), str(row[4]))
            for row in self.catalog.query(query + " ORDER BY id DESC", params)
        ]
