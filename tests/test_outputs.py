"""keras_gens.outputs alone: which folder a command may write into, from the folder's marker or layout."""
import numpy as np
import pytest

from keras_gens import outputs
from keras_gens.errors import RunDirError
from keras_gens.outputs import check_file, check_folder, kind_of, mark
from keras_gens.run_dirs import RUN
from keras_gens.sampling import GENERATED
from keras_gens.serving import EXPORT
from keras_gens.utils.images import encode_png, is_keras_gens_png


def test_a_new_an_empty_or_an_own_folder_is_taken_and_nothing_is_written(tmp_path):
    assert check_folder(tmp_path / "new" / "run", RUN) == tmp_path / "new" / "run"
    assert not (tmp_path / "new").exists()  # a check writes nothing
    (tmp_path / "empty").mkdir()
    check_folder(tmp_path / "empty", RUN)
    (tmp_path / "locked").mkdir()
    (tmp_path / "locked" / ".lock").write_text("pid: 1\n")  # what a run killed before its first write leaves
    check_folder(tmp_path / "locked", RUN)
    mark(tmp_path / "mine", RUN)
    assert kind_of(tmp_path / "mine")["kind"] == "run"
    check_folder(tmp_path / "mine", RUN)


def test_another_kind_or_a_users_files_are_refused_by_name(tmp_path):
    mark(tmp_path / "set", GENERATED)
    with pytest.raises(RunDirError, match="holds a generated set .python -m keras_gens.generate., not a training run"):
        check_folder(tmp_path / "set", RUN)
    (tmp_path / "mine").mkdir()
    for name in ("a.txt", "b.txt", "c.txt", "d.txt"):
        (tmp_path / "mine" / name).write_text("mine")
    with pytest.raises(RunDirError, match=r"did not write \(a.txt, b.txt, c.txt and 1 more\)"):
        check_folder(tmp_path / "mine", RUN)


def test_a_marker_of_a_kind_this_process_does_not_know_is_refused_by_its_own_words(tmp_path):
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / outputs.MARKER).write_text("kind: telescope\nwhat: a telescope log\ncommand: python -m scope\n")
    with pytest.raises(RunDirError, match=r"holds a telescope log \(python -m scope\), not a training run"):
        check_folder(tmp_path / "x", RUN)


def test_a_run_an_earlier_version_wrote_is_recognised_by_its_layout(tmp_path):
    old = tmp_path / "old"
    old.mkdir()
    (old / "run.yaml").write_text("model: vae\n")
    (old / "config.yaml").write_text("train: {}\n")
    assert kind_of(old)["kind"] == "run"
    check_folder(old, RUN)
    with pytest.raises(RunDirError, match="holds a training run"):
        check_folder(old, GENERATED)


def test_inside_another_output_only_beside_its_own_files(tmp_path):
    run = mark(tmp_path / "run", RUN)
    (run / "checkpoints").mkdir()
    with pytest.raises(RunDirError, match="among the files of a training run .* its checkpoints"):
        check_folder(run / "checkpoints" / "x", EXPORT)
    check_folder(run / "export" / "1", EXPORT)  # a run's exports live in RUN/export/<N>
    check_folder(run / "generated", GENERATED)  # and the demo's generated set beside its files
    sealed = mark(tmp_path / "set", GENERATED)
    with pytest.raises(RunDirError, match="lies inside a generated set"):
        check_folder(sealed / "deeper", RUN)


def test_paths_that_are_files_under_files_or_empty(tmp_path):
    (tmp_path / "f").write_text("x")
    with pytest.raises(RunDirError, match="is a file, not a folder"):
        check_folder(tmp_path / "f", RUN)
    with pytest.raises(RunDirError, match="lies under .*f, which is a file"):
        check_folder(tmp_path / "f" / "g" / "h", RUN)
    with pytest.raises(RunDirError, match="--out is empty"):
        check_folder("", RUN)
    (tmp_path / "link").symlink_to(tmp_path / "nowhere")
    with pytest.raises(RunDirError, match="is a link to nothing"):
        check_folder(tmp_path / "link", RUN)


def test_a_single_file_is_replaced_only_when_its_command_wrote_it(tmp_path):
    picture = tmp_path / "grid.png"
    picture.write_bytes(encode_png(np.zeros((4, 4, 3), np.uint8)))
    assert is_keras_gens_png(picture)
    check_file(picture, "--grid", is_keras_gens_png, "keras_gens")
    other = tmp_path / "photo.png"
    import cv2

    cv2.imwrite(str(other), np.zeros((4, 4, 3), np.uint8))  # a PNG without the mark
    assert not is_keras_gens_png(other)
    with pytest.raises(RunDirError, match="already exists and was not written by keras_gens"):
        check_file(other, "--grid", is_keras_gens_png, "keras_gens")
    with pytest.raises(RunDirError, match="is a folder, not a file"):
        check_file(tmp_path, "--grid", is_keras_gens_png, "keras_gens")
    check_file(tmp_path / "new.png", "--grid", is_keras_gens_png, "keras_gens")
