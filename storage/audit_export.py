"""The audit trail as a file an auditor can check without the bot: JSON Lines or CSV.

Each row holds every hashed field of one event plus its ``hash``, in ``seq`` order,
written as it is read (a batch at a time), so an export of any size takes the same
memory. A row's hash is recomputed as::

    sha256(prev_hash + json.dumps({the hashed fields}, sort_keys=True,
                                  separators=(",", ":"), ensure_ascii=False))

with ``at`` as exported (``2026-12-04T08:13:00.123456Z``), text as UTF-8, and each
``prev_hash`` equal to the ``hash`` of the row before (``"0" * 64`` before event #1).

CSV follows PostgreSQL's ``COPY ... CSV`` convention so that nothing is lost: a null
is an empty unquoted field, every text value is quoted (``""`` is the empty string),
numbers are bare, and text may span lines inside its quotes.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from enum import StrEnum
from typing import IO, Any, Final

from storage.audit import RECORD_FIELDS, EventRecord, canonical_time

_INTEGER_FIELDS: Final = frozenset({"seq", "cert_sn", "reason", "enos_code"})
_CANONICAL_TIME: Final = "%Y-%m-%dT%H:%M:%S.%fZ"


class ExportFormat(StrEnum):
    JSONL = "jsonl"
    CSV = "csv"


class ExportFileError(ValueError):
    """A row of an export file cannot be read; says which line and why."""


def export_row(event: EventRecord) -> dict[str, Any]:
    """One event as exported: its hashed fields and its hash, ``at`` in canonical form."""
    row = {name: getattr(event, name) for name in RECORD_FIELDS}
    row["at"] = canonical_time(event.at)
    return row


def write_export(events: Iterable[EventRecord], out: IO[str], form: ExportFormat) -> int:
    """Write ``events`` to ``out`` as they come; returns how many were written."""
    count = 0
    if form is ExportFormat.CSV:
        out.write(",".join(RECORD_FIELDS) + "\n")
    for event in events:
        row = export_row(event)
        if form is ExportFormat.CSV:
            out.write(",".join(_csv_value(row[name]) for name in RECORD_FIELDS) + "\n")
        else:
            out.write(json.dumps(row, ensure_ascii=False, separators=(",", ":")) + "\n")
        count += 1
    return count


def _csv_value(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, int):
        return str(value)
    return '"' + str(value).replace('"', '""') + '"'


def read_export(lines: Iterable[str], form: ExportFormat) -> Iterator[EventRecord]:
    """The events of an export file, in file order, one line (or CSV record) at a time."""
    if form is ExportFormat.CSV:
        yield from _read_csv(lines)
        return
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError as error:
            raise ExportFileError(f"line {number} is not JSON: {error}") from None
        if not isinstance(row, dict):
            raise ExportFileError(f"line {number} is not a JSON object")
        unknown = set(row) - set(RECORD_FIELDS)
        if unknown:
            # An outside checker would hash these too; the file is not what was exported.
            raise ExportFileError(f"line {number} has fields no export has: {sorted(unknown)}")
        yield _record(row, number)


def _read_csv(lines: Iterable[str]) -> Iterator[EventRecord]:
    header: list[str | None] | None = None
    for number, fields in _csv_records(lines):
        if header is None:
            header = fields
            if tuple(header) != RECORD_FIELDS:
                raise ExportFileError(f"line {number}: the header is not {','.join(RECORD_FIELDS)}")
            continue
        if len(fields) != len(RECORD_FIELDS):
            raise ExportFileError(
                f"line {number}: {len(fields)} fields, expected {len(RECORD_FIELDS)}"
            )
        row: dict[str, Any] = {}
        for name, value in zip(RECORD_FIELDS, fields, strict=True):
            row[name] = _csv_integer(value, name, number) if name in _INTEGER_FIELDS else value
        yield _record(row, number)


def _csv_integer(value: str | None, name: str, number: int) -> int | None:
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        raise ExportFileError(f"line {number}: {name} is not a whole number") from None


_NULLABLE: Final = frozenset(
    {
        "asset_id",
        "product_key",
        "device_key",
        "note",
        "enos_request_id",
        "enos_code",
        "enos_msg",
        "channel_id",
        "message_ts",
    }
)


def _well_typed(name: str, value: object) -> bool:
    if value is None:
        return name in _NULLABLE
    if name in _INTEGER_FIELDS:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, str)


# A quoted field (quotes doubled inside) or a bare one.
_CSV_FIELD = re.compile(r'"((?:[^"]|"")*)"|([^,"\r\n]*)')


def _csv_records(lines: Iterable[str]) -> Iterator[tuple[int, list[str | None]]]:
    """RFC 4180 records, telling a quoted empty field ("") from a bare one (null)."""
    pending, first_line = "", 0
    for number, line in enumerate(lines, start=1):
        if not pending:
            first_line = number
        pending += line
        if pending.count('"') % 2:
            continue  # inside quotes: the value goes on past this line break
        record = pending.rstrip("\r\n")
        pending = ""
        if record:
            yield first_line, _csv_fields(record, first_line)
    if pending:
        raise ExportFileError(f"line {first_line}: a quoted value is never closed")


def _csv_fields(record: str, number: int) -> list[str | None]:
    fields: list[str | None] = []
    position = 0
    while True:
        match = _CSV_FIELD.match(record, position)
        assert match is not None  # the bare alternative matches the empty string
        quoted, bare = match.groups()
        if quoted is not None:
            fields.append(quoted.replace('""', '"'))
        else:
            fields.append(bare or None)
        position = match.end()
        if position == len(record):
            return fields
        if record[position] != ",":
            raise ExportFileError(f"line {number}: unexpected {record[position]!r}")
        position += 1


def _record(row: dict[str, Any], number: int) -> EventRecord:
    missing = [name for name in RECORD_FIELDS if name not in row]
    if missing:
        raise ExportFileError(f"line {number}: no {', '.join(missing)}")
    values = {name: row[name] for name in RECORD_FIELDS}
    for name, value in values.items():
        if not _well_typed(name, value):
            raise ExportFileError(f"line {number}: {name} has the wrong type")
    try:
        values["at"] = datetime.strptime(str(row["at"]), _CANONICAL_TIME).replace(tzinfo=UTC)
    except ValueError:
        raise ExportFileError(
            f"line {number}: at is not like 2026-12-04T08:13:00.000000Z"
        ) from None
    return EventRecord(**values)
