"""``metrics.csv``: one row per epoch, columns added as new metrics appear (e.g. FID from evaluate)."""
from __future__ import annotations

import csv
import io
from pathlib import Path

from keras_gens.utils.io import atomic_write_text


def read_rows(path) -> list[dict]:
    path = Path(path)
    if not path.is_file():
        return []
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


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
