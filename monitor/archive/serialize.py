"""JSON forms of model values: ChangeSets (and what they hold) to plain dicts and back.

Owns: the one JSON shape of a ChangeSet, used by the archive's changes/*.json files, by
`--json` output and by the publishers, so that every reader sees the same field names as
the model. Must never: do I/O, or hold any rule about what a change means.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from monitor.model import (
    Alert,
    Category,
    ChangeKind,
    ChangeSet,
    Clause,
    ClauseChange,
    Direction,
    Flag,
    Severity,
    Span,
    SpanOp,
)


def clause_to_dict(clause: Clause | None) -> dict[str, Any] | None:
    if clause is None:
        return None
    return {
        "key": clause.key,
        "heading_path": list(clause.heading_path),
        "label": clause.label,
        "text": clause.text,
    }


def clause_from_dict(data: dict[str, Any] | None) -> Clause | None:
    if data is None:
        return None
    return Clause(data["key"], tuple(data["heading_path"]), data["label"], data["text"])


def change_to_dict(change: ClauseChange) -> dict[str, Any]:
    return {
        "kind": change.kind.value,
        "cosmetic": change.cosmetic,
        "old": clause_to_dict(change.old),
        "new": clause_to_dict(change.new),
        "spans": [[span.op.value, span.text] for span in change.spans],
        "parts": [clause_to_dict(p) for p in change.parts],
    }


def change_from_dict(data: dict[str, Any]) -> ClauseChange:
    parts = tuple(c for c in (clause_from_dict(p) for p in data.get("parts", [])) if c is not None)
    return ClauseChange(
        kind=ChangeKind(data["kind"]),
        old=clause_from_dict(data["old"]),
        new=clause_from_dict(data["new"]),
        spans=tuple(Span(SpanOp(op), text) for op, text in data["spans"]),
        cosmetic=bool(data["cosmetic"]),
        parts=parts,
    )


def changeset_to_dict(changeset: ChangeSet) -> dict[str, Any]:
    data: dict[str, Any] = {
        "old_version_id": changeset.old_version_id,
        "new_version_id": changeset.new_version_id,
        "is_cosmetic": changeset.is_cosmetic,
        "counts": {kind.value: changeset.count(kind) for kind in ChangeKind},
        "changes": [change_to_dict(c) for c in changeset.changes],
    }
    if changeset.notes:  # only when the diff took a coarser path: older files stay as they were
        data["notes"] = list(changeset.notes)
    return data


def changeset_from_dict(data: dict[str, Any]) -> ChangeSet:
    return ChangeSet(
        data["old_version_id"],
        data["new_version_id"],
        tuple(change_from_dict(c) for c in data["changes"]),
        tuple(data.get("notes", ())),
    )


def flag_to_dict(flag: Flag) -> dict[str, Any]:
    return {
        "category": flag.category.value,
        "severity": flag.severity.value,
        "direction": flag.direction.value,
        "rule_id": flag.rule_id,
        "description": flag.description,
        "evidence": flag.evidence,
        "words": list(flag.words),
        "change_index": flag.change_index,
        "change_key": flag.change_key,
    }


def flag_from_dict(data: dict[str, Any]) -> Flag:
    return Flag(
        category=Category(data["category"]),
        severity=Severity(data["severity"]),
        direction=Direction(data["direction"]),
        rule_id=data["rule_id"],
        description=data["description"],
        evidence=data["evidence"],
        words=tuple(data["words"]),
        change_index=data["change_index"],
        change_key=data["change_key"],
    )


def alert_to_dict(alert: Alert) -> dict[str, Any]:
    return {
        "id": alert.id,
        "source_id": alert.source_id,
        "platform": alert.platform,
        "document_type": alert.document_type,
        "audiences": list(alert.audiences),
        "change_id": alert.change_id,
        "recorded_at": alert.recorded_at.isoformat(),
        "title": alert.title,
        "summary": alert.summary,
        "threat": alert.threat,
        "severity": alert.severity.value,
        "categories": [c.value for c in alert.categories],
        "flags": [flag_to_dict(f) for f in alert.flags],
        "path": alert.path,
        **({"decided_at": alert.decided_at.isoformat()} if alert.decided_at else {}),
    }


def alert_from_dict(data: dict[str, Any]) -> Alert:
    return Alert(
        id=data["id"],
        source_id=data["source_id"],
        platform=data["platform"],
        document_type=data["document_type"],
        audiences=tuple(data["audiences"]),
        change_id=data["change_id"],
        recorded_at=datetime.fromisoformat(data["recorded_at"]),
        title=data["title"],
        summary=data["summary"],
        threat=data["threat"],
        severity=Severity(data["severity"]),
        categories=tuple(Category(c) for c in data["categories"]),
        flags=tuple(flag_from_dict(f) for f in data["flags"]),
        path=data["path"],
        decided_at=datetime.fromisoformat(data["decided_at"]) if data.get("decided_at") else None,
    )
