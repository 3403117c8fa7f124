"""The cases the side-by-side benchmark times, shared by the driver and both workers (plain Python, no imports).

Each case is one training step of the same architecture, batch and optimizer in keras_gens and in PyTorch.
"""

CASES = {
    # name: (keras_gens model or "mlp", image side, batch, channels)
    "dcgan64": ("dcgan", 64, 64, 3),
    "dcgan128": ("dcgan", 128, 64, 3),
    "wae128": ("wae", 128, 8, 3),     # the thesis's WAE (GAN penalty); batch 8, as tools/bench.py at paper size
    "wae_smoke": ("wae", 32, 32, 3),  # its smoke widths (model.width=0.125)
    "mlp": ("mlp", 28, 32, 1),        # B²-FedGAN's MLP 2x200 on MNIST-sized images, SGD, batch 32
    "mlp_spe16": ("mlp", 28, 32, 1),  # the same, Keras running 16 steps per call (compile's steps_per_execution)
    "dcgan64_nhwc": ("dcgan", 64, 64, 3),  # PyTorch in its channels-last memory format (ours always is)
    "dcgan64_bf16": ("dcgan", 64, 64, 3),  # both in bfloat16: train.precision=mixed_bfloat16, torch.autocast
}
# Keras settings of a case; a step's time is a call's time over steps_per_execution.
KERAS_OPTIONS = {"mlp_spe16": {"steps_per_execution": 16}}
# Keras mixed-precision policy of a case (float32 otherwise).
KERAS_PRECISION = {"dcgan64_bf16": "mixed_bfloat16"}
# PyTorch settings of a case: channels_last memory format, autocast to a dtype.
TORCH_OPTIONS = {"dcgan64_nhwc": {"channels_last": True}, "dcgan64_bf16": {"channels_last": True,
                                                                           "autocast": "bfloat16"}}
SMOKE = ("dcgan64", "dcgan64_nhwc", "dcgan64_bf16", "wae_smoke", "mlp", "mlp_spe16")
PAPER = ("dcgan128", "wae128")
