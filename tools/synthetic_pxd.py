"""Write seeded stand-in PXD events (40 hitmaps each) in the format ``--data pxd:FILE`` reads.

    python tools/synthetic_pxd.py OUT.npz [--events 8] [--seed 0]

See keras_gens/data/synthetic_pxd.py for what the hitmaps imitate.
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from keras_gens.data.synthetic_pxd import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
