"""PyTorch versions of the benchmarked keras_gens networks and their training steps (benchmark only).

Same layers, widths, kernel sizes, paddings (output sizes), biases, batch-norm placement and
optimizers as the Keras builders they mirror (keras_gens/models/dcgan.py, wae.py,
federated/classifier.py); the parameter counts are checked against the Keras side.
NCHW, as PyTorch prefers.
"""
from __future__ import annotations

import math

import torch
from torch import nn


class Reshape(nn.Module):
    def __init__(self, *shape):
        super().__init__()
        self.shape = shape

    def forward(self, x):
        return x.view(x.shape[0], *self.shape)


def dcgan_generator(side, channels=3, latent=100, base=32):
    steps = int(math.log2(side // 4))
    start = base * 2 ** (steps - 1)
    layers = [nn.Linear(latent, 16 * start, bias=False), nn.BatchNorm1d(16 * start), nn.ReLU(), Reshape(start, 4, 4)]
    width = start
    for i in range(steps - 1):
        layers += [nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(width, width // 2, 3, padding=1, bias=False),
                   nn.BatchNorm2d(width // 2), nn.ReLU()]
        width //= 2
    layers += [nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(width, channels, 3, padding=1, bias=False),
               nn.Tanh()]
    return nn.Sequential(*layers)


def dcgan_discriminator(side, channels=3, base=32, slope=0.2):
    steps = int(math.log2(side // 4))
    layers, width = [], channels
    for i in range(steps):
        layers += [nn.Conv2d(width, base * 2 ** i, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(base * 2 ** i),
                   nn.LeakyReLU(slope)]
        width = base * 2 ** i
    layers += [nn.Conv2d(width, 1, 3, stride=2, padding=1, bias=False), nn.AdaptiveAvgPool2d(1), nn.Flatten()]
    return nn.Sequential(*layers)


def wae_networks(side, channels=3, latent=64, width=1.0, kernel=5):
    def w(n):
        return max(1, int(round(n * width)))

    enc, c = [], channels
    for f in (128, 256, 512, 1024, 2048):
        enc += [nn.Conv2d(c, w(f), kernel, stride=2, padding=kernel // 2), nn.BatchNorm2d(w(f)), nn.ReLU()]
        c = w(f)
    start = side // 32
    enc += [nn.Flatten(), nn.Linear(c * start * start, latent)]
    dec = [nn.Linear(latent, start * start * w(2048)), nn.ReLU(), nn.BatchNorm1d(start * start * w(2048)),
           Reshape(w(2048), start, start)]
    c = w(2048)
    for f in (1024, 512, 256, 128):
        dec += [nn.ConvTranspose2d(c, w(f), kernel, stride=2, padding=kernel // 2, output_padding=1),
                nn.BatchNorm2d(w(f)), nn.ReLU()]
        c = w(f)
    dec += [nn.ConvTranspose2d(c, channels, kernel, stride=2, padding=kernel // 2, output_padding=1),
            nn.BatchNorm2d(channels), nn.Sigmoid()]
    disc, c = [], latent
    for _ in range(4):
        disc += [nn.Linear(c, w(512)), nn.ReLU()]
        c = w(512)
    disc += [nn.Linear(c, 1)]
    return nn.Sequential(*enc), nn.Sequential(*dec), nn.Sequential(*disc)


def mlp(side, channels=1, classes=10):
    return nn.Sequential(nn.Flatten(), nn.Linear(side * side * channels, 200), nn.ReLU(), nn.Linear(200, 200),
                         nn.ReLU(), nn.Linear(200, classes), nn.Softmax(dim=1))


def count(*modules) -> int:
    return sum(p.numel() for m in modules for p in m.parameters())


def make_step(kind, side, batch, channels, width=1.0, channels_last=False):
    """(step function, trainable parameter count).  ``channels_last``: the DCGAN in PyTorch's NHWC memory
    format (its faster layout for convolutions on CPUs)."""
    bce = nn.BCEWithLogitsLoss()
    torch.manual_seed(0)
    if kind == "dcgan":
        g, d = dcgan_generator(side, channels), dcgan_discriminator(side, channels)
        real = torch.rand(batch, channels, side, side) * 2 - 1
        if channels_last:
            g, d = g.to(memory_format=torch.channels_last), d.to(memory_format=torch.channels_last)
            real = real.contiguous(memory_format=torch.channels_last)
        g_opt = torch.optim.Adam(g.parameters(), lr=2e-4, betas=(0.5, 0.999))
        d_opt = torch.optim.Adam(d.parameters(), lr=2e-4, betas=(0.5, 0.999))

        def step():
            with torch.no_grad():  # keras_gens computes the fakes of the critic step outside its tape
                fake = g(torch.randn(batch, 100))
            real_out, fake_out = d(real), d(fake)
            d_loss = bce(real_out, torch.ones_like(real_out)) + bce(fake_out, torch.zeros_like(fake_out))
            d_opt.zero_grad(set_to_none=True)
            d_loss.backward()
            d_opt.step()
            out = d(g(torch.randn(batch, 100)))
            g_loss = bce(out, torch.ones_like(out))
            g_opt.zero_grad(set_to_none=True)
            g_loss.backward()  # through D into G; only G is stepped, as in keras_gens
            g_opt.step()
            return float(g_loss)

        return step, count(g, d)
    if kind == "wae":
        enc, dec, disc = wae_networks(side, channels, width=width)
        ae_opt = torch.optim.Adam(list(enc.parameters()) + list(dec.parameters()), lr=3e-4, betas=(0.5, 0.999))
        d_opt = torch.optim.Adam(disc.parameters(), lr=1e-3, betas=(0.5, 0.999))
        images = torch.rand(batch, channels, side, side)

        def step():
            prior = torch.randn(batch, 64) * 1.414
            encoded = enc(images)
            p_out, q_out = disc(prior), disc(encoded.detach())
            d_loss = bce(p_out, torch.ones_like(p_out)) + bce(q_out, torch.zeros_like(q_out))
            d_opt.zero_grad(set_to_none=True)
            d_loss.backward()
            d_opt.step()
            reconstruction = ((images - dec(encoded)) ** 2).flatten(1).sum(1).mean()
            out = disc(encoded)
            loss = reconstruction + bce(out, torch.ones_like(out))
            ae_opt.zero_grad(set_to_none=True)
            loss.backward()
            ae_opt.step()
            return float(loss)

        return step, count(enc, dec, disc)
    if kind == "mlp":
        model = mlp(side, channels)
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        x, y = torch.rand(batch, channels, side, side), torch.randint(0, 10, (batch,))
        nll = nn.NLLLoss()

        def step():
            loss = nll(torch.log(model(x).clamp_min(1e-7)), y)  # cross-entropy of the softmax outputs, as Keras
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            return float(loss)

        return step, count(model)
    raise ValueError(kind)
