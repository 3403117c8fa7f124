# keras_gens: every target installs what it needs into .venv first (GPU=1: with TensorFlow's CUDA wheels).
#   make demo   train the VAE on the embedded digits (no download), export and sample it
#   make test   the test suite (what CI runs)
#   make install-current / test-current   the current stack (Python 3.12/3.13, TF 2.21 + tf_keras) in .venv-current
#   make bench  throughput, keras_gens vs PyTorch, PE-GAN events (not tests); make bench-federated: federated rounds;
#               make bench-reid: re-ID stages, extraction and ranking; make bench-pxd: PE-GAN events
#   make simulate   the federated experiment on the embedded digits (SIM_ARGS="key=value ...")
#   make notebooks  run the notebooks at their defaults and save them with their outputs
#   make results    every paper's claims measured on embedded data: RESULTS.md (RESULTS_ARGS="wae --budget standard")
#   make fid-weights / verify-fid / bench-fid   the standard FID weights; agreement and speed against pytorch-fid
#   make bench-jobs   results runs side by side (--jobs 2) against one after another
#   make bench-checkpoint   what checkpoints within an epoch cost a smoke run
#   make bench-quality   keras_gens against its PyTorch mirrors in quality: FID and time to the quality bar

PYTHON ?= python3.11
VENV   ?= .venv
PY     := $(VENV)/bin/python
# GPU=1: also TensorFlow's CUDA wheels (tensorflow[and-cuda], NVIDIA GPUs on Linux): make install GPU=1
GPU    ?= 0
STAMP  := $(VENV)/.installed$(if $(filter 1,$(GPU)),-gpu)
export TF_CPP_MIN_LOG_LEVEL ?= 2
export PYTHONUNBUFFERED := 1

.PHONY: install install-current demo test test-current test-slow notebooks results bench bench-venv bench-settings bench-quality bench-federated bench-reid bench-pxd simulate clean fid-weights verify-fid bench-fid bench-jobs bench-checkpoint

install: $(STAMP)

$(STAMP): requirements/base.txt requirements/test.txt requirements/lock.txt setup.cfg pyproject.toml tools/install.sh
	VENV=$(VENV) PYTHON=$(PYTHON) GPU=$(GPU) bash tools/install.sh

DEMO_OUT ?= runs/demo-vae

demo: $(STAMP)
	$(PY) -m keras_gens.train vae --smoke --out $(DEMO_OUT)
	$(PY) -m keras_gens.export $(DEMO_OUT) --out $(DEMO_OUT)/export/1
	$(PY) -m keras_gens.generate $(DEMO_OUT)/export --n 16 --out $(DEMO_OUT)/generated --grid $(DEMO_OUT)/generated.png
	@echo "samples: $(DEMO_OUT)/samples  generated: $(DEMO_OUT)/generated.png  TensorBoard: $(PY) -m tensorboard.main --logdir $(DEMO_OUT)/logs"

# The current stack: Python 3.12 (or 3.13: CURRENT_PYTHON=python3.13), TensorFlow 2.21 with tf_keras, in
# .venv-current; everything but federated/ (its tests are skipped there). Not yet part of `make test`.
# the first Python 3.12 or 3.13 that runs (pyenv keeps versions it has not made global under ~/.pyenv/versions)
CURRENT_PYTHON ?= $(firstword $(foreach p,python3.12 python3.13,$(shell $(p) -c '' >/dev/null 2>&1 && echo $(p))) \
                  $(wildcard $(HOME)/.pyenv/versions/3.12*/bin/python3.12 $(HOME)/.pyenv/versions/3.13*/bin/python3.13) \
                  python3.12)
CURRENT_VENV   ?= .venv-current
CURRENT_STAMP  := $(CURRENT_VENV)/.installed

$(CURRENT_STAMP): requirements/current.txt setup.cfg pyproject.toml
	$(CURRENT_PYTHON) -m venv $(CURRENT_VENV)
	$(CURRENT_VENV)/bin/pip install -q -r requirements/current.txt
	$(CURRENT_VENV)/bin/pip install -q --no-deps --no-build-isolation -e .
	touch $@

install-current: $(CURRENT_STAMP)

test-current: $(CURRENT_STAMP)
	$(CURRENT_VENV)/bin/python -m pytest -p no:cacheprovider -q -m "not slow" --durations=30 $(PYTEST_ARGS)

# -p no:cacheprovider keeps the checkout clean; the session fixture in tests/conftest.py
# stops any child process (TFF's worker) so CI never waits on a leftover. --durations lists the
# slowest tests in every CI log: the suite must stay well under 25 minutes on 2 cores.
test: $(STAMP)
	$(PY) -m pytest -p no:cacheprovider -q -m "not slow" --durations=30 $(PYTEST_ARGS)

# The long checks; PROPERTY_EXAMPLES=N sets how many random examples each property test draws (400).
test-slow: $(STAMP)
	$(PY) -m pytest -p no:cacheprovider -q -m slow $(PYTEST_ARGS)

# PyTorch, for the side-by-side benchmark only: the CPU build of torch 2.13.0 in its own venv.
BENCH_VENV ?= .venv-bench
$(BENCH_VENV)/.installed:
	$(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/pip install -q torch==2.13.0 "numpy<2"
	touch $@

bench-venv: $(BENCH_VENV)/.installed

# Every registered model (smoke sizes; BENCH_ARGS="--sizes smoke,paper" for the papers'), input pipelines,
# SavedModel inference; keras_gens vs PyTorch for every model family, with the FLOP/s ceiling and a profile of
# each step PyTorch wins (SIDE_ARGS="--paper" adds DCGAN and WAE at 128x128); PE-GAN events on 1 and 2 cores
# against the paper's 6 s: all into BENCHMARKS.md, each section dated, with its CPU (about an hour on 2 cores).
bench: $(STAMP) $(BENCH_VENV)/.installed
	$(PY) tools/bench.py --jit off --markdown BENCHMARKS.md $(BENCH_ARGS)
	$(PY) tools/bench/side_by_side.py --torch-python $(BENCH_VENV)/bin/python --markdown BENCHMARKS.md $(SIDE_ARGS)
	$(PY) tools/bench_pxd.py --markdown BENCHMARKS.md

# Quality side by side: keras_gens and its PyTorch mirrors (dcgan, dcgan_oct, wae) trained on the same mnist5k digits
# with the same budget and seeds, both scored by our FID and digit judge; FID and seconds to the quality bar into
# BENCHMARKS.md (QUALITY_ARGS="--families dcgan --seeds 0" for a part).
bench-quality: $(STAMP) $(BENCH_VENV)/.installed
	$(PY) tools/bench/quality.py --torch-python $(BENCH_VENV)/bin/python --markdown BENCHMARKS.md $(QUALITY_ARGS)

# Seconds per federated round (10 clients), TFF overhead vs local training, memory after rounds 10..300.
# Each speed setting (XLA, thread pools, steps per call, mixed precision) against float32, per model.
bench-settings: $(STAMP)
	$(PY) tools/bench.py --settings --steps 20 --markdown BENCHMARKS.md $(BENCH_ARGS)

bench-federated: $(STAMP)
	$(PY) tools/bench_federated.py $(BENCH_ARGS)

# Re-ID at the paper's sizes: training images/s per stage, feature extraction, Market-sized ranking, pipeline.
bench-reid: $(STAMP)
	$(PY) tools/bench_reid.py $(BENCH_ARGS)

# PE-GAN: seconds per event (40 hitmaps) from the exported paper-size generator on 1 and 2 cores,
# float32 and bfloat16, against the paper's 6 s; FLOPs and the convolution ceiling; training images/s.
bench-pxd: $(STAMP)
	$(PY) tools/bench_pxd.py --markdown BENCHMARKS.md $(BENCH_ARGS)

# The federated experiment on the embedded digits (FedAvg, IID-imbalanced, 300 rounds; a minute or two).
simulate: $(STAMP)
	$(PY) -m federated.simulate --config configs/fed_digits.yaml $(SIM_ARGS)

# Runs the notebooks at their default parameters and saves them with their outputs (experiments in notebooks/runs/).
notebooks: $(STAMP)
	$(PY) tools/execute_notebooks.py $(NOTEBOOK_ARGS)

# Trains what each paper's claims need (the FID weights first) and rewrites RESULTS.md and docs/results/; re-running
# resumes. RESULTS_ARGS="wae --budget standard": train until every model meets its quality bar, then decide (each
# section within 90 minutes on 2 cores, OC-GAN 150); the default quick budget is the pipeline check (undecided).
results: $(STAMP) fid-weights
	$(PY) -m keras_gens.results $(RESULTS_ARGS)

# PyTorch lives in its own venv: only the FID weight conversion and the pytorch-fid comparisons need it.
FID_VENV  ?= .venv-fid
FID_STAMP := $(FID_VENV)/.installed
FID_WEIGHTS = $(shell $(PY) -c 'from keras_gens.metrics.inception import default_weights_path as p; print(p())' 2>/dev/null)

$(FID_STAMP): requirements/fid-reference.txt
	[ -x $(FID_VENV)/bin/python ] || $(PYTHON) -m venv $(FID_VENV)
	$(FID_VENV)/bin/python -m pip --disable-pip-version-check -q install -r requirements/fid-reference.txt
	touch $@

fid-weights: $(STAMP) $(FID_STAMP)
	$(FID_VENV)/bin/python tools/fetch_fid_weights.py --out "$(FID_WEIGHTS)" $(FID_ARGS)

verify-fid: fid-weights
	$(PY) tools/verify_fid.py $(VERIFY_ARGS)

bench-fid: fid-weights
	$(PY) tools/bench_fid.py $(BENCH_ARGS)

# two results runs side by side against one after another (keras_gens.results --jobs): BENCH_ARGS="--model dcgan"
bench-jobs: $(STAMP)
	$(PY) tools/bench_jobs.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) $(FID_VENV) runs build *.egg-info

bench-checkpoint: $(STAMP)
	$(PY) tools/bench_checkpoint.py $(BENCH_ARGS)
