"""Does each model learn what its paper claims?  The experiments behind RESULTS.md, one module per
paper (``thesis``, ``ocgan``, ``fedgan``, ``reid``, ``pegan``), ``common`` for what they share and
``report`` for the file.  The command, its experiments and budgets: ``python -m keras_gens.results
--help`` (keras_gens.cli.results)."""
from __future__ import annotations

import importlib
from pathlib import Path

EXPERIMENTS = ("wae", "ocgan", "fedgan", "reid", "pegan")
MODULES = {"wae": "thesis", "ocgan": "ocgan", "fedgan": "fedgan", "reid": "reid", "pegan": "pegan"}


def _kinds():
    from keras_gens.outputs import Kind, holds_only, register_kind

    # The runs live in one folder per experiment; the figures folder beside the report holds claims.json.
    runs = register_kind(Kind("results", "the results' runs", "python -m keras_gens.results",
                              recognizes=holds_only(EXPERIMENTS)))
    figures = register_kind(Kind("results-figures", "the results' figures", "python -m keras_gens.results",
                                 own=("*.png", "claims.json"),
                                 recognizes=holds_only(("*.png", "claims.json"), needs="claims.json")))
    return runs, figures


RESULTS, FIGURES = _kinds()


def experiment_module(key: str):
    return importlib.import_module(f"keras_gens.results.{MODULES[key]}")


def run(args, argv, log=print) -> int:
    """Run the chosen experiments (``args``: what ``keras_gens.cli.results.parse_args`` gives) and rewrite
    their sections of the report; ``argv`` is recorded in it as the command that made it."""
    import time

    from keras_gens.results import report
    from keras_gens.results.common import Context, format_seconds, forget_section_seconds, section_seconds

    from keras_gens.outputs import check_file, check_folder, mark

    chosen = [k for k in EXPERIMENTS if k in (args.experiments or EXPERIMENTS)]
    out = check_folder(args.out, RESULTS)
    report_file = check_file(args.report, "--report", report.is_results_report, "python -m keras_gens.results")
    figures = check_folder(report_file.parent / "docs" / "results", FIGURES, flag="the report's figures folder")
    ctx = Context(out, figures, args.budget, args.seeds, log=log, jobs=args.jobs)
    mark(out, RESULTS)
    mark(figures, FIGURES)
    modules = {k: experiment_module(k) for k in chosen}
    for module in modules.values():
        ctx.progress.plan(module.planned_runs(ctx))
    for key, module in modules.items():
        log(f"[results] == {key}: {module.TITLE} (budget {args.budget}, {len(ctx.seeds)} seed(s))")
        forget_section_seconds(ctx.out / key)
        started, ctx.worked = time.perf_counter(), False
        section = module.run(ctx)
        section.seconds = section_seconds(ctx.out / key, time.perf_counter() - started, ctx.worked)
        report.write(report_file, figures, [section], ctx, argv)
        for claim in section.claims:
            log(f"[results] {key}: {claim.claim}: {claim.verdict_text(ctx.budget).upper()} ({claim.evidence})")
        log(f"[results] {key} written to {report_file} ({format_seconds(section.seconds)} measured)")
    log(f"[results] done in {ctx.progress.estimate().split(',')[0]}: {report_file}, figures in {figures}")
    return 0
