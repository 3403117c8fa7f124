"""keras_gens against PyTorch on the same machine: the same architecture, batch and optimizer, one training step.

    python tools/bench/side_by_side.py                  # every family (tools/bench/cases.py), both PyTorch layouts
    python tools/bench/side_by_side.py --paper          # also dcgan128 and the thesis's WAE at 128x128
    python tools/bench/side_by_side.py --cases mlp,reid_stage1 --rounds 9 --profile all

PyTorch is a benchmark-only dependency, in its own venv (``make bench-venv``: the CPU build of
torch 2.13.0).  The PyTorch networks mirror ours layer for layer (tools/bench/torch_models.py,
torch_families.py).  For each case both frameworks run as long-lived worker processes
(tools/bench/worker.py), warmed up, then timed in alternating rounds so that whatever else the
machine does falls on both alike.  Reported: median ms/step each, the ratio ours/PyTorch as
speed (PyTorch ms ÷ our ms: above 1 we are faster), both parameter counts (checked equal), the
step's FLOPs (TensorFlow's profiler) and the FLOP/s each achieves as a share of the machine's
sustained float32 throughput (tools/bench/ceiling.py); for each case PyTorch wins, where our step
spends its time, op type by op type (tools/bench/op_profile.py).
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(REPO))

from cases import CASES, PAPER, SMOKE, image_label  # noqa: E402
from machine import describe  # noqa: E402

DEFAULT_TORCH_PYTHON = REPO / ".venv-bench" / "bin" / "python"


class Worker:
    def __init__(self, python, framework, case):
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=str(REPO), PYTHONUNBUFFERED="1")
        self.proc = subprocess.Popen([str(python), str(HERE / "worker.py"), "--framework", framework, "--case", case],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                     env=env, start_new_session=True)
        self.info = json.loads(self._expect("READY"))

    def _expect(self, tag):
        for line in self.proc.stdout:
            if line.startswith(tag + " "):
                return line[len(tag) + 1:]
        self.proc.wait()
        raise RuntimeError(f"worker {self.proc.args} ended: {self.proc.stderr.read()[-2000:]}")

    def run(self, steps: int) -> list[float]:
        self.proc.stdin.write(f"run {steps}\n")
        self.proc.stdin.flush()
        return json.loads(self._expect("TIMES"))

    def profile(self) -> list[dict]:
        self.proc.stdin.write("profile\n")
        self.proc.stdin.flush()
        return json.loads(self._expect("PROFILE"))

    def close(self):
        try:
            self.proc.stdin.write("quit\n")
            self.proc.stdin.flush()
            self.proc.wait(timeout=30)
        except Exception:
            self.proc.kill()


def ceiling(python) -> dict:
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=str(REPO))
    out = subprocess.run([str(python), str(HERE / "ceiling.py")], capture_output=True, text=True, env=env).stdout
    return json.loads(next(line for line in out.splitlines() if line.startswith("CEILING "))[8:])


def compare(case: str, torch_python, rounds: int, round_seconds: float, profile: str = "slower") -> dict:
    """``profile``: also trace our step op by op when it is slower than PyTorch's ("slower"), always ("all"),
    or never ("none")."""
    rounds = min(rounds, CASES[case].get("rounds", rounds))
    ours, theirs = Worker(sys.executable, "tf", case), Worker(torch_python, "torch", case)
    top = None
    try:
        if ours.info["params"] != theirs.info["params"]:
            raise RuntimeError(f"{case}: the two networks differ: keras_gens has {ours.info['params']:,} trainable "
                               f"parameters, PyTorch {theirs.info['params']:,}")
        steps = max(1, int(round_seconds / max(ours.info["warm_s"], theirs.info["warm_s"], 1e-4)))
        ours_times, theirs_times = [], []
        per_call = ours.info.get("steps_per_call", 1)
        for _ in range(rounds):  # alternate, so drift on the machine hits both
            ours_times += [t / per_call for t in ours.run(max(1, steps // per_call))]
            theirs_times += theirs.run(steps)
        slower = statistics.median(ours_times) > statistics.median(theirs_times)
        if profile == "all" or (profile == "slower" and slower):
            top = ours.profile()
    finally:
        ours.close()
        theirs.close()
    ours_s, theirs_s = statistics.median(ours_times), statistics.median(theirs_times)
    flops = ours.info["flops_per_step"]
    return {"case": case, "image": image_label(CASES[case]),
            "batch": ours.info.get("images_per_step", CASES[case]["batch"]), "params": ours.info["params"],
            "keras_gens_ms": round(ours_s * 1e3, 2), "pytorch_ms": round(theirs_s * 1e3, 2),
            "speed_ratio": round(theirs_s / ours_s, 2), "gflop_per_step": round(flops / 1e9, 3),
            "keras_gens_gflops": round(flops / ours_s / 1e9, 1), "pytorch_gflops": round(flops / theirs_s / 1e9, 1),
            "steps_timed": len(ours_times), "tf": ours.info["version"], "torch": theirs.info["version"],
            "tf_threads": ours.info["threads"], "torch_threads": theirs.info["threads"], "profile": top}


def profiles_text(rows: list[dict], top: int = 6) -> str:
    """For each profiled case, the op types that take most of our step's kernel time (tools/bench/op_profile.py)."""
    lines = []
    for row in rows:
        if row.get("profile"):
            ops = ", ".join(f"{p['what']} {p['share']:.0%} ({p['ms']:g} ms, {p['ops']} ops)"
                            for p in row["profile"][:top])
            lines.append(f"- **{row['case']}** (ratio {row['speed_ratio']}): {ops}")
    if not lines:
        return ""
    return ("\n\nWhere keras_gens's step spends its kernel time (TensorFlow's profiler, one step, summed over threads; "
            "profiled: the cases PyTorch wins, or all with `--profile all`):\n\n" + "\n".join(lines) + "\n")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", help=f"comma-separated, from {', '.join(CASES)}")
    parser.add_argument("--paper", action="store_true", help="also the paper-size cases")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--round-seconds", type=float, default=2.0)
    parser.add_argument("--torch-python", default=str(DEFAULT_TORCH_PYTHON))
    parser.add_argument("--out", default=str(REPO / "bench_out"))
    parser.add_argument("--markdown", help="append the section to this Markdown file (e.g. BENCHMARKS.md)")
    parser.add_argument("--profile", choices=("slower", "all", "none"), default="slower",
                        help="trace our step op by op for the cases where PyTorch is faster (default), all, none")
    args = parser.parse_args()
    if not Path(args.torch_python).is_file():
        print(f"PyTorch's python not found at {args.torch_python}: run `make bench-venv` (installs the CPU build of "
              "torch 2.13.0 into .venv-bench) or pass --torch-python", file=sys.stderr)
        return 2
    cases = args.cases.split(",") if args.cases else list(SMOKE) + (list(PAPER) if args.paper else [])
    limit = ceiling(sys.executable)
    best = max(limit.values())
    print(f"sustained float32 through TensorFlow: matmul {limit['matmul_gflops']:.0f} GFLOP/s, "
          f"3x3 conv {limit['conv_gflops']:.0f} GFLOP/s", flush=True)
    rows = []
    for case in cases:
        row = compare(case, args.torch_python, args.rounds, args.round_seconds, args.profile)
        row["keras_gens_share"] = round(row["keras_gens_gflops"] / best, 3)
        row["pytorch_share"] = round(row["pytorch_gflops"] / best, 3)
        rows.append(row)
        print(f"  {case}: keras_gens {row['keras_gens_ms']} ms, PyTorch {row['pytorch_ms']} ms, "
              f"speed ratio {row['speed_ratio']}", flush=True)

    from keras_gens.utils.tables import markdown_table, write_csv, write_markdown_section

    columns = ["case", "image", "batch", "params", "keras_gens_ms", "pytorch_ms", "speed_ratio", "gflop_per_step",
               "keras_gens_gflops", "pytorch_gflops", "keras_gens_share", "pytorch_share"]
    table = markdown_table(rows, columns)
    header = (f"## keras_gens vs PyTorch, one training step{' (with the paper sizes)' if args.paper else ''}\n\n"
              f"{describe()}; {rows[0]['tf']} ({rows[0]['tf_threads']}) and "
              f"{rows[0]['torch']} ({rows[0]['torch_threads']}); sustained float32 ceiling "
              f"{limit['matmul_gflops']:.0f} GFLOP/s (matmul) / {limit['conv_gflops']:.0f} GFLOP/s (3x3 conv); "
              f"speed_ratio = PyTorch ms / keras_gens ms (> 1: keras_gens faster); shares of the higher ceiling "
              f"(a float32 one: bfloat16 cases may exceed 1). Cases: `_nhwc` PyTorch in its channels-last memory "
              f"format (ours always is); `_bf16` both in bfloat16 (mixed_bfloat16 / torch.autocast); `_spe16` Keras "
              f"running 16 steps per call. "
              f"Command: `python tools/bench/side_by_side.py{' --paper' if args.paper else ''}`, "
              f"{time.strftime('%Y-%m-%d')}.\n\n")
    section = header + table + profiles_text(rows)
    print("\n" + section)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    plain = [{k: v for k, v in row.items() if k != "profile"} for row in rows]
    write_csv(out / "side_by_side.csv", plain, columns + [k for k in plain[0] if k not in columns])
    if args.markdown:
        write_markdown_section(args.markdown, "side_by_side_paper" if args.paper else "side_by_side", section)
    print(f"\nwritten: {out / 'side_by_side.csv'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
