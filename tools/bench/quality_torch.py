"""Train one PyTorch mirror on the digits keras_gens trains on, for the quality side by side (tools/bench/quality.py).

    .venv-bench/bin/python tools/bench/quality_torch.py --family dcgan --data DATA.npz --seed 0 \
        --epochs 16 --steps 200 --batch 32 --score-every 2 --samples 1000 --out DIR

The networks are tools/bench/torch_models.py and torch_families.py (the layer-for-layer mirrors whose
parameter counts side_by_side.py checks), left at PyTorch's own defaults: its initialisation and its
BatchNorm (momentum 0.1, i.e. Keras's 0.9, and epsilon 1e-5; keras_gens keeps Keras's 0.99 and 1e-3).  The
optimizers (Adam's epsilon set to Keras's 1e-7) and losses are keras_gens's (DCGAN: Adam 2e-4, beta 0.5, non-saturating GAN loss; WAE: Adam 3e-4 and 1e-3, GAN
penalty, prior N(0, 1.414^2)).  DATA.npz holds ``train`` (uint8 NHWC, the 4,000 training digits as keras_gens
preprocesses them) and, for the WAE, ``heldout``.

Every ``score-every`` epochs (and after the last) the clock stops and DIR/epochNNN.npz gets ``samples`` (uint8
NHWC, new latents each time from the same seed) and, for the WAE, ``reconstructions`` of the held-out digits;
DIR/timing.json gets the training seconds so far (steps only) and the parameter count.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from torch_families import descend, octave_dcgan
from torch_models import count, dcgan_discriminator, dcgan_generator, wae_networks

FAMILIES = ("dcgan", "dcgan_oct", "wae")


def to_uint8(x: torch.Tensor, low: float) -> np.ndarray:
    """NCHW in [low, 1] -> uint8 NHWC, as keras_gens.utils.images.to_uint8 rounds."""
    x = ((x.detach().clamp(low, 1.0) - low) / (1.0 - low)).permute(0, 2, 3, 1).numpy()
    return np.round(x * 255.0).astype(np.uint8)


def from_uint8(x: np.ndarray, low: float) -> torch.Tensor:
    return torch.from_numpy(x.astype(np.float32) / 255.0 * (1.0 - low) + low).permute(0, 3, 1, 2).contiguous()


class GAN:
    """DCGAN (plain or octave) with keras_gens's step: D on real and fakes drawn outside its graph, then G."""
    low, latent = -1.0, 100

    def __init__(self, family, side, channels, base):
        if family == "dcgan":
            self.g, self.d = dcgan_generator(side, channels, self.latent, base), dcgan_discriminator(side, channels,
                                                                                                    base)
        else:
            self.g, self.d = octave_dcgan(side, channels, self.latent, base)
        # Adam's epsilon as Keras's (1e-7; PyTorch's default is 1e-8)
        self.g_opt = torch.optim.Adam(self.g.parameters(), lr=2e-4, betas=(0.5, 0.999), eps=1e-7)
        self.d_opt = torch.optim.Adam(self.d.parameters(), lr=2e-4, betas=(0.5, 0.999), eps=1e-7)
        self.bce = nn.BCEWithLogitsLoss()
        self.parameters = count(self.g, self.d)

    def step(self, real):
        n = real.shape[0]
        with torch.no_grad():
            fake = self.g(torch.randn(n, self.latent))
        real_out, fake_out = self.d(real), self.d(fake)
        d_loss = self.bce(real_out, torch.ones_like(real_out)) + self.bce(fake_out, torch.zeros_like(fake_out))
        descend(self.d_opt, d_loss)
        self.d.requires_grad_(False)  # through D into G: only G's gradients, as keras_gens's tape asks for
        out = self.d(self.g(torch.randn(n, self.latent)))
        g_loss = self.bce(out, torch.ones_like(out))
        descend(self.g_opt, g_loss)
        self.d.requires_grad_(True)

    @torch.no_grad()
    def outputs(self, count_, rng, heldout=None) -> dict:
        self.g.eval()
        z = torch.from_numpy(rng.standard_normal((count_, self.latent)).astype(np.float32))
        samples = np.concatenate([to_uint8(self.g(z[i:i + 100]), self.low) for i in range(0, count_, 100)])
        self.g.train()
        return {"samples": samples}


class WAE:
    """The thesis's WAE with the GAN penalty, keras_gens's step (models/wae.py)."""
    low, latent, prior_stddev = 0.0, 64, 1.414

    def __init__(self, side, channels, width):
        self.enc, self.dec, self.disc = wae_networks(side, channels, self.latent, width=width)
        self.ae_opt = torch.optim.Adam(list(self.enc.parameters()) + list(self.dec.parameters()), lr=3e-4,
                                       betas=(0.5, 0.999), eps=1e-7)
        self.d_opt = torch.optim.Adam(self.disc.parameters(), lr=1e-3, betas=(0.5, 0.999), eps=1e-7)
        self.bce = nn.BCEWithLogitsLoss()
        self.parameters = count(self.enc, self.dec, self.disc)

    def step(self, images):
        n = images.shape[0]
        encoded = self.enc(images)
        prior = torch.randn(n, self.latent) * self.prior_stddev
        p_out, q_out = self.disc(prior), self.disc(encoded.detach())
        d_loss = self.bce(p_out, torch.ones_like(p_out)) + self.bce(q_out, torch.zeros_like(q_out))
        descend(self.d_opt, d_loss)
        reconstruction = ((images - self.dec(encoded)) ** 2).flatten(1).sum(1).mean()
        self.disc.requires_grad_(False)  # the penalty's gradient reaches the encoder only
        out = self.disc(encoded)
        loss = reconstruction + self.bce(out, torch.ones_like(out))
        descend(self.ae_opt, loss)
        self.disc.requires_grad_(True)

    @torch.no_grad()
    def outputs(self, count_, rng, heldout=None) -> dict:
        self.enc.eval(), self.dec.eval()
        z = torch.from_numpy((rng.standard_normal((count_, self.latent)) * self.prior_stddev).astype(np.float32))
        out = {"samples": np.concatenate([to_uint8(self.dec(z[i:i + 100]), self.low)
                                          for i in range(0, count_, 100)])}
        if heldout is not None:
            x = from_uint8(heldout, self.low)
            out["reconstructions"] = np.concatenate([to_uint8(self.dec(self.enc(x[i:i + 100])), self.low)
                                                     for i in range(0, len(x), 100)])
        self.enc.train(), self.dec.train()
        return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--family", choices=FAMILIES, required=True)
    p.add_argument("--data", required=True)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--epochs", type=int, required=True)
    p.add_argument("--steps", type=int, required=True, help="updates per epoch")
    p.add_argument("--batch", type=int, required=True)
    p.add_argument("--base", type=int, default=16, help="DCGAN base width")
    p.add_argument("--width", type=float, default=0.125, help="WAE width multiplier")
    p.add_argument("--score-every", type=int, default=2)
    p.add_argument("--samples", type=int, default=1000)
    p.add_argument("--out", required=True)
    args = p.parse_args(argv)

    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    with np.load(args.data) as archive:
        train = archive["train"]
        heldout = archive["heldout"] if "heldout" in archive.files else None
    side, channels = train.shape[1], train.shape[3]
    model = WAE(side, channels, args.width) if args.family == "wae" else GAN(args.family, side, channels, args.base)
    images = from_uint8(train, model.low)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    timing = {"parameters": model.parameters, "torch": torch.__version__, "threads": torch.get_num_threads(),
              "seconds": {}, "settings": {"epochs": args.epochs, "steps": args.steps, "every": args.score_every,
                                          "samples": args.samples}}
    trained, order, position = 0.0, rng.permutation(len(images)), 0
    for epoch in range(1, args.epochs + 1):
        began = time.perf_counter()
        for _ in range(args.steps):
            if position + args.batch > len(order):  # a new pass, reshuffled (keras_gens drops the remainder too)
                order, position = rng.permutation(len(images)), 0
            model.step(images[order[position:position + args.batch]])
            position += args.batch
        trained += time.perf_counter() - began
        timing["seconds"][epoch] = trained
        if epoch % args.score_every == 0 or epoch == args.epochs:
            outputs = model.outputs(args.samples, np.random.default_rng(12345), heldout)
            np.savez(out / f"epoch{epoch:03d}.npz", **outputs)
        timing["done"] = epoch == args.epochs
        (out / "timing.json").write_text(json.dumps(timing, indent=1))
        print(f"epoch {epoch}/{args.epochs}: {trained:.1f} s of training", flush=True)


if __name__ == "__main__":
    main()
