"""``metrics.csv``: one row per epoch, columns added as new metrics appear (e.g. FID from evaluate)."""
from __future__ import annotations

import csv
import io
from pathlib import Path

from keras_gens.utils.io import atomic_write_text


def read_rows(path, key: str = "epoch") -> list[dict]:
    """The table's rows (none if there is no file); each row's ``key`` (where the table has that column)
    must be a whole number, so that a
    damaged table stops a resumed run with one message instead of a traceback deep inside it."""
    from keras_gens.errors import RunDirError

    path = Path(path)
    if not path.is_file():
        return []
    try:
        with open(path, newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            rows, columns = list(reader), reader.fieldnames or []
    except (UnicodeDecodeError, csv.Error) as exc:
        raise RunDirError(f"{path} cannot be read as a table ({exc}); restore it, or move it aside to start "
                          "the table afresh (the checkpoints are not affected)") from None
    for line, row in enumerate(rows if key in columns else [], 2):
        value = (row.get(key) or "").strip()
        if not value.isdigit():
            raise RunDirError(f"{path}, line {line}: '{key}' is {row.get(key)!r}, not a whole number; restore the "
                              "file, or delete that line (the checkpoints are not affected)")
    return rows


def write_rows(path, rows: list[dict]):
    columns = ["epoch"]
    for row in rows:
        columns += [k for k in row if k not in columns]
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, restval="")
    writer.writeheader()
    for row in rows:
        writer.writerow(row)
    atomic_write_text(path, buf.getvalue())


def upsert(path, epoch: int, values: dict):
    """Set ``values`` in the row of ``epoch`` (adding the row or columns as needed)."""
    rows = read_rows(path)
    for row in rows:
        if int(row["epoch"]) == epoch:
            row.update({k: _fmt(v) for k, v in values.items()})
            break
    else:
        rows.append({"epoch": epoch, **{k: _fmt(v) for k, v in values.items()}})
        rows.sort(key=lambda r: int(r["epoch"]))
    write_rows(path, rows)


def truncate(path, last_epoch: int):
    """Drop rows after ``last_epoch`` (epochs a resumed run will train again)."""
    rows = read_rows(path)
    kept = [r for r in rows if int(r["epoch"]) <= last_epoch]
    if len(kept) != len(rows):
        write_rows(path, kept)


def _fmt(value):
    try:
        return f"{float(value):.6g}"
    except (TypeError, ValueError):
        return value
