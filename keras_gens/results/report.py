"""RESULTS.md: one section per experiment, each with the command, date, budget, seeds and machine
that made it, and a summary of every claim at the top.

Each experiment rewrites only its own marked section, so ``results reid`` updates the re-ID part
and leaves the others; the claims of every section are kept in ``<figures>/claims.json`` so the
summary at the top always covers the whole file.
"""
from __future__ import annotations

import datetime
import json
import shlex
from pathlib import Path

from keras_gens.results.common import PIPELINE_BUDGETS, VERDICTS, format_seconds, machine

ORDER = ("wae", "ocgan", "fedgan", "reid", "pegan")
HEADER = """# Results: does keras_gens reproduce the papers?

Every number and figure below was produced by `python -m keras_gens.results` (`make results`),
which trains what each experiment needs into ordinary run directories (`runs/results/`,
re-running resumes them) and rewrites its own section of this file and its figures in
`docs/results/`. Nothing here is written by hand. Each section names the command, date, budget,
seeds and machine of its run, and the wall-clock time the experiment took (summed over the
invocations that trained or measured something; two runs train at once, `--jobs 2`; on a shared
machine other work may have run alongside).
`--budget standard` trains every model until it meets its quality bar ("Does each model work?"
opens each section) and is the only budget whose claims are decided; `--budget quick` is a
pipeline check.
"""
SUMMARY_BEGIN = "<!-- summary: begin -->"


def is_results_report(path) -> bool:
    """A report this command wrote (its summary markers): the only kind of file ``--report`` rewrites."""
    try:
        return SUMMARY_BEGIN in Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return False


def section_meta(section, ctx, argv) -> dict:
    return {"command": " ".join(["python -m keras_gens.results", *(shlex.quote(a) for a in argv)]),
            "date": datetime.datetime.now().strftime("%Y-%m-%d %H:%M"), "budget": ctx.budget,
            "seeds": len(ctx.seeds), "machine": machine(), "seconds": round(section.seconds, 1)}


def write(report: Path, figures: Path, sections: list, ctx, argv):
    from keras_gens.utils.io import atomic_write_text
    from keras_gens.utils.tables import markdown_table, write_markdown_section

    store_file = figures / "claims.json"
    store = json.loads(store_file.read_text()) if store_file.is_file() else {}
    if not report.is_file():
        atomic_write_text(report, HEADER + f"\n{SUMMARY_BEGIN}\n<!-- summary: end -->\n")
    elif SUMMARY_BEGIN in (old := report.read_text()):  # the header as this version words it
        atomic_write_text(report, HEADER + "\n" + old[old.index(SUMMARY_BEGIN):])
    for section in sections:
        meta = section_meta(section, ctx, argv)
        store[section.key] = {"title": section.title, "meta": meta,
                              "claims": [c.stored(ctx.budget) for c in section.claims]}
        claims = markdown_table([{"claim": c.claim, "verdict": f"**{c.verdict_text(ctx.budget)}**",
                                  "evidence": c.evidence} for c in section.claims], ["claim", "verdict", "evidence"])
        text = (f"## {section.title}\n\n"
                f"*Made by `{meta['command']}` on {meta['date']}; budget `{meta['budget']}`, {meta['seeds']} "
                f"seed(s); {meta['machine']}; measured time (training + evaluation) "
                f"{format_seconds(meta['seconds'])}.*\n\n"
                f"{claims}\n\n{section.body.strip()}\n")
        write_markdown_section(report, f"results-{section.key}", text)
    atomic_write_text(store_file, json.dumps(store, indent=1, sort_keys=True))
    write_markdown_section(report, "summary", summary(store))
    _order_sections(report)


def summary(store: dict) -> str:
    from keras_gens.utils.tables import markdown_table

    rows, total = [], 0.0
    for key in ORDER:
        if key not in store:
            continue
        meta = store[key]["meta"]
        total += meta["seconds"]
        for c in store[key]["claims"]:
            # Stores from before verdicts took budget and quality bars into account keep only ``holds``: a
            # pipeline budget still decides nothing.
            verdict = c.get("verdict_text") or (f"undecided ({meta['budget']} budget: pipeline check)"
                                                if meta["budget"] in PIPELINE_BUDGETS else VERDICTS[c["holds"]])
            rows.append({"paper": c["paper"], "claim": c["claim"], "verdict": f"**{verdict}**",
                         "budget": f"{meta['budget']}, {meta['seeds']} seed(s)"})
    budgets = sorted({store[k]["meta"]["budget"] for k in store})
    return ("## Claims at a glance\n\n" + markdown_table(rows, ["paper", "claim", "verdict", "budget"])
            + f"\n\nMeasured time of all sections together: {format_seconds(total)} "
              f"(budget{'s' if len(budgets) > 1 else ''} {', '.join(budgets)}).\n")


def _order_sections(report: Path):
    """Keep the sections in the papers' order whatever order they were first written in."""
    from keras_gens.utils.io import atomic_write_text

    text = report.read_text()
    blocks = {}
    for key in ORDER:
        begin, end = f"<!-- results-{key}: begin -->", f"<!-- results-{key}: end -->"
        if begin in text and end in text:
            start, stop = text.index(begin), text.index(end) + len(end)
            blocks[key] = text[start:stop]
            text = text[:start] + text[stop:]
    text = text.rstrip() + "\n\n" + "\n\n".join(blocks[k] for k in ORDER if k in blocks) + "\n"
    while "\n\n\n" in text:
        text = text.replace("\n\n\n", "\n\n")
    atomic_write_text(report, text)
