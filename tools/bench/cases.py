"""The cases the side-by-side benchmark times, shared by the driver and both workers (plain Python, no imports).

Each case is one training step of the same architecture, batch and optimizer in keras_gens and in PyTorch.
A case is a dict:
    model       keras_gens model name (``mlp``: federated/classifier.py's MLP; ``*_encoder``: that model's
                ResNet encoder alone, one Adam step on its mean squared code)
    image       (height, width, channels)
    batch       images per update (a step with several critic updates consumes batch × batches_per_step)
    classes     labels drawn from 0..classes−1 (0: unconditional)
    overrides   keras_gens config overrides (the torch mirror takes the same sizes through ``torch``)
    stage       reid's stage (extractor | joint), bagan_gp's (autoencoder | gan)
    torch       keyword arguments of the PyTorch mirror
    keras       compile settings (steps_per_execution), precision: a Keras mixed-precision policy
    layout      PyTorch's memory format: channels_last ("_nhwc" cases; ours is always NHWC)
    autocast    torch.autocast dtype ("_bf16" cases, with Keras's mixed_bfloat16)
    rounds      at most this many timed rounds (the slowest cases: tens of seconds per PyTorch step)
"""

PE_GAN_SMALL = ["model.ch=8", "model.g_channels=[4,2,1,1]", "model.g_attention_stage=2", "model.d_channels=[1,2,4,4]",
                "model.d_blocks_per_stage=[1,2,2]", "model.contrastive_dim=64", "model.embed_dim=32",
                "model.latent_dim=32"]
PE_GAN_SMALL_TORCH = dict(ch=8, g_channels=(4, 2, 1, 1), attention_stage=2, d_channels=(1, 2, 4, 4),
                          d_blocks=(1, 2, 2), contrastive_dim=64, embed=32, latent=32)

BASE = {
    "dcgan64": dict(model="dcgan", image=(64, 64, 3), batch=64),
    "dcgan128": dict(model="dcgan", image=(128, 128, 3), batch=64),
    "wae128": dict(model="wae", image=(128, 128, 3), batch=8),  # the thesis's WAE (GAN penalty), as tools/bench.py
    "wae_smoke": dict(model="wae", image=(32, 32, 3), batch=32, overrides=["model.width=0.125"],
                      torch=dict(width=0.125)),
    "mlp": dict(model="mlp", image=(28, 28, 1), batch=32),  # B²-FedGAN's MLP 2x200 on MNIST-sized images, SGD
    "dcgan_oct64": dict(model="dcgan_oct", image=(64, 64, 3), batch=64),
    "dcgan_oct128": dict(model="dcgan_oct", image=(128, 128, 3), batch=64),
    # WGAN's 5 critic updates (RMSprop, clipping) and one generator update; each update on 64 images
    "wgan_oct64": dict(model="wgan_oct", image=(64, 64, 3), batch=64),
    # the paper's widths at a quarter of the side (64x192 instead of 256x768); 5 critic updates of 8
    "wgan_gp_cond": dict(model="wgan_gp_cond", image=(64, 192, 1), batch=8, classes=40),
    # the smoke network (ch 8, attention at 16x48) at 32x96, 2 D updates of 8
    "pe_gan_small": dict(model="pe_gan", image=(32, 96, 1), batch=8, classes=40, overrides=PE_GAN_SMALL,
                         torch=PE_GAN_SMALL_TORCH),
    # Table 1's networks at 256x768; 2 D updates of 2 real images (as tools/bench_pxd.py trains)
    "pe_gan256": dict(model="pe_gan", image=(256, 768, 1), batch=2, classes=40, rounds=3),
    "reid_stage1": dict(model="reid", image=(224, 112, 3), batch=60, classes=20, stage="extractor"),
    "reid_stage3": dict(model="reid", image=(224, 112, 3), batch=60, classes=20, stage="joint", rounds=3),
    "bagan_gp_ae": dict(model="bagan_gp", image=(64, 64, 1), batch=64, classes=4, stage="autoencoder"),
    "bagan_gp": dict(model="bagan_gp", image=(64, 64, 1), batch=64, classes=4, stage="gan"),
    "cgan": dict(model="cgan", image=(28, 28, 1), batch=512, classes=10),
    "vae_resnet_encoder": dict(model="vae_resnet_encoder", image=(128, 128, 3), batch=16),
    "wae_resnet_encoder": dict(model="wae_resnet_encoder", image=(128, 128, 3), batch=16),
}
# Fully connected networks: no memory-format variant.
DENSE = ("mlp", "cgan")


def _variants():
    cases = {}
    for name, case in BASE.items():
        cases[name] = case
        if case["model"] not in DENSE and name not in ("wae_smoke", "dcgan128", "wae128"):
            cases[name + "_nhwc"] = dict(case, layout="channels_last")
    cases["mlp_spe16"] = dict(BASE["mlp"], keras={"steps_per_execution": 16})  # Keras running 16 steps per call
    for name in ("dcgan64", "dcgan_oct64", "reid_stage1", "pe_gan_small"):
        cases[name + "_bf16"] = dict(BASE[name], layout="channels_last", precision="mixed_bfloat16",
                                     autocast="bfloat16")
    return cases


CASES = _variants()
PAPER = ("dcgan128", "wae128")
SMOKE = tuple(name for name in CASES if name not in PAPER)


def image_label(case: dict) -> str:
    return "x".join(map(str, case["image"]))
