"""Person re-identification data sets in their published folder layouts.

Market-1501, DukeMTMC-reID and CUHK03 (new protocol, "CUHK03-NP") all ship as

    ROOT/bounding_box_train/   training images
    ROOT/query/                query images
    ROOT/bounding_box_test/    the gallery

with the identity and camera in each file name: Market ``0002_c1s1_000451_03.jpg``,
Duke ``0005_c2_f0046985.jpg``, CUHK03-NP ``0001_c1_1.png`` — all read by the pattern
``([-\\d]+)_c(\\d+)``.  Identity ``-1`` marks junk boxes (dropped here); identity
``0000`` marks Market's distractors, which stay in the gallery as negatives and are
left out of training.  ``data.split`` is ``train``, ``query`` or ``gallery``.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from keras_gens.data.pipeline import FileSource, Preprocess
from keras_gens.data.validate import IMAGE_EXTENSIONS, checked_file_source
from keras_gens.errors import DataError, DataMissing

NAME_PATTERN = re.compile(r"([-\d]+)_c(\d+)")
SPLIT_FOLDERS = {"train": "bounding_box_train", "query": "query", "gallery": "bounding_box_test"}
JUNK_ID, DISTRACTOR_ID = -1, 0


@dataclass(frozen=True)
class Layout:
    title: str
    release_folders: tuple  # names the unzipped release may carry above the split folders
    download: str


LAYOUTS = {
    "market1501": Layout("Market-1501", ("Market-1501-v15.09.15", "Market-1501", "market1501"),
                         "Market-1501-v15.09.15.zip from https://zheng-lab.cecs.anu.edu.au/Project/project_reid.html"),
    "dukemtmc": Layout("DukeMTMC-reID", ("DukeMTMC-reID", "dukemtmc-reid"),
                       "DukeMTMC-reID.zip (https://github.com/layumi/DukeMTMC-reID_evaluation; the authors have "
                       "withdrawn DukeMTMC, so only copies you already hold can be used)"),
    "cuhk03": Layout("CUHK03", ("cuhk03-np",),
                     "CUHK03-NP (new protocol, 767/700 split) from "
                     "https://github.com/zhunzhong07/person-re-ranking/tree/master/CUHK03-NP"),
}


@dataclass
class ReIDSource(FileSource):
    """Images of people with their identity (``person_ids``, as in the file names) and camera.

    ``labels`` number the identities 0..n−1 (what a sampler groups by); evaluation compares
    ``person_ids`` and ``camera_ids``.
    """

    person_ids: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    camera_ids: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    split: str = "train"
    title: str = ""


def parse_name(name: str) -> tuple[int, int] | None:
    """``'0002_c1s1_000451_03.jpg'`` -> ``(2, 1)``: identity and 1-based camera; None if it does not match."""
    match = NAME_PATTERN.match(name)
    if not match:
        return None
    return int(match.group(1)), int(match.group(2))


def find_root(kind: str, path) -> Path:
    """The folder that holds the split folders, looking one release folder down."""
    layout = LAYOUTS[kind]
    root = Path(path or f"data/{kind}").expanduser()
    for name in layout.release_folders:
        if not (root / SPLIT_FOLDERS["train"]).is_dir() and (root / name).is_dir():
            root = root / name
    if kind == "cuhk03" and not (root / SPLIT_FOLDERS["train"]).is_dir():
        versions = [v for v in ("labeled", "detected") if (root / v / SPLIT_FOLDERS["train"]).is_dir()]
        if versions:
            raise DataError(f"{root} holds CUHK03's {' and '.join(versions)} versions; choose one: "
                            + " or ".join(f"--data cuhk03:{root / v}" for v in versions))
    return root


def title_of(kind: str, root: Path) -> str:
    """The name a results table uses: 'Market-1501', 'CUHK03 (L)', ..."""
    title = LAYOUTS[kind].title
    if kind == "cuhk03":
        version = {"labeled": "L", "detected": "D"}.get(root.name.lower())
        return f"{title} ({version})" if version else title
    return title


def read_split(kind: str, path, split: str) -> tuple[Path, list[Path], np.ndarray, np.ndarray]:
    """Files of one split with identities and cameras (junk dropped; distractors only outside training)."""
    if split not in SPLIT_FOLDERS:
        raise DataError(f"re-ID data sets have the splits train, query and gallery (data.split); got {split!r}")
    root = find_root(kind, path)
    folder = root / SPLIT_FOLDERS[split]
    if not folder.is_dir():
        raise DataMissing(
            f"{LAYOUTS[kind].title} not found: {folder} does not exist.\n"
            f"  Download {LAYOUTS[kind].download}\n"
            f"  and unzip it so that {root}/bounding_box_train, {root}/query and {root}/bounding_box_test exist; "
            f"then pass --data {kind}:{root}")
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)
    if not files:
        raise DataError(f"{folder} holds no images ({', '.join(IMAGE_EXTENSIONS)})")
    parsed = [(f, parse_name(f.name)) for f in files]
    unnamed = [f.name for f, ids in parsed if ids is None]
    if unnamed:
        raise DataError(f"{len(unnamed)} file(s) in {folder} do not carry an identity and camera in their names "
                        f"(expected e.g. 0002_c1s1_000451_03.jpg), e.g. {', '.join(unnamed[:3])}")
    dropped = {JUNK_ID, DISTRACTOR_ID} if split == "train" else {JUNK_ID}
    kept = [(f, ids) for f, ids in parsed if ids[0] not in dropped]
    if not kept:
        raise DataError(f"{folder} holds only junk (-1) or distractor (0000) images")
    paths = [f for f, _ in kept]
    person_ids = np.array([ids[0] for _, ids in kept], np.int64)
    camera_ids = np.array([ids[1] for _, ids in kept], np.int64)
    return root, paths, person_ids, camera_ids


def loader(kind: str):
    def load(path, data_cfg, preprocess: Preprocess) -> ReIDSource:
        split = data_cfg["split"]
        root, paths, person_ids, camera_ids = read_split(kind, path, split)
        identities, labels = np.unique(person_ids, return_inverse=True)
        source = checked_file_source(
            f"{kind}:{root} ({split})", paths, labels, data_cfg, preprocess, num_classes=len(identities),
            class_names=[str(i) for i in identities], source_class=ReIDSource,
            per_example={"person_ids": person_ids, "camera_ids": camera_ids})
        source.split, source.title = split, title_of(kind, root)
        return source

    load.__doc__ = f"{LAYOUTS[kind].title} in its published layout (see keras_gens.data.reid)."
    return load
