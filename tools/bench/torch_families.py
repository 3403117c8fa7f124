"""PyTorch mirrors of the rest of keras_gens's model families, and their training steps (benchmark only).

Each mirror has the layers, widths, kernels, output sizes, biases, normalizations and optimizer of the
Keras builder it names (the parameter counts are checked against the Keras side by side_by_side.py):

    octave DCGAN / WGAN    keras_gens/models/dcgan.py, layers/octave.py   (OctaveConv's four paths)
    wgan_gp_cond           keras_gens/models/wgan_gp_cond.py              (gradient penalty: double backward)
    bagan_gp               keras_gens/models/bagan.py                     (auto-encoder step, GP critic steps)
    cgan                   keras_gens/models/cgan.py
    ResNet encoders        keras_gens/layers/resnet.py                    (vae_resnet, wae_resnet)
    reid                   keras_gens/models/reid.py, layers/unet.py      (ResNet-50 as Keras builds it: biased
                                                                           convs, stride on the first 1x1)
    pe_gan                 keras_gens/models/pegan.py, layers/biggan.py, attention.py, normalization.py

Losses are the same formulas; random draws (noise, labels, shifts) come from torch's generator.
NCHW unless ``channels_last`` (PyTorch's faster layout for CPU convolutions).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from torch_models import Reshape, count


# ---------------------------------------------------------------- octave convolutions (OC-GAN)
def split(channels, alpha):
    low = int(alpha * channels)
    return channels - low, low


def upsample(x):
    return F.interpolate(x, scale_factor=2, mode="nearest")


def descend(optimizer, loss):
    """One update: clear the gradients, back-propagate ``loss``, step."""
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()


def batches(count, shape, channels_last, low=-1.0):
    """``count`` random image batches in [low, 1], in PyTorch's channels-last memory format when asked."""
    out = [torch.rand(*shape) * (1 - low) + low for _ in range(count)]
    return [b.contiguous(memory_format=torch.channels_last) for b in out] if channels_last else out


class OctaveConv(nn.Module):
    """H→H, H→L (pooled), L→H (upsampled), L→L; stride 2 average-pools the inputs first."""

    def __init__(self, in_channels, filters, alpha_in, alpha_out, stride=1, kernel=3):
        super().__init__()
        in_high, in_low = split(in_channels, alpha_in)
        out_high, out_low = split(filters, alpha_out)
        self.stride = stride

        def conv(i, o):
            return nn.Conv2d(i, o, kernel, padding=kernel // 2, bias=False) if i and o else None

        self.h2h, self.h2l, self.l2h, self.l2l = (conv(in_high, out_high), conv(in_high, out_low),
                                                  conv(in_low, out_high), conv(in_low, out_low))

    def forward(self, x):
        x_h, x_l = x if isinstance(x, tuple) else (x, None)
        if self.stride == 2:
            x_h = F.avg_pool2d(x_h, 2)
            x_l = None if x_l is None else F.avg_pool2d(x_l, 2)
        y_h = self.h2h(x_h)
        if x_l is not None:
            y_h = y_h + upsample(self.l2h(x_l))
        if self.h2l is None:
            return y_h
        y_l = self.h2l(F.avg_pool2d(x_h, 2))
        if x_l is not None:
            y_l = y_l + self.l2l(x_l)
        return y_h, y_l


class PerBranch(nn.Module):
    """A module per branch of an octave pair (BN), or one stateless function for both."""

    def __init__(self, high, low=None):
        super().__init__()
        self.high, self.low = high, low if low is not None else high

    def forward(self, x):
        if not isinstance(x, tuple):
            return self.high(x)
        return self.high(x[0]), self.low(x[1])


def octave_dcgan(side, channels=3, latent=100, base=32, alpha=0.5, slope=0.2):
    steps = int(math.log2(side // 4))
    start = base * 2 ** (steps - 1)
    g = [nn.Linear(latent, 16 * start, bias=False), nn.BatchNorm1d(16 * start), nn.ReLU(), Reshape(start, 4, 4)]
    width, a_in = start, 0.0
    for i in range(steps - 1):
        out = width // 2
        g += [PerBranch(upsample), OctaveConv(width, out, a_in, alpha)]
        g += [PerBranch(nn.BatchNorm2d(split(out, alpha)[0]), nn.BatchNorm2d(split(out, alpha)[1])),
              PerBranch(nn.ReLU())]
        width, a_in = out, alpha
    g += [PerBranch(upsample), OctaveConv(width, channels, a_in, 0.0), nn.Tanh()]
    d, width, a_in = [], channels, 0.0
    for i in range(steps):
        out = base * 2 ** i
        d += [OctaveConv(width, out, a_in, alpha, stride=2),
              PerBranch(nn.BatchNorm2d(split(out, alpha)[0]), nn.BatchNorm2d(split(out, alpha)[1])),
              PerBranch(nn.LeakyReLU(slope))]
        width, a_in = out, alpha
    d += [OctaveConv(width, 1, a_in, 0.0, stride=2), nn.AdaptiveAvgPool2d(1), nn.Flatten()]
    return nn.Sequential(*g), nn.Sequential(*d)


def octave_gan_step(side, batch, channels, *, loss="gan", critic_steps=1, channels_last=False):
    g, d = octave_dcgan(side, channels)
    real = batches(critic_steps, (batch, channels, side, side), channels_last)
    if channels_last:
        g, d = g.to(memory_format=torch.channels_last), d.to(memory_format=torch.channels_last)
    if loss == "wgan":  # the authors' wgan.sh: RMSprop 5e-5, clipping ±0.05
        g_opt = torch.optim.RMSprop(g.parameters(), lr=5e-5, alpha=0.9, eps=1e-7)
        d_opt = torch.optim.RMSprop(d.parameters(), lr=5e-5, alpha=0.9, eps=1e-7)
    else:
        g_opt = torch.optim.Adam(g.parameters(), lr=2e-4, betas=(0.5, 0.999))
        d_opt = torch.optim.Adam(d.parameters(), lr=2e-4, betas=(0.5, 0.999))
    bce = nn.BCEWithLogitsLoss()

    def step():
        for k in range(critic_steps):
            with torch.no_grad():
                fake = g(torch.randn(batch, 100))
            real_out, fake_out = d(real[k]), d(fake)
            if loss == "wgan":
                d_loss = fake_out.mean() - real_out.mean()
            else:
                d_loss = bce(real_out, torch.ones_like(real_out)) + bce(fake_out, torch.zeros_like(fake_out))
            descend(d_opt, d_loss)
            if loss == "wgan":
                with torch.no_grad():
                    for p in d.parameters():
                        p.clamp_(-0.05, 0.05)
        out = d(g(torch.randn(batch, 100)))
        g_loss = -out.mean() if loss == "wgan" else bce(out, torch.ones_like(out))
        descend(g_opt, g_loss)
        return g_loss.item()

    return step, count(g, d)


# ---------------------------------------------------------------- gradient penalty
def gradient_penalty(critic, real, fake, labels):
    alpha = torch.rand(real.shape[0], 1, 1, 1)
    mixed = (alpha * real + (1 - alpha) * fake).requires_grad_(True)
    grads, = torch.autograd.grad(critic(mixed, labels).sum(), mixed, create_graph=True)
    return ((grads.flatten(1).square().sum(1) + 1e-12).sqrt() - 1).square()


class WGANGenerator(nn.Module):
    def __init__(self, height, width, channels, classes, latent=128, embed=128, base=32, widths=(8, 8, 4, 4, 2, 1),
                 kernel=5, slope=0.2):
        super().__init__()
        stages = len(widths)
        filters = [w * base for w in widths]
        self.embedding = nn.Embedding(classes, embed)
        self.project = nn.Linear(latent + embed, (height >> stages) * (width >> stages) * filters[0])
        self.start = (filters[0], height >> stages, width >> stages)
        layers, c = [], filters[0]
        for f in filters:
            layers += [nn.ConvTranspose2d(c, f, kernel, stride=2, padding=kernel // 2, output_padding=1, bias=False),
                       nn.BatchNorm2d(f), nn.LeakyReLU(slope)]
            c = f
        layers += [nn.Conv2d(c, channels, kernel, padding=kernel // 2), nn.Tanh()]
        self.body = nn.Sequential(*layers)

    def forward(self, z, labels):
        x = self.project(torch.cat([z, self.embedding(labels)], 1))
        return self.body(x.view(-1, *self.start))


class WGANCritic(nn.Module):
    def __init__(self, height, width, channels, classes, embed=128, base=32, widths=(1, 2, 4, 4, 8, 8), kernel=5,
                 slope=0.2):
        super().__init__()
        self.embedding, self.label_map = nn.Embedding(classes, embed), nn.Linear(embed, height * width)
        self.size = (height, width)
        layers, c = [], channels + 1
        for w in widths:
            layers += [nn.Conv2d(c, w * base, kernel, stride=2, padding=kernel // 2), nn.LeakyReLU(slope)]
            c = w * base
        stages = len(widths)
        layers += [nn.Flatten(), nn.Linear(c * (height >> stages) * (width >> stages), 1)]
        self.body = nn.Sequential(*layers)

    def forward(self, images, labels):
        label_channel = self.label_map(self.embedding(labels)).view(-1, 1, *self.size)
        return self.body(torch.cat([images, label_channel], 1))


def wgan_gp_cond_step(height, width, batch, channels, classes=40, critic_steps=5, channels_last=False, **widths):
    g, d = WGANGenerator(height, width, channels, classes, **widths.get("g", {})), WGANCritic(
        height, width, channels, classes, **widths.get("d", {}))
    real = batches(critic_steps, (batch, channels, height, width), channels_last)
    labels = torch.randint(0, classes, (critic_steps, batch))
    if channels_last:
        g, d = g.to(memory_format=torch.channels_last), d.to(memory_format=torch.channels_last)
    g_opt = torch.optim.Adam(g.parameters(), lr=2e-4, betas=(0.5, 0.9))
    d_opt = torch.optim.Adam(d.parameters(), lr=2e-4, betas=(0.5, 0.9))
    latent = g.project.in_features - g.embedding.embedding_dim

    def step():
        for k in range(critic_steps):
            with torch.no_grad():
                fake = g(torch.randn(batch, latent), labels[k])
            wasserstein = d(fake, labels[k]).mean() - d(real[k], labels[k]).mean()
            d_loss = wasserstein + 10.0 * gradient_penalty(d, real[k], fake, labels[k]).mean()
            descend(d_opt, d_loss)
        g_loss = -d(g(torch.randn(batch, latent), labels[-1]), labels[-1]).mean()
        descend(g_opt, g_loss)
        return g_loss.item()

    return step, count(g, d)


# ---------------------------------------------------------------- BAGAN-GP
def bagan_widths(steps, base):
    encoder = [base] + [2 * base] * max(steps - 2, 0) + [4 * base] if steps > 1 else [4 * base]
    decoder = [base * 2 ** min(2, steps - 2 - i) for i in range(steps - 1)]
    return encoder, decoder


def bagan_conv_stack(channels, widths, slope):
    layers, c = [], channels
    for w in widths:
        layers += [nn.Conv2d(c, w, 4, stride=2, padding=1), nn.LeakyReLU(slope)]
        c = w
    return nn.Sequential(*layers, nn.Flatten())


class BAGANDecoder(nn.Module):
    def __init__(self, side, channels, latent, base, slope, classes):
        super().__init__()
        steps = int(math.log2(side // 4))
        _, widths = bagan_widths(steps, base)
        self.embedding = nn.Embedding(classes, latent)  # the label latent: z ⊙ Embedding(y)
        self.start = (4 * base, side >> steps, side >> steps)
        layers, c = [nn.Linear(latent, 4 * base * (side >> steps) ** 2), nn.LeakyReLU(slope)], 4 * base
        self.project = nn.Sequential(*layers)
        layers = []
        for w in widths:
            layers += [nn.ConvTranspose2d(c, w, 4, stride=2, padding=1), nn.BatchNorm2d(w), nn.LeakyReLU(slope)]
            c = w
        layers += [nn.ConvTranspose2d(c, channels, 4, stride=2, padding=1), nn.Tanh()]
        self.body = nn.Sequential(*layers)

    def forward(self, z, labels):
        return self.body(self.project(z * self.embedding(labels)).view(-1, *self.start))


class BAGANCritic(nn.Module):
    def __init__(self, side, channels, base, slope, classes):
        super().__init__()
        steps = int(math.log2(side // 4))
        widths, _ = bagan_widths(steps, base)
        self.convs = bagan_conv_stack(channels, widths, slope)
        flat = widths[-1] * (side >> steps) ** 2
        self.embedding, self.label_dense = nn.Embedding(classes, 512), nn.Linear(512, flat)
        self.act = nn.LeakyReLU(slope)
        self.dense, self.score = nn.Linear(flat, 512), nn.Linear(512, 1)

    def forward(self, images, labels):
        joint = self.convs(images) * self.act(self.label_dense(self.embedding(labels)))
        return self.score(self.dense(joint))


def bagan_networks(side, channels, latent, base, slope, classes):
    steps = int(math.log2(side // 4))
    widths, _ = bagan_widths(steps, base)
    encoder = nn.Sequential(bagan_conv_stack(channels, widths, slope),
                            nn.Linear(widths[-1] * (side >> steps) ** 2, latent), nn.LeakyReLU(slope))
    return encoder, BAGANDecoder(side, channels, latent, base, slope, classes), BAGANCritic(side, channels, base,
                                                                                           slope, classes)


def bagan_step(side, batch, channels, *, stage, classes=10, latent=128, base=64, slope=0.2, critic_steps=5,
               channels_last=False):
    encoder, decoder, critic = bagan_networks(side, channels, latent, base, slope, classes)
    if channels_last:
        encoder, decoder, critic = (m.to(memory_format=torch.channels_last) for m in (encoder, decoder, critic))
    real, = batches(1, (batch, channels, side, side), channels_last)
    labels = torch.randint(0, classes, (batch,))
    if stage == "autoencoder":
        opt = torch.optim.Adam(list(encoder.parameters()) + list(decoder.parameters()), lr=2e-4, betas=(0.5, 0.9))

        def step():
            loss = (decoder(encoder(real), labels) - real).abs().mean()
            descend(opt, loss)
            return loss.item()

        return step, count(encoder, decoder)
    g_opt = torch.optim.Adam(decoder.parameters(), lr=2e-4, betas=(0.5, 0.9))
    d_opt = torch.optim.Adam(critic.parameters(), lr=2e-4, betas=(0.5, 0.9))
    wrong = (labels + torch.randint(1, classes, (batch,))) % classes

    def step():
        for _ in range(critic_steps):
            fake_labels = torch.randint(0, classes, (batch,))
            with torch.no_grad():  # the critic's gradient does not reach G: the same work as ours
                fake = decoder(torch.randn(batch, latent), fake_labels)
            cost = 0.5 * (critic(fake, fake_labels) + critic(real, wrong)) - critic(real, labels)
            d_loss = cost.mean() + 10.0 * gradient_penalty(critic, real, fake, labels).mean()
            descend(d_opt, d_loss)
        fake_labels = torch.randint(0, classes, (batch,))
        g_loss = -critic(decoder(torch.randn(batch, latent), fake_labels), fake_labels).mean()
        descend(g_opt, g_loss)
        return g_loss.item()

    return step, count(decoder, critic)


# ---------------------------------------------------------------- CGAN (MLPs)
class CGANGenerator(nn.Module):
    def __init__(self, pixels, classes, latent=100, hidden=(256, 512, 1024), slope=0.2):
        super().__init__()
        self.embedding = nn.Embedding(classes, latent)
        layers, c = [], latent
        for units in hidden:
            layers += [nn.Linear(c, units), nn.LeakyReLU(slope), nn.BatchNorm1d(units)]
            c = units
        self.body = nn.Sequential(*layers, nn.Linear(c, pixels), nn.Tanh())

    def forward(self, z, labels):
        return self.body(z * self.embedding(labels))


class CGANDiscriminator(nn.Module):
    def __init__(self, pixels, classes, hidden=(512, 512, 512), slope=0.2, dropout=0.4):
        super().__init__()
        self.embedding = nn.Embedding(classes, pixels)
        layers, c = [], pixels
        for i, units in enumerate(hidden, 1):
            layers += [nn.Linear(c, units), nn.LeakyReLU(slope)] + ([nn.Dropout(dropout)] if i > 1 else [])
            c = units
        self.body = nn.Sequential(*layers, nn.Linear(c, 1))

    def forward(self, images, labels):
        return self.body(images.flatten(1) * self.embedding(labels))


def cgan_step(side, batch, channels, classes=10):
    pixels = side * side * channels
    g, d = CGANGenerator(pixels, classes), CGANDiscriminator(pixels, classes)
    g_opt = torch.optim.Adam(g.parameters(), lr=2e-4, betas=(0.5, 0.9))
    d_opt = torch.optim.Adam(d.parameters(), lr=2e-4, betas=(0.5, 0.9))
    real, labels = torch.rand(batch, pixels) * 2 - 1, torch.randint(0, classes, (batch,))
    bce = nn.BCEWithLogitsLoss()

    def step():
        fake_labels = torch.randint(0, classes, (batch,))
        with torch.no_grad():
            fake = g(torch.randn(batch, 100), fake_labels)
        real_out, fake_out = d(real, labels), d(fake, fake_labels)
        d_loss = bce(real_out, torch.ones_like(real_out)) + bce(fake_out, torch.zeros_like(fake_out))
        descend(d_opt, d_loss)
        fake_labels = torch.randint(0, classes, (batch,))
        out = d(g(torch.randn(batch, 100), fake_labels), fake_labels)
        g_loss = bce(out, torch.ones_like(out))
        descend(g_opt, g_loss)
        return g_loss.item()

    return step, count(g, d)


# ---------------------------------------------------------------- ResNet blocks (thesis encoder, ResNet-50)
class Bottleneck(nn.Module):
    """1×1 (stride s) → BN → ReLU → 3×3 → BN → ReLU → 1×1 → BN, + shortcut (a projection when ``project``)."""

    def __init__(self, in_channels, filters, stride=1, project=False):
        super().__init__()
        f1, f2, f3 = filters
        self.residual = nn.Sequential(nn.Conv2d(in_channels, f1, 1, stride=stride), nn.BatchNorm2d(f1), nn.ReLU(),
                                      nn.Conv2d(f1, f2, 3, padding=1), nn.BatchNorm2d(f2), nn.ReLU(),
                                      nn.Conv2d(f2, f3, 1), nn.BatchNorm2d(f3))
        self.shortcut = nn.Sequential(nn.Conv2d(in_channels, f3, 1, stride=stride), nn.BatchNorm2d(f3)) \
            if project else nn.Identity()

    def forward(self, x):
        return F.relu(self.residual(x) + self.shortcut(x))


THESIS_STAGES = (((64, 64, 256), 1, 2), ((128, 128, 512), 2, 3), ((256, 256, 1024), 2, 3), ((512, 512, 2048), 2, 3))


class ThesisEncoder(nn.Module):
    """keras_gens.layers.resnet.build_resnet_encoder: pad 2, 7×7/2 stem, 3×3/1 max-pool, four stages, 2×2 average
    pool ('same'), dense to the code (two heads for the VAE)."""

    def __init__(self, side, channels, latent, gaussian):
        super().__init__()
        layers, c = [nn.ZeroPad2d(2), nn.Conv2d(channels, 64, 7, stride=2), nn.BatchNorm2d(64), nn.ReLU(),
                     nn.MaxPool2d(3, stride=1)], 64
        for filters, stride, identities in THESIS_STAGES:
            layers.append(Bottleneck(c, filters, stride, project=True))
            layers += [Bottleneck(filters[-1], filters) for _ in range(identities)]
            c = filters[-1]
        self.body = nn.Sequential(*layers)
        size = (side + 4 - 7) // 2 + 1 - 2
        for _, stride, _ in THESIS_STAGES:
            size = (size - 1) // stride + 1
        flat = c * math.ceil(size / 2) ** 2
        self.heads = nn.ModuleList([nn.Linear(flat, latent)] + ([nn.Linear(flat, latent)] if gaussian else []))

    def forward(self, x):
        x = self.body(x)
        x = F.avg_pool2d(x, 2, ceil_mode=True).flatten(1)
        return [head(x) for head in self.heads]


def encoder_step(side, batch, channels, *, latent, gaussian, channels_last=False):
    """One Adam step of the encoder alone on the mean squared code (keras_gens's encoder_step in worker.py)."""
    encoder = ThesisEncoder(side, channels, latent, gaussian)
    images = torch.rand(batch, channels, side, side)
    if channels_last:
        encoder, images = encoder.to(memory_format=torch.channels_last), images.contiguous(
            memory_format=torch.channels_last)
    opt = torch.optim.Adam(encoder.parameters(), lr=1e-3, betas=(0.5, 0.999))

    def step():
        loss = sum(code.square().mean() for code in encoder(images))
        descend(opt, loss)
        return loss.item()

    return step, count(encoder)


def resnet50(channels=3):
    """ResNet-50 without its classifier, as keras.applications (and keras_gens) build it."""
    layers, c = [nn.Conv2d(channels, 64, 7, stride=2, padding=3), nn.BatchNorm2d(64), nn.ReLU(),
                 nn.MaxPool2d(3, stride=2, padding=1)], 64
    for f1, blocks, stride in ((64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2)):
        filters = (f1, f1, 4 * f1)
        layers.append(Bottleneck(c, filters, stride, project=True))
        layers += [Bottleneck(4 * f1, filters) for _ in range(blocks - 1)]
        c = 4 * f1
    return nn.Sequential(*layers)


def conv_bn_relu(i, o):
    return nn.Sequential(nn.Conv2d(i, o, 3, padding=1), nn.BatchNorm2d(o), nn.ReLU())


class UNet(nn.Module):
    def __init__(self, channels=3, filters=(32, 64, 128, 256, 512)):
        super().__init__()
        self.down, c = nn.ModuleList(), channels
        for f in filters[:-1]:
            self.down.append(nn.Sequential(conv_bn_relu(c, f), conv_bn_relu(f, f)))
            c = f
        self.bottom = nn.Sequential(conv_bn_relu(c, filters[-1]), conv_bn_relu(filters[-1], filters[-1]))
        c = filters[-1]
        self.deconvs, self.up = nn.ModuleList(), nn.ModuleList()
        for f in reversed(filters[:-1]):
            self.deconvs.append(nn.ConvTranspose2d(c, f, 2, stride=2))
            self.up.append(nn.Sequential(conv_bn_relu(2 * f, f), conv_bn_relu(f, f)))
            c = f
        self.mask = nn.Conv2d(c, 1, 1)

    def forward(self, x):
        skips = []
        for block in self.down:
            x = block(x)
            skips.append(x)
            x = F.max_pool2d(x, 2)
        x = self.bottom(x)
        for deconv, block, skip in zip(self.deconvs, self.up, reversed(skips)):
            x = block(torch.cat([skip, deconv(x)], 1))
        return torch.sigmoid(self.mask(x))


class Extractor(nn.Module):
    def __init__(self, embedding=512):
        super().__init__()
        self.backbone = resnet50()
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(2048, embedding, 1), nn.BatchNorm2d(embedding),
                                  nn.ReLU(), nn.Flatten())

    def forward(self, x):
        return self.head(self.backbone(x))


def batch_hard_triplet(labels, features, margin=0.3):
    distances = torch.cdist(features, features).clamp_min(1e-12)
    same = labels[:, None] == labels[None]
    eye = torch.eye(len(labels), dtype=torch.bool)
    hardest_positive = torch.where(same & ~eye, distances, torch.zeros_like(distances)).amax(1)
    largest = distances.amax(1, keepdim=True)
    hardest_negative = torch.where(same, largest, distances).amin(1)
    return F.relu(hardest_positive - hardest_negative + margin).mean()


def hide_top_fraction(images, masks, fraction=0.3):
    n, _, h, w = masks.shape
    k = math.ceil(fraction * h * w - 1e-9)
    top = masks.detach().flatten(1).topk(k, dim=1, sorted=False).indices
    keep = torch.ones(n, h * w).scatter_(1, top, 0.0).view(n, 1, h, w)
    return images * keep


def reid_step(height, width, batch, channels, *, stage, identities=20, channels_last=False):
    extractor = Extractor()
    mask_generator = UNet(channels) if stage == "joint" else None
    images = torch.rand(batch, channels, height, width)
    labels = torch.arange(identities).repeat_interleave(batch // identities)
    if channels_last:
        extractor = extractor.to(memory_format=torch.channels_last)
        mask_generator = mask_generator and mask_generator.to(memory_format=torch.channels_last)
        images = images.contiguous(memory_format=torch.channels_last)
    mean, std = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1), torch.tensor([0.229, 0.224, 0.225]).view(
        1, 3, 1, 1)
    opt = torch.optim.Adam(extractor.parameters(), lr=2e-4, eps=1e-7)
    if stage == "extractor":
        def step():
            loss = batch_hard_triplet(labels, extractor((images - mean) / std))
            descend(opt, loss)
            return loss.item()

        return step, count(extractor)
    mask_opt = torch.optim.Adam(mask_generator.parameters(), lr=1e-3, eps=1e-7)

    def step():
        normalized = (images - mean) / std
        masks = mask_generator(normalized)
        extractor.eval()  # F measures the mask in inference mode, its weights not trained by L_mask
        with torch.no_grad():
            targets = extractor(normalized)
        masked = extractor(masks * normalized)
        extractor.train()
        identity = (targets - masked).square().mean()
        sparsity = masks.mean()
        contiguity = ((masks[:, :, 1:] - masks[:, :, :-1]).abs().sum((1, 2, 3))
                      + (masks[:, :, :, 1:] - masks[:, :, :, :-1]).abs().sum((1, 2, 3))).mean() / (height * width)
        mask_loss = 0.95 * identity + 0.05 * (sparsity + contiguity)
        mask_grads = torch.autograd.grad(mask_loss, list(mask_generator.parameters()))
        hidden = hide_top_fraction(normalized, masks)
        loss = 0.9 * batch_hard_triplet(labels, extractor(normalized)) + 0.1 * batch_hard_triplet(
            labels, extractor(hidden.detach()))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        for p, grad in zip(mask_generator.parameters(), mask_grads):
            p.grad = grad
        mask_opt.step()
        opt.step()
        return loss.item()

    return step, count(extractor, mask_generator)


# ---------------------------------------------------------------- PE-GAN (BigGAN-deep, spectral norm, 2C loss)
def sn_conv(i, o, k, bias=True):
    return spectral_norm(nn.Conv2d(i, o, k, padding=k // 2, bias=bias))


def sn_linear(i, o, bias=True):
    return spectral_norm(nn.Linear(i, o, bias=bias))


class ConditionalBN(nn.Module):
    def __init__(self, channels, condition):
        super().__init__()
        self.bn = nn.BatchNorm2d(channels, affine=False, eps=1e-4, momentum=0.1)
        self.gain, self.bias = sn_linear(condition, channels, False), sn_linear(condition, channels, False)

    def forward(self, x, c):
        return self.bn(x) * (1 + self.gain(c))[:, :, None, None] + self.bias(c)[:, :, None, None]


class GBlock(nn.Module):
    def __init__(self, channels, filters, up, condition):
        super().__init__()
        hidden = max(channels // 4, 1)
        self.filters, self.up = filters, up
        self.norms = nn.ModuleList([ConditionalBN(c, condition) for c in (channels, hidden, hidden, hidden)])
        self.convs = nn.ModuleList([sn_conv(channels, hidden, 1), sn_conv(hidden, hidden, 3),
                                    sn_conv(hidden, hidden, 3), sn_conv(hidden, filters, 1)])

    def forward(self, x, c):
        skip = x[:, :self.filters]
        for i, (norm, conv) in enumerate(zip(self.norms, self.convs)):
            x = F.relu(norm(x, c))
            if i == 1 and self.up:
                x = upsample(x)
            x = conv(x)
        return x + (upsample(skip) if self.up else skip)


class DBlock(nn.Module):
    def __init__(self, channels, filters, down):
        super().__init__()
        hidden = max(filters // 4, 1)
        self.down = down
        self.convs = nn.ModuleList([sn_conv(channels, hidden, 1), sn_conv(hidden, hidden, 3),
                                    sn_conv(hidden, hidden, 3), sn_conv(hidden, filters, 1, bias=False)])
        self.conv4_bias = nn.Parameter(torch.zeros(filters, 1, 1))
        self.extra = sn_conv(channels, filters - channels, 1) if filters > channels else None

    def forward(self, x):
        skip = x
        for conv in self.convs:
            x = conv(F.relu(x))
        if self.down:
            x, skip = F.avg_pool2d(x, 2), F.avg_pool2d(skip, 2)
        if self.extra is not None:
            skip = torch.cat([skip, self.extra(skip)], 1)
        return x + skip + self.conv4_bias


class Attention(nn.Module):
    def __init__(self, channels):
        super().__init__()
        self.theta, self.phi = sn_conv(channels, channels // 8, 1, False), sn_conv(channels, channels // 8, 1, False)
        self.g, self.out = sn_conv(channels, channels // 2, 1, False), sn_conv(channels // 2, channels, 1, False)
        self.gamma = nn.Parameter(torch.zeros(()))

    def forward(self, x):
        n, c, h, w = x.shape
        theta = self.theta(x).flatten(2)                           # [n, c/8, hw]
        phi = F.max_pool2d(self.phi(x), 2).flatten(2)              # [n, c/8, hw/4]
        g = F.max_pool2d(self.g(x), 2).flatten(2)                  # [n, c/2, hw/4]
        beta = torch.softmax(theta.transpose(1, 2) @ phi, -1)      # [n, hw, hw/4]
        attended = (g @ beta.transpose(1, 2)).view(n, c // 2, h, w)
        return x + self.gamma * self.out(attended)


class PEGenerator(nn.Module):
    def __init__(self, height, width, channels, classes, *, latent, embed, ch, g_channels, attention_stage):
        super().__init__()
        stages = len(g_channels) - 1
        condition = latent + embed
        self.shared = nn.Embedding(classes, embed)
        self.start = (g_channels[0] * ch, height >> stages, width >> stages)
        self.linear = sn_linear(condition, math.prod(self.start))
        self.blocks, self.attention_after = nn.ModuleList(), {}
        for stage in range(1, stages + 1):
            self.blocks.append(GBlock(g_channels[stage - 1] * ch, g_channels[stage - 1] * ch, False, condition))
            self.blocks.append(GBlock(g_channels[stage - 1] * ch, g_channels[stage] * ch, True, condition))
            if stage == attention_stage:
                self.attention = Attention(g_channels[stage] * ch)
                self.attention_after = len(self.blocks) - 1
        self.out = nn.Sequential(nn.BatchNorm2d(g_channels[-1] * ch, eps=1e-4), nn.ReLU(),
                                 sn_conv(g_channels[-1] * ch, channels, 3), nn.Tanh())

    def forward(self, z, labels):
        c = torch.cat([self.shared(labels), z], 1)
        x = self.linear(c).view(-1, *self.start)
        for i, block in enumerate(self.blocks):
            x = block(x, c)
            if i == self.attention_after:
                x = self.attention(x)
        return self.out(x)


class PEDiscriminator(nn.Module):
    def __init__(self, channels, *, ch, d_channels, d_blocks, embed):
        super().__init__()
        layers, c = [sn_conv(channels, d_channels[0] * ch, 3)], d_channels[0] * ch
        for stage, blocks in enumerate(d_blocks, 1):
            for block in range(blocks):
                layers.append(DBlock(c, d_channels[stage] * ch, block == 0))
                c = d_channels[stage] * ch
        self.body = nn.Sequential(*layers, nn.ReLU())
        self.score, self.embedding = sn_linear(c, 1), sn_linear(c, embed)

    def forward(self, x):
        h = self.body(x).sum((2, 3))
        return self.score(h), self.embedding(h)


class Relational(nn.Module):
    def __init__(self, classes, dim):
        super().__init__()
        self.prior = torch.zeros(classes, 1)
        self.prior_projection, self.label_embedding = sn_linear(1, dim // 4), nn.Embedding(classes, dim // 4)
        self.token_projection, self.dim = sn_linear(dim // 2, dim), dim

    def forward(self):
        tokens = self.token_projection(torch.cat([self.prior_projection(self.prior), self.label_embedding.weight], 1))
        return torch.softmax(tokens @ tokens.T / math.sqrt(self.dim), -1) @ tokens + tokens


def contrastive_2c(embeddings, anchors, labels, temperature=1.0):
    h, a = F.normalize(embeddings, dim=-1), F.normalize(anchors, dim=-1)
    n = len(labels)
    to_anchor = (h * a).sum(-1, keepdim=True) / temperature
    similarity = h @ h.T / temperature
    others = ~torch.eye(n, dtype=torch.bool)
    same = others & (labels[:, None] == labels[None])
    excluded = torch.full_like(similarity, -1e9)
    numerator = torch.logsumexp(torch.cat([to_anchor, torch.where(same, similarity, excluded)], 1), 1)
    denominator = torch.logsumexp(torch.cat([to_anchor, torch.where(others, similarity, excluded)], 1), 1)
    return denominator - numerator


def flip_and_shift(images, max_shift=0.125):
    n, _, h, w = images.shape
    flipped = torch.rand(n) < 0.5
    images = torch.where(flipped[:, None, None, None], images.flip(3), images)
    ph, pw = int(h * max_shift), int(w * max_shift)
    padded = F.pad(images, (pw, pw, ph, ph), mode="reflect")
    top, left = torch.randint(0, 2 * ph + 1, (n,)), torch.randint(0, 2 * pw + 1, (n,))
    rows = (top[:, None] + torch.arange(h)[None])[:, None, :, None].expand(n, images.shape[1], h, padded.shape[3])
    shifted = padded.gather(2, rows)
    cols = (left[:, None] + torch.arange(w)[None])[:, None, None, :].expand(n, images.shape[1], h, w)
    return shifted.gather(3, cols)


def pe_gan_step(height, width, batch, channels, *, classes=40, latent=128, embed=128, ch=32,
                g_channels=(16, 16, 8, 8, 4, 2, 1), attention_stage=4, d_channels=(1, 2, 4, 8, 8, 16, 16),
                d_blocks=(1, 2, 2, 2, 2, 2), contrastive_dim=1024, d_steps=2, channels_last=False):
    g = PEGenerator(height, width, channels, classes, latent=latent, embed=embed, ch=ch, g_channels=g_channels,
                    attention_stage=attention_stage)
    d = PEDiscriminator(channels, ch=ch, d_channels=d_channels, d_blocks=d_blocks, embed=contrastive_dim)
    relational = Relational(classes, contrastive_dim)
    real = batches(d_steps, (batch, channels, height, width), channels_last)
    labels = torch.randint(0, classes, (d_steps, batch))
    if channels_last:
        g, d = g.to(memory_format=torch.channels_last), d.to(memory_format=torch.channels_last)
    g_opt = torch.optim.Adam(g.parameters(), lr=2e-4, betas=(0.5, 0.999), eps=1e-7)
    d_opt = torch.optim.Adam(list(d.parameters()) + list(relational.parameters()), lr=2e-4, betas=(0.5, 0.999),
                             eps=1e-7)

    def step():
        with torch.no_grad():  # the fakes of all D steps in one generator call, as keras_gens
            fakes = g(torch.randn(d_steps * batch, latent), labels.flatten()).split(batch)
        for k in range(d_steps):
            augmented = flip_and_shift(real[k])
            scores, embeddings = d(torch.cat([real[k], fakes[k], augmented]))
            real_score, fake_score, aug_score = scores.split(batch)
            real_embedding, _, aug_embedding = embeddings.split(batch)
            hinge = F.relu(1 - real_score).squeeze(1) + F.relu(1 + fake_score).squeeze(1)
            contrastive = contrastive_2c(real_embedding, relational()[labels[k]], labels[k])
            consistency = (real_score - aug_score).square().sum(1) + (real_embedding - aug_embedding).square().mean(1)
            d_loss = (hinge + contrastive + 10.0 * consistency).mean()
            descend(d_opt, d_loss)
        score, embedding = d(g(torch.randn(batch, latent), labels[-1]))
        with torch.no_grad():
            anchors = relational()[labels[-1]]
        g_loss = (-score.squeeze(1) + contrastive_2c(embedding, anchors, labels[-1])).mean()
        descend(g_opt, g_loss)
        return g_loss.item()

    return step, count(g, d, relational)
