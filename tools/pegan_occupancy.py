"""Why PE-GAN's generated occupancy stalls at the smoke width: one change at a time, occupancy per epoch.

    python tools/pegan_occupancy.py VARIANT [--epochs 13] [--steps 100] [--out runs/pegan-occupancy]

VARIANT (each one change from ``train pe_gan --smoke``, on synthetic_pxd at 32×96):
    smoke        the smoke settings (ch = 8: bottleneck convolutions 2 channels wide in the last stages)
    no_sn_last   the generator's last convolution without spectral norm
    hinge_only   no 2C loss, no consistency regularization (contrastive_weight = consistency_weight = 0)
    ch16         twice the width (ch = 16), what ``keras_gens.results pegan`` trains
    baseline     the WGAN-GP baseline at its smoke width

After every epoch one JSON line: the generator updates so far, the generated mean occupancy and
its per-sensor error, intensity W1 and the statistics Fréchet distance against the test split
(as ``keras_gens.results pegan`` scores them), and the epoch's losses.  Runs resume, so a larger
``--epochs`` continues a finished one.  The closing note of the session that found the cause
quotes this tool's lines.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

VARIANTS = {
    "smoke": ("pe_gan", []),
    "no_sn_last": ("pe_gan", []),
    "hinge_only": ("pe_gan", ["model.contrastive_weight=0", "model.consistency_weight=0"]),
    "ch16": ("pe_gan", ["model.ch=16"]),
    "baseline": ("wgan_gp_cond", []),
}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("variant", choices=sorted(VARIANTS))
    parser.add_argument("--epochs", type=int, default=13)
    parser.add_argument("--steps", type=int, default=100, help="generator updates per epoch")
    parser.add_argument("--out", default="runs/pegan-occupancy", help="parent folder of the run directories")
    args = parser.parse_args(argv)

    import tensorflow as tf

    from keras_gens import runner
    from keras_gens.models import pegan
    from keras_gens.results.pegan import compared

    model_name, overrides = VARIANTS[args.variant]
    overrides = [*overrides, f"train.epochs={args.epochs}", f"train.steps_per_epoch={args.steps}", "train.verbose=0"]
    if args.variant == "no_sn_last":
        plain_conv = pegan.conv

        def conv(*a, name=None, spectral=True, **k):  # every convolution as before but the output one
            return plain_conv(*a, name=name, spectral=spectral and name != "to_image", **k)

        pegan.conv = conv
    data_cfg = runner.resolve_config(model_name, overrides=overrides, smoke=True)[1].data.to_dict()

    class Occupancy(tf.keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            v = compared(self.model, data_cfg)
            print(json.dumps({"variant": args.variant, "updates": int(self.model.step.numpy()),
                              "occupancy": round(v["fake_mean_occupancy"], 4),
                              "data_occupancy": round(v["real_mean_occupancy"], 4),
                              "occupancy_error": round(v["occupancy_rel_error"], 3),
                              "intensity_w1_adu": round(v["intensity_w1_adu"], 2),
                              "statistics_frechet": round(v["statistics_frechet"], 1),
                              **{k: round(float(x), 3) for k, x in (logs or {}).items()}}), flush=True)

    runner.train(model_name, out=Path(args.out) / args.variant, overrides=overrides, smoke=True,
                 log=lambda m: None, callbacks=[Occupancy()])
    return 0


if __name__ == "__main__":
    sys.exit(main())
