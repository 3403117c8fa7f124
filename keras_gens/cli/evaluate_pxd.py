"""``python -m keras_gens.evaluate pxd``: PE-GAN's physics validation of a trained hitmap generator.

    python -m keras_gens.evaluate pxd --run RUN_DIR [--data SPEC] [--n N] [--generated FILE.npz] [--out DIR]

Real hitmaps come from the test split of ``--data`` (default: the run's data), preprocessed as in
training (threshold, padding, pooling to the model's size) and turned back into ADU; as many
generated hitmaps are drawn for the same sensor ids (or read from ``--generated``, a file written
by ``keras_gens.pxd_events``).  Writes DIR/pxd_eval.md (the scores and a per-sensor occupancy
table), DIR/figures/pxd_intensity.png (Figure 3), DIR/figures/pxd_occupancy.png (Figure 4), and
the scores into RUN_DIR/metrics.csv at the checkpoint's epoch.  DIR defaults to RUN_DIR.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from keras_gens.errors import UserError
from keras_gens.evaluation import mark_report_folder, report_folder
from keras_gens.evaluation.pxd import real_hitmaps, report, write_figures
from keras_gens.run_dirs import build_from_run, checkpoint_epoch, is_run_dir


def parse_args(argv):
    parser = argparse.ArgumentParser(prog="python -m keras_gens.evaluate pxd", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", required=True, help="a pe_gan or wgan_gp_cond run directory")
    parser.add_argument("--data", help="data spec of the real hitmaps (default: the run's data.source)")
    parser.add_argument("--n", type=int, default=None, help="real hitmaps to compare (default: the whole test split)")
    parser.add_argument("--generated", help=".npz of generated hitmaps (keras_gens.pxd_events) instead of sampling")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", help="folder for pxd_eval.md and figures (default: the run directory)")
    return parser.parse_args(argv)


def run(args) -> int:
    from keras_gens.metrics.pxd import compare
    from keras_gens.utils import metrics_csv
    from keras_gens.utils.io import atomic_write_text

    run_dir = Path(args.run)
    if not is_run_dir(run_dir):
        raise UserError(f"{run_dir} is not a run directory (run.yaml, config.yaml)")
    out_dir = report_folder(args.out, run_dir)
    name, cfg, model, _ = build_from_run(run_dir)
    if not model.generates_hitmaps:
        raise UserError(f"{run_dir} holds a '{name}' run; evaluate pxd needs pe_gan or wgan_gp_cond")
    data_cfg = cfg.data.to_dict()
    if args.data:
        data_cfg["source"] = args.data
    threshold = int(data_cfg.get("pxd_threshold", 7))
    real, real_sensors = real_hitmaps(data_cfg, args.n, threshold)
    if args.generated:
        with np.load(args.generated) as archive:
            fake, fake_sensors = archive["images"], archive["sensor_ids"]
        if fake.shape[1:] != real.shape[1:]:
            raise UserError(f"{args.generated} holds hitmaps of {fake.shape[1:]}; the real ones here are "
                            f"{real.shape[1:]} (the model's size)")
    else:
        z = model.sample_latent(len(real_sensors), seed=args.seed)
        fake, fake_sensors = model.generate_hitmaps(z, real_sensors), real_sensors
    result = compare(real, real_sensors, fake, fake_sensors, threshold)
    mark_report_folder(out_dir, run_dir)
    write_figures(result, out_dir, threshold)
    atomic_write_text(out_dir / "pxd_eval.md", report(result))
    epoch = checkpoint_epoch(run_dir)
    if epoch is not None:
        metrics_csv.upsert(run_dir / "metrics.csv", epoch,
                           {k: result[k] for k in ("intensity_w1_adu", "occupancy_rel_error", "statistics_frechet")})
    print(f"{name}: intensity W1 {result['intensity_w1_adu']:.3f} ADU, occupancy error "
          f"{result['occupancy_rel_error']:.4f}, statistics Fréchet {result['statistics_frechet']:.4f} "
          f"({result['hitmaps']} hitmaps) -> {out_dir / 'pxd_eval.md'}")
    return 0
