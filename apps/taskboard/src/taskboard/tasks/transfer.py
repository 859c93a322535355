"""Tasks in and out as files: CSV import, CSV or JSON export, each run as a job.

An import is checked whole when it is sent (:func:`read_import`): a file with any bad row is
refused with every row's mistakes and imports nothing. A good file becomes a job that adds its
tasks in batches, each committed with the job's cursor, so an import that a killed worker
started resumes where it stopped and never adds a row twice.

An export streams the user's tasks in id order, a batch at a time, into a file of its own that
its owner may download until it expires; memory stays flat whatever the number of tasks.
Cells that a spreadsheet would run as a formula (first character ``=``, ``+``, ``-``, ``@``, tab
or carriage return) get a leading ``'``, as OWASP advises against CSV injection; an import takes
that ``'`` off again, so an export imports back as the same tasks.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import os
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, Final

from sqlalchemy import func, select

from taskboard.accounts.service import aware
from taskboard.jobs.service import Body, JobRun
from taskboard.settings import Settings
from taskboard.tasks.forms import NOTES_MAX, TITLE_MAX
from taskboard.tasks.models import Task

logger = logging.getLogger("taskboard.jobs")

IMPORT_KIND: Final = "import-tasks"
EXPORT_KIND: Final = "export-tasks"

IMPORT_MAX_BYTES: Final = 5_000_000
"""The largest file an import takes (5 MB, about 50,000 short tasks); larger is a 413."""
IMPORT_MAX_ROWS: Final = 20_000
"""The most tasks one import adds."""
IMPORT_BATCH: Final = 500
"""Tasks added per transaction (each commits the job's cursor with it)."""
EXPORT_BATCH: Final = 1_000
EXPORT_TTL: Final = timedelta(hours=24)
"""How long an export's file can be downloaded."""
MAX_ERRORS_SHOWN: Final = 50

COLUMNS: Final = ("title", "notes", "due_on", "done")
_FORMULA_START: Final = ("=", "+", "-", "@", "\t", "\r")
_TRUE: Final = {"true", "yes", "1", "done", "x"}
_FALSE: Final = {"false", "no", "0", "open", ""}
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


@dataclass(frozen=True, slots=True)
class RowError:
    """One mistake in an import: its row (the header is row 1), its column and what to fix."""

    row: int
    column: str
    message: str


@dataclass(frozen=True, slots=True)
class ImportRow:
    title: str
    notes: str
    due_on: date | None
    done: bool


class ImportRefused(Exception):
    """The file as a whole cannot be imported: ``message`` says why; ``errors`` lists rows."""

    def __init__(self, message: str, errors: tuple[RowError, ...] = (), total: int = 0) -> None:
        super().__init__(message)
        self.message = message
        self.errors = errors
        self.total_errors = total or len(errors)


# --- reading an import ---------------------------------------------------------------------------


def read_import(content: bytes) -> list[ImportRow]:
    """Every row of a CSV file of tasks, or :class:`ImportRefused` saying what to fix.

    UTF-8 with or without a byte-order mark; ``,`` or ``;`` between cells (whichever the header
    uses); a header row naming ``title`` and any of ``notes``, ``due_on`` (YYYY-MM-DD) and
    ``done`` (true/false, yes/no, 1/0), in any order and any case."""
    if not content.strip():
        raise ImportRefused("The file is empty. Choose a CSV file with a header row and tasks.")
    if b"\x00" in content[:4096]:
        raise ImportRefused(
            "This file is not a CSV file (it looks like a binary file, such as a spreadsheet or "
            "an image). Save it as “CSV UTF-8” and choose that file."
        )
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ImportRefused(
            f"The file is not UTF-8 text (byte {exc.start + 1} is not). Save it as “CSV UTF-8” "
            "and try again."
        ) from None
    header_line = text.split("\n", 1)[0]
    delimiter = ";" if header_line.count(";") > header_line.count(",") else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    try:
        header = next(reader)
    except (csv.Error, StopIteration):
        raise ImportRefused(
            "The first row must name the columns: title, notes, due_on, done."
        ) from None
    names = [name.strip().lower() for name in header]
    unknown = [name for name in names if name not in COLUMNS]
    if "title" not in names or unknown:
        found = ", ".join(f"“{n}”" for n in names if n) or "nothing"
        raise ImportRefused(
            "The first row must name the columns: title (needed), and any of notes, due_on and "
            f"done; this file's first row has {found}."
        )
    if len(set(names)) != len(names):
        raise ImportRefused("The first row names a column twice; name each column once.")
    rows: list[ImportRow] = []
    errors: list[RowError] = []
    total_errors = 0
    try:
        for number, cells in enumerate(reader, start=2):
            if not any(cell.strip() for cell in cells):
                continue  # a blank line
            if len(rows) >= IMPORT_MAX_ROWS:
                raise ImportRefused(
                    f"The file has more than {IMPORT_MAX_ROWS:,} tasks; split it into smaller "
                    "files and import each."
                )
            row, row_errors = _row(number, names, cells)
            if row_errors:
                total_errors += len(row_errors)
                errors.extend(row_errors[: max(0, MAX_ERRORS_SHOWN - len(errors))])
            elif row is not None:
                rows.append(row)
    except csv.Error as exc:
        raise ImportRefused(
            f"Row {reader.line_num} cannot be read as CSV ({exc}); check its quotes."
        ) from None
    if total_errors:
        raise ImportRefused(
            f"Nothing was imported: {total_errors:,} "
            f"{'mistake' if total_errors == 1 else 'mistakes'} to fix in the file first.",
            tuple(errors),
            total_errors,
        )
    if not rows:
        raise ImportRefused("The file has a header row but no tasks under it.")
    return rows


def _row(
    number: int, names: list[str], cells: list[str]
) -> tuple[ImportRow | None, list[RowError]]:
    errors: list[RowError] = []
    if len(cells) > len(names):
        return None, [
            RowError(number, "", f"Has {len(cells)} cells but the header names {len(names)}.")
        ]
    values = {name: _unescape(cells[i]) if i < len(cells) else "" for i, name in enumerate(names)}
    for name, value in values.items():
        if "\x00" in value:
            errors.append(RowError(number, name, "Contains a NUL character; remove it."))
    title = values.get("title", "").strip()
    if not title:
        errors.append(RowError(number, "title", "Enter the title: a task cannot be without one."))
    elif len(title) > TITLE_MAX:
        errors.append(
            RowError(number, "title", f"Is {len(title)} characters; at most {TITLE_MAX}.")
        )
    notes = values.get("notes", "").replace("\r\n", "\n").strip()
    if len(notes) > NOTES_MAX:
        errors.append(
            RowError(number, "notes", f"Is {len(notes)} characters; at most {NOTES_MAX:,}.")
        )
    due_on: date | None = None
    due_text = values.get("due_on", "").strip()
    if due_text:
        try:
            if not _ISO_DATE.fullmatch(due_text):
                raise ValueError
            due_on = date.fromisoformat(due_text)
        except ValueError:
            errors.append(
                RowError(number, "due_on", f"“{due_text[:40]}” is not a date like 2026-12-31.")
            )
    done_text = values.get("done", "").strip().lower()
    if done_text not in _TRUE | _FALSE:
        errors.append(RowError(number, "done", f"“{done_text[:40]}” is not true or false."))
    if errors:
        return None, errors
    return ImportRow(title, notes, due_on, done_text in _TRUE), []


def _escape(cell: str) -> str:
    return "'" + cell if cell.startswith(_FORMULA_START) else cell


def _unescape(cell: str) -> str:
    return cell[1:] if cell.startswith("'") and cell[1:].startswith(_FORMULA_START) else cell


# --- the jobs ------------------------------------------------------------------------------------


async def import_tasks(run: JobRun) -> dict[str, Any]:
    """Add the file's tasks from the job's cursor on, a batch per transaction."""
    rows = read_import(run.job.input or b"")
    total = len(rows)
    owner_id = run.job.owner_id
    for start in range(run.job.cursor, total, IMPORT_BATCH):
        batch = rows[start : start + IMPORT_BATCH]
        async with run.database.sessionmaker() as session:
            session.add_all(
                Task(owner_id=owner_id, title=r.title, notes=r.notes, due_on=r.due_on, done=r.done)
                for r in batch
            )
            end = start + len(batch)
            await run.step(session, cursor=end, progress=end / total)
            await session.commit()
    return {"imported": total, "file_name": run.job.input_name or ""}


def exports_dir(settings: Settings) -> Path:
    return settings.data_dir / "exports"


def exporter(settings: Settings) -> Body:
    directory = exports_dir(settings)

    async def export_tasks(run: JobRun) -> dict[str, Any]:
        """Write every task of the owner to a new file, a batch at a time."""
        fmt = "json" if run.params.get("format") == "json" else "csv"
        owner_id = run.job.owner_id
        async with run.database.sessionmaker() as session:
            total = int(
                await session.scalar(select(func.count()).where(Task.owner_id == owner_id)) or 0
            )
        directory.mkdir(parents=True, exist_ok=True)
        name = f"{run.job.id}-{secrets.token_hex(8)}.{fmt}"
        partial = directory / (name + ".part")
        written = 0
        with partial.open("w", encoding="utf-8", newline="") as out:
            writer = csv.writer(out) if fmt == "csv" else None
            if writer is not None:
                out.write("\ufeff")  # spreadsheets read UTF-8 by this mark
                writer.writerow(COLUMNS)
            else:
                out.write("[")
            last_id = 0
            while True:
                async with run.database.sessionmaker() as session:
                    batch = list(
                        await session.execute(
                            select(Task.id, Task.title, Task.notes, Task.due_on, Task.done)
                            .where(Task.owner_id == owner_id, Task.id > last_id)
                            .order_by(Task.id)
                            .limit(EXPORT_BATCH)
                        )
                    )
                if not batch:
                    break
                for task_id, title, notes, due_on, done in batch:
                    due = due_on.isoformat() if due_on else ""
                    if writer is not None:
                        writer.writerow(
                            [_escape(title), _escape(notes), due, "true" if done else "false"]
                        )
                    else:
                        item = {"title": title, "notes": notes, "due_on": due or None, "done": done}
                        out.write(("," if written else "") + "\n" + json.dumps(item))
                    written += 1
                    last_id = task_id
                await run.report(written / total if total else 1.0)
            if writer is None:
                out.write("\n]\n")
        os.replace(partial, directory / name)
        expires = datetime.now(UTC) + EXPORT_TTL
        return {
            "format": fmt,
            "rows": written,
            "bytes": (directory / name).stat().st_size,
            "file": name,
            "expires_at": expires.isoformat(timespec="seconds"),
        }

    return export_tasks


def export_path(settings: Settings, result: dict[str, Any] | None) -> Path | None:
    """The file of a finished export, while it may still be downloaded; else ``None``."""
    if not result or not isinstance(result.get("file"), str):
        return None
    expires = aware(datetime.fromisoformat(str(result["expires_at"])))
    if expires <= datetime.now(UTC):
        return None
    path = exports_dir(settings) / Path(result["file"]).name
    return path if path.is_file() else None


def delete_expired_exports(settings: Settings) -> int:
    """Delete export files past :data:`EXPORT_TTL` (and any a crash left half-written)."""
    directory = exports_dir(settings)
    if not directory.is_dir():
        return 0
    cutoff = datetime.now(UTC).timestamp() - EXPORT_TTL.total_seconds()
    deleted = 0
    for path in directory.iterdir():
        try:
            if path.stat().st_mtime < cutoff:
                path.unlink()
                deleted += 1
        except FileNotFoundError:
            continue
    return deleted
