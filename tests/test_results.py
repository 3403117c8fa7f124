"""The results pipeline end to end at the tiny budget: runs, RESULTS.md, figures, resuming.

The tiny budget checks the plumbing only: its numbers mean nothing, and nothing here asserts
their quality.  The FID weights are absent in the test home, so FID columns are 'n/a' and the
FID claims undecided, as on a machine without ``make fid-weights``.
"""
import json
import math
import re

import numpy as np
import pytest

from keras_gens import results
from keras_gens.cli.results import parse_args
from keras_gens.results import common, ocgan, report

SECTIONS = ("wae", "ocgan", "fedgan", "reid", "pegan")
# The default suite runs two experiments through the whole pipeline (runs, claims, report, figures,
# resuming, rewriting one section); all five take 5 minutes on 2 cores: `make test-slow`.
QUICK_SECTIONS = ("reid", "pegan")


def _tiny(root, sections=()):
    argv = [*sections, "--budget", "tiny", "--seeds", "1", "--out", str(root / "runs"),
            "--report", str(root / "RESULTS.md")]
    lines = []
    assert results.run(parse_args(argv), argv, log=lines.append) == 0
    return root, argv, lines


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    return _tiny(tmp_path_factory.mktemp("results"), QUICK_SECTIONS)


@pytest.fixture(scope="module")
def tiny_run_all(tmp_path_factory):
    return _tiny(tmp_path_factory.mktemp("results_all"))


@pytest.mark.parametrize("which", ["tiny_run", pytest.param("tiny_run_all",
                                                             marks=[pytest.mark.slow, pytest.mark.federated])])
def test_every_section_claim_and_figure_is_written(which, request):
    root, _, lines = request.getfixturevalue(which)
    sections = QUICK_SECTIONS if which == "tiny_run" else SECTIONS
    text = (root / "RESULTS.md").read_text()
    assert text.startswith("# Results")
    for key in sections:
        assert f"<!-- results-{key}: begin -->" in text and f"<!-- results-{key}: end -->" in text
    # the sections stand in the papers' order, after the summary
    positions = [text.index(f"<!-- results-{k}: begin -->") for k in sections]
    assert positions == sorted(positions) and text.index("Claims at a glance") < positions[0]
    # every section names its command, budget, seeds and machine, and its measured time
    made_by = r"\*Made by `python -m keras_gens\.results [^`]*--budget tiny --seeds 1"
    assert len(re.findall(made_by, text)) == len(sections)
    assert text.count("budget `tiny`, 1 seed(s)") == len(sections)
    assert len(re.findall(r"measured time \(training \+ evaluation\) \d", text)) == len(sections)
    # every figure the report links exists beside it
    linked = re.findall(r"\]\((docs/results/[^)]+\.png)\)", text)
    assert len(linked) >= (10 if sections == SECTIONS else 4)
    for path in linked:
        assert (root / path).is_file() and (root / path).stat().st_size > 1000, path
    # the claims table: one row per claim, a verdict in each
    store = json.loads((root / "docs" / "results" / "claims.json").read_text())
    assert set(store) == set(sections)
    claims = [c for s in store.values() for c in s["claims"]]
    assert len(claims) >= (9 if sections == SECTIONS else 4)
    summary = text[text.index("Claims at a glance"):positions[0]]
    assert summary.count("| **") == len(claims)
    assert all(c["holds"] in (True, False, None) and c["evidence"] for c in claims)
    # a pipeline budget decides nothing, whatever the runs measured
    assert all(c["verdict"] == "undecided" and c["verdict_text"] == "undecided (tiny budget: pipeline check)"
               and set(c["quality_bar"]) == {"met", "detail"} for c in claims)
    assert summary.count("**undecided (tiny budget: pipeline check)**") == len(claims)
    # every section says whether its models work before it judges their claims
    for key in sections:
        body = text[text.index(f"<!-- results-{key}: begin -->"):text.index(f"<!-- results-{key}: end -->")]
        assert "**Does each model work?**" in body, key
    # markdown tables are well formed: every row of a table has its header's number of cells
    for table in re.findall(r"(?:^\|.*\|\n)+", text, flags=re.M):
        widths = {row.count("|") for row in table.strip().splitlines()}
        assert len(widths) == 1, table
    # progress: which run, which epoch, and a time estimate
    assert any(re.match(r"\[results\] run \d+/\d+: \w+/", line) for line in lines)
    assert any("epoch 1/" in line and "left" in line for line in lines)


@pytest.mark.slow  # (make test-slow) needs the wae and ocgan experiments
@pytest.mark.federated  # all five sections, fedgan among them
def test_without_fid_weights_the_fid_claims_are_undecided(tiny_run_all):
    root, _, _ = tiny_run_all
    store = json.loads((root / "docs" / "results" / "claims.json").read_text())
    for key in ("wae", "ocgan"):
        assert all(c["holds"] is None for c in store[key]["claims"])


def test_rerunning_resumes_instead_of_retraining(tiny_run):
    root, argv, _ = tiny_run
    checkpoints = sorted(p.name for p in (root / "runs").rglob("ckpt-*.index"))
    evaluations = {p: p.read_text() for p in (root / "runs").rglob("results_eval.json")}
    lines = []
    assert results.run(parse_args(argv), argv, log=lines.append) == 0
    assert sorted(p.name for p in (root / "runs").rglob("ckpt-*.index")) == checkpoints
    assert not any(line.strip().startswith("trained epochs") for line in lines)  # nothing trained again
    assert {p: p.read_text() for p in (root / "runs").rglob("results_eval.json")} == evaluations


def test_one_experiment_rewrites_only_its_section(tiny_run, tmp_path):
    root, _, _ = tiny_run
    report_file = tmp_path / "RESULTS.md"
    report_file.write_text((root / "RESULTS.md").read_text())
    (tmp_path / "docs").mkdir()
    import shutil

    shutil.copytree(root / "docs" / "results", tmp_path / "docs" / "results")
    before = report_file.read_text()
    argv = ["pegan", "--budget", "tiny", "--seeds", "1", "--out", str(root / "runs"), "--report", str(report_file)]
    assert results.run(parse_args(argv), argv, log=lambda m: None) == 0
    after = report_file.read_text()

    def section(text, key):
        return text[text.index(f"<!-- results-{key}: begin -->"):text.index(f"<!-- results-{key}: end -->")]

    for key in QUICK_SECTIONS[:-1]:
        assert section(after, key) == section(before, key)
    assert "results pegan --budget tiny" in section(after, "pegan")


def test_pegan_runs_keep_their_occupancy_curve(tiny_run):
    from keras_gens.utils import metrics_csv

    root, _, _ = tiny_run
    for label in ("pe_gan-s0", "wgan_gp_cond-s0"):
        rows = metrics_csv.read_rows(root / "runs" / "pegan" / label / "metrics.csv")
        assert rows and all(0.0 <= float(r["fake_mean_occupancy"]) <= 1.0 for r in rows), label
        assert all(float(r["occupancy_rel_error"]) >= 0.0 for r in rows), label
    text = (root / "RESULTS.md").read_text()
    assert "![occupancy during training](docs/results/pegan_occupancy_curve.png)" in text
    assert "| sensor pattern (corr.) |" in text
    # both models train at twice their smoke widths (at the smoke width PE-GAN's occupancy stalls)
    from keras_gens.config import load_yaml

    assert load_yaml(root / "runs" / "pegan" / "pe_gan-s0" / "config.yaml")["model"]["ch"] == 16
    assert load_yaml(root / "runs" / "pegan" / "wgan_gp_cond-s0" / "config.yaml")["model"]["base_filters"] == 16


def test_bad_arguments_are_refused():
    with pytest.raises(SystemExit):
        parse_args(["thesis"])
    from keras_gens.errors import ConfigError

    with pytest.raises(ConfigError, match="--seeds must be at least 1"):
        common.Context("out", "figs", "quick", 0)
    with pytest.raises(ConfigError, match="--jobs must be at least 1"):
        common.Context("out", "figs", "quick", 1, jobs=0)


def test_the_runs_train_side_by_side_and_count_once(tiny_run):
    # tiny_run trains with the default two jobs: the two PE-GAN runs in two worker processes
    _, _, lines = tiny_run
    started = [line for line in lines if re.match(r"\[results\] run \d+/\d+: pegan/", line)]
    assert sorted(line.split(": ")[1].split(" ")[0] for line in started) == ["pegan/pe_gan-s0",
                                                                             "pegan/wgan_gp_cond-s0"]
    numbers = [int(re.match(r"\[results\] run (\d+)/(\d+)", line).group(1)) for line in lines
               if line.startswith("[results] run ")]
    total = int(re.match(r"\[results\] run \d+/(\d+)", started[0]).group(1))
    assert max(numbers) <= total  # a run the workers trained is not counted again when its scores are read
    # the workers' own log lines reach this process's log
    assert any(line.strip().startswith("trained epochs") for line in lines)


def test_a_workers_error_reaches_the_command_and_stops_the_other_runs(tmp_path):
    from keras_gens.errors import ConfigError
    from keras_gens.run_dirs import latest_checkpoint

    ctx = common.Context(tmp_path / "runs", tmp_path / "figs", "tiny", 1, log=lambda m: None, jobs=2)
    tiny = ("model.g_blocks_per_stage=1", "model.d_blocks_per_stage=[1, 1, 1]", "train.steps_per_epoch=1")
    specs = [common.RunSpec("bad", "pe_gan", ("train.epochs=1", "model.ch=0")),
             common.RunSpec("long", "pe_gan", ("train.epochs=500", *tiny))]
    with pytest.raises(ConfigError, match="model.ch"):
        ctx.train_all("pegan", specs)
    assert not (tmp_path / "runs" / "pegan" / "bad").exists()  # nothing half-written
    # the other run was stopped, not waited for: it is resumable, and far from its 500 epochs
    latest = latest_checkpoint(tmp_path / "runs" / "pegan" / "long")
    assert latest is None or int(latest.rsplit("-", 1)[1]) < 500


def test_an_experiments_time_adds_up_over_the_invocations_that_worked(tmp_path):
    folder = tmp_path / "ocgan"
    assert common.section_seconds(folder, 30.0, worked=True) == 30.0
    assert common.section_seconds(folder, 99.0, worked=False) == 30.0  # only re-tabulated: adds nothing
    assert common.section_seconds(folder, 12.5, worked=True) == 42.5
    (folder / "dcgan-s0").mkdir()
    common.forget_section_seconds(folder)  # a run is there: its time is kept
    assert common.section_seconds(folder, 0.0, worked=False) == 42.5
    (folder / "dcgan-s0").rmdir()
    common.forget_section_seconds(folder)  # the runs were deleted to re-run them: the clock starts afresh
    assert common.section_seconds(folder, 5.0, worked=True) == 5.0


def test_the_sensor_pattern_is_the_correlation_of_the_per_sensor_occupancies():
    from keras_gens.results import pegan

    real = [0.1, 0.4, 0.2, 0.3]
    assert pegan.sensor_correlation(real, [0.2, 0.5, 0.3, 0.4]) == pytest.approx(1.0)  # same pattern, shifted
    assert pegan.sensor_correlation(real, [0.4, 0.1, 0.3, 0.2]) == pytest.approx(-1.0)
    assert math.isnan(pegan.sensor_correlation(real, [0.2] * 4))  # flat: no pattern to compare


def _conditioned(correlation, ceiling=0.9, occupancy=0.0105, data=0.01):
    return {"conditioning_correlation": correlation, "conditioning_ceiling": ceiling,
            "conditioning_mean_occupancy": occupancy, "data_mean_occupancy": data, "per_sensor": 32}


def test_pegan_quality_bar_needs_the_sensor_pattern_and_the_mean_occupancy_in_every_seed():
    from keras_gens.results import pegan

    assert pegan.conditioning_met(_conditioned(0.81)) == (True, True)  # 0.81 = 0.9 x 0.9; +5% occupancy
    assert pegan.conditioning_met(_conditioned(0.80)) == (False, True)
    assert pegan.conditioning_met(_conditioned(0.95, occupancy=0.0089)) == (True, False)  # -11%
    scores = {"pe_gan": [_conditioned(0.85), _conditioned(0.85)], "wgan_gp_cond": [_conditioned(0.9)] * 2}
    rows, bar = pegan.quality(scores, [0, 1])
    assert bar["met"] and len(rows) == 4
    scores["pe_gan"][1] = _conditioned(0.3, occupancy=0.02)
    rows, bar = pegan.quality(scores, [0, 1])
    assert not bar["met"] and bar["detail"] == ("PE-GAN seed 1: sensor-pattern correlation 0.30 < 0.9 × ceiling "
                                                "0.90; PE-GAN seed 1: mean occupancy +100% from the data's (bar ±10%)")
    assert [r["≥ 0.9 × ceiling"] for r in rows] == ["yes", "**no**", "yes", "yes"]


def test_reid_quality_bar_is_every_extractor_above_pixels_by_ten_points():
    from keras_gens.results import reid

    scores = {row: [{"mAP": 0.40}, {"mAP": 0.45}] for row in reid.ROWS}
    rows, bar = reid.quality(scores, 0.25, [0, 1])
    assert bar["met"] and len(rows) == 6 and rows[0]["above pixels (points)"] == "+15.0"
    scores["stage 1"][1] = {"mAP": 0.34}
    _, bar = reid.quality(scores, 0.25, [0, 1])
    assert bar == {"met": False, "detail": "stage 1 seed 1: mAP 34.0% is 9.0 points above pixels' (bar 10)"}


def test_fedgan_pairwise_distances_and_quality_bars():
    from keras_gens.results import fedgan

    images = np.random.default_rng(3).random((5, 4, 4))
    brute = [np.linalg.norm(images[i] - images[j]) for i in range(5) for j in range(i + 1, 5)]
    total, pairs = fedgan.pairwise_distance_sum(images)
    assert pairs == 10 and total == pytest.approx(sum(brute), rel=1e-9)
    assert fedgan.pairwise_distance_sum(images[:1]) == (0.0, 0)
    classes = [[95, 100], [45, 50]]  # correct, total per class: 140 of 150 = 93.3%
    checks = {("digits", 0): {"central_accuracy": 0.95, "judge_test_accuracy": 0.97,
                              "classes": {"iid-fedavg-cgan": classes}, "diversity": {"iid-fedavg-cgan": [0.8, 0.6]}}}
    rows, misses = fedgan.quality(checks, ["digits"], [0])
    assert [r["met"] for r in rows] == ["yes", "yes"] and not any(misses.values())
    assert rows[1]["measure"] == "labels kept 93.3% (judge 97.0% on real test digits); spread 0.60× real"
    checks["digits", 0].update(central_accuracy=0.85, diversity={"iid-fedavg-cgan": [0.8, 0.4]})
    rows, misses = fedgan.quality(checks, ["digits"], [0])
    assert misses["digits", "mlp"] == ["digits seed 0: central MLP 85.0% < 90%"]
    assert misses["digits", "gan"] == ["digits seed 0 iid-fedavg-cgan: generated images of a class spread 0.40× as "
                                       "far as real ones (bar 0.5)"]


def test_collapses_count_fid_jumps_over_the_best_so_far():
    assert ocgan.collapses({1: 100.0, 2: 90.0, 3: 80.0}) == 0
    assert ocgan.collapses({1: 100.0, 2: 60.0, 3: 95.0, 4: 50.0}) == 1  # 95 > 1.5 x 60
    assert ocgan.collapses({1: 300.0, 2: 100.0, 3: 160.0, 4: 170.0}) == 2


def test_a_collapse_is_also_a_drop_in_recall_or_coverage():
    fid = {1: 100.0, 2: 80.0, 3: 78.0, 4: 75.0}  # FID alone sees nothing
    recall = {1: 0.30, 2: 0.40, 3: 0.20, 4: 0.45}  # epoch 3: 0.20 < 0.40 / 1.5
    coverage = {1: 0.50, 2: 0.60, 3: 0.55, 4: 0.35}  # epoch 4: 0.35 < 0.60 / 1.5
    assert ocgan.collapses(fid) == 0
    assert ocgan.collapses(fid, (recall,)) == 1
    assert ocgan.collapses(fid, (recall, coverage)) == 2
    assert ocgan.collapses(fid, ({1: 0.0, 2: 0.0},)) == 0  # nothing learned yet is no drop
    assert ocgan.collapses(fid, ({1: 0.09, 2: 0.03},)) == 0  # below the floor: noise, not a drop
    # an epoch that both jumps in FID and drops recall counts once
    assert ocgan.collapses({1: 50.0, 2: 90.0}, ({1: 0.5, 2: 0.1},)) == 1


def _final(fid, shares=(0.1,) * 10):
    return {"fid": fid, "class_shares": list(shares), "judge_accuracy": 0.97}


def test_ocgan_quality_bars_by_loss_and_mode_coverage():
    ctx = common.Context("out", "figs", "standard", 2)
    labels = [label for label, _, _ in ocgan.runs(ctx)]
    finals = {label: [_final(60.0), _final(65.0)] for label in labels}
    finals["wgan"] = [_final(95.0), _final(99.0)]  # WGAN's bar is 100
    finals["wgan_oct"] = [_final(90.0), _final(80.0)]
    finals["dcgan_RAMP"] = [_final(300.0)]  # RAMP and COMBI take one seed and enter no claim
    finals["dcgan_COMBI"] = [_final(64.0)]
    rows, misses = ocgan.quality(finals, ctx, fid=True)
    assert misses == [] and len(rows) == 6 * 2 + 2
    assert [r["FID met"] for r in rows if r["run"] == "dcgan_RAMP"] == ["**no**"]
    finals["lsgan_oct"][1] = _final(71.0)
    finals["dcgan"][0] = _final(50.0, [0.91] + [0.01] * 9)  # one digit: a collapsed generator
    _, misses = ocgan.quality(finals, ctx, fid=True)
    assert misses == ["dcgan seed 0: digits outside 2%–25% of the samples: 0: 91.0%, 1: 1.0%, 2: 1.0%, 3: 1.0%, "
                      "4: 1.0%, 5: 1.0%, 6: 1.0%, 7: 1.0%, 8: 1.0%, 9: 1.0%", "lsgan_oct seed 1: FID 71.0 > 70"]
    claims = ocgan.claims_of({name: {"best": (60.0, 1.0), "final": (60.0, 1.0), "collapses": 0}
                              for name in labels}, "fid", 2, misses)
    assert all(c.verdict_at("standard") == "undecided" and "lsgan_oct seed 1: FID 71.0 > 70" in
               c.verdict_text("standard") for c in claims)


def test_mean_std_and_summary_formats():
    assert common.pm([1.0, 2.0, 3.0]) == "2.0 ± 1.0"
    assert common.pm([0.5], 2, 100) == "50.00"
    assert common.pm([]) == "n/a"
    store = {"reid": {"meta": {"budget": "quick", "seeds": 3, "seconds": 75.0},
                      "claims": [{"paper": "re-ID", "claim": "c", "holds": False, "evidence": "e"}]}}
    text = report.summary(store)  # a store from before verdicts: at a pipeline budget it decides nothing
    assert "| re-ID | c | **undecided (quick budget: pipeline check)** | quick, 3 seed(s) |" in text
    assert "1 min 15 s" in text
    store["reid"]["meta"]["budget"] = "standard"
    assert "| re-ID | c | **does not hold** | standard, 3 seed(s) |" in report.summary(store)


def test_the_command_is_recorded_as_typed(tmp_path):
    ctx = common.Context(tmp_path / "runs", tmp_path / "figs", "quick", 3)
    section = common.Section("reid", "Re-ID", "body")
    assert report.section_meta(section, ctx, [])["command"] == "python -m keras_gens.results"  # make results
    assert report.section_meta(section, ctx, ["reid", "--out", "my runs"])["command"] == (
        "python -m keras_gens.results reid --out 'my runs'")


def test_an_older_header_is_reworded_and_the_sections_kept(tmp_path):
    report_file, figures = tmp_path / "RESULTS.md", tmp_path / "docs" / "results"
    figures.mkdir(parents=True)
    kept = "<!-- results-wae: begin -->\n## kept section\n<!-- results-wae: end -->\n"
    report_file.write_text("# an old header\n\nold words\n\n<!-- summary: begin -->\nold\n<!-- summary: end -->\n\n"
                           + kept)
    ctx = common.Context(tmp_path / "runs", figures, "quick", 3)
    claim = common.Claim("re-ID", "c", True, "e")
    report.write(report_file, figures, [common.Section("reid", "Re-ID", "body", [claim], 60.0)], ctx, ["reid"])
    text = report_file.read_text()
    assert text.startswith(report.HEADER) and "old words" not in text
    assert kept.strip() in text
    assert "| re-ID | c | **undecided (quick budget: pipeline check)** | quick, 3 seed(s) |" in text
    assert text.index("results-wae: begin") < text.index("results-reid: begin")


def test_thesis_claims_read_the_orderings():
    from keras_gens.results import thesis

    means = {m: {"random_fid": fid, "reconstruction_fid": fid + 1, "random_sharpness": sharp}
             for m, fid, sharp in (("vae", 40.0, 6.0), ("vae_resnet", 35.0, 6.5), ("wae", 6.0, 7.8),
                                   ("wae_resnet", 5.0, 10.4))}
    assert [c.holds for c in thesis.claims_of(means, thesis.MODELS, 3)] == [True, True, True]
    means["wae"]["random_fid"], means["vae"]["random_sharpness"] = 4.0, 8.0
    assert [c.holds for c in thesis.claims_of(means, thesis.MODELS, 3)] == [False, True, False]
    means["vae"]["random_fid"] = float("nan")  # no FID weights
    assert [c.holds for c in thesis.claims_of(means, thesis.MODELS, 3)][:2] == [None, None]
    # a model below its bar in several seeds is named once, with its first miss and a count
    misses = {m: [] for m in thesis.MODELS}
    misses["vae_resnet"] = [f"vae_resnet seed {s}: {p}% of reconstructions keep their digit (bar 90%)"
                            for s, p in ((0, 88.5), (2, 88.4))]
    means["vae"]["random_fid"] = 40.0
    lowest_random, lowest_reconstruction, sharper = thesis.claims_of(means, thesis.MODELS, 3, misses)
    # WAE-ResNet holds the lowest reconstruction FID, but VAE-ResNet, below its bar, might still beat it
    assert lowest_reconstruction.verdict_text("standard") == (
        "undecided (below the quality bar: vae_resnet: 2 of 3 seed(s) (88.5% of reconstructions keep their digit "
        "(bar 90%), …))")
    # two working models decide the others: wae beats wae_resnet, and vae is as sharp as wae
    assert lowest_random.verdict_at("standard") == "does not hold"
    assert lowest_random.quality_bar["detail"] == ("decided by wae_resnet and wae, which met their bars in every "
                                                   "seed; no result of vae_resnet (below a bar) can change it")
    assert sharper.verdict_at("standard") == "does not hold" and "wae and vae" in sharper.quality_bar["detail"]
    # a refuted claim whose own model is below its bar stays undecided
    misses["wae_resnet"] = ["wae_resnet seed 1: 89.0% of reconstructions keep their digit (bar 90%)"]
    assert thesis.claims_of(means, thesis.MODELS, 3, misses)[0].verdict_at("standard") == "undecided"


def test_ocgan_claims_compare_each_octave_model_with_its_base():
    summary = {name: {"best": (fid, 2.0), "final": (fid, spread), "collapses": jumps}
               for name, fid, spread, jumps in (("dcgan", 100.0, 9.0, 2), ("dcgan_oct", 90.0, 3.0, 0),
                                                ("lsgan", 80.0, 5.0, 1), ("lsgan_oct", 81.0, 4.0, 0),
                                                ("wgan", 200.0, 8.0, 3), ("wgan_oct", 150.0, 1.0, 1))}
    assert [c.holds for c in ocgan.claims_of(summary, "fid", 3)] == [True, True, True]
    summary["lsgan_oct"]["best"] = (90.0, 2.0)  # 10 points worse: more than the spread
    assert ocgan.claims_of(summary, "fid", 3)[0].holds is False
    for name in summary:
        summary[name]["collapses"] = 0
    assert ocgan.claims_of(summary, "fid", 3)[2].holds is None  # nothing collapsed: undecided


def test_a_claim_is_decided_only_above_its_quality_bar_and_beyond_the_pipeline_budgets():
    from keras_gens.results.common import Claim

    met = {"met": True, "detail": "every model above its bar"}
    below = {"met": False, "detail": "dcgan seed 1: FID 82 > 70"}
    assert Claim("p", "c", True, "e", met).verdict_at("standard") == "holds"
    assert Claim("p", "c", False, "e", met).verdict_text("standard") == "does not hold"
    for budget in ("tiny", "quick"):
        claim = Claim("p", "c", True, "e", met)
        assert claim.verdict_at(budget) == "undecided"
        assert claim.verdict_text(budget) == f"undecided ({budget} budget: pipeline check)"
    claim = Claim("p", "c", False, "e", below)
    assert claim.verdict_at("standard") == "undecided"
    assert claim.verdict_text("standard") == "undecided (below the quality bar: dcgan seed 1: FID 82 > 70)"
    assert Claim("p", "c", True, "e").verdict_text("standard") == "undecided (quality bar not measured)"
    stored = Claim("p", "c", True, "e").stored("standard")
    assert stored["verdict"] == "undecided" and stored["quality_bar"] == {"met": False, "detail": "not measured"}
