"""Result tables as CSV (written atomically) and Markdown, for the comparison commands."""
from __future__ import annotations

import csv
import io

from keras_gens.utils.io import atomic_write_text


def _cell(value) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def markdown_table(rows: list[dict], columns: list[str]) -> str:
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(_cell(r.get(c, "")) for c in columns) + " |" for r in rows]
    return "\n".join(lines)


def write_csv(path, rows: list[dict], columns: list[str]):
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, restval="")
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_text(path, buf.getvalue())


def write_markdown_section(path, key: str, text: str):
    """Put ``text`` into the Markdown file between ``<!-- key: begin -->`` and ``<!-- key: end -->``,
    replacing that section where the file has it and appending it otherwise, so that each benchmark
    command rewrites its own part of a shared report (BENCHMARKS.md) and leaves the others."""
    from pathlib import Path

    begin, end = f"<!-- {key}: begin -->", f"<!-- {key}: end -->"
    section = f"{begin}\n{text.strip()}\n{end}\n"
    path = Path(path)
    old = path.read_text() if path.is_file() else ""
    if begin in old and end in old:
        after = old[old.index(end) + len(end):].lstrip("\n")
        new = old[:old.index(begin)] + section + ("\n" + after if after else "")
    else:
        new = (old.rstrip("\n") + "\n\n" if old.strip() else "") + section
    atomic_write_text(path, new)
