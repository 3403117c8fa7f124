"""OC-GAN's β schedules: how the weights of the high (β_H) and low (β_L) frequency branches move over training.

``f = (epoch + 1) / epochs`` is the fraction of training done by the end of an
epoch, as in the authors' code.  The paper's Figure 7 is not readable in its
text, so ``ramp`` and ``combi`` are our reading of its description.  Their end
points are defined once, in ``END_POINTS``; a config may override each (its
``start``, ``end``, ``ramp_fraction``), and leaves them null to get these:

    constant    β_H, β_L fixed (1, 1: the plain octave GAN, the paper's OCT)
    ramp        low frequencies first: β_H = start + (end − start)·f, β_L = 1 − β_H,
                from 0 to 1                                                          (Fig. 7a)
    combi       a trade-off: β_H rises from start to end over the first ``ramp_fraction``
                of training and then stays, β_L = 1 − β_H: 0.3 → 0.7 over the first half,
                so neither branch's weight drops below 0.3 (the paper: "a trade-off between
                frequency components"; ramp's end, β_L = 0, is what it calls too harsh)  (Fig. 7b)
    ocgan_code  the authors' code: β_H = 0.7 if f > 0.5 else f + 0.2, β_L = 1 − β_H
"""
from __future__ import annotations

from keras_gens.errors import ConfigError

SCHEDULES = ("constant", "ramp", "combi", "ocgan_code")
CONSTANT = {"beta_high": 1.0, "beta_low": 1.0}
END_POINTS = {"ramp": {"start": 0.0, "end": 1.0},
              "combi": {"start": 0.3, "end": 0.7, "ramp_fraction": 0.5}}


def resolved(schedule: dict | None) -> dict:
    """The schedule with every value it uses: null (or missing) settings take the schedule's own."""
    s = dict(schedule or {})
    name = s.get("name") or "constant"
    defaults = {**CONSTANT, **END_POINTS.get(name, {})}
    out = {"name": name, **{k: v for k, v in s.items() if k != "name"}}
    for key, value in defaults.items():
        if out.get(key) is None:
            out[key] = value
        try:
            out[key] = float(out[key])
        except (TypeError, ValueError):
            raise ConfigError(f"model.beta_schedule.{key} must be a number; got {out[key]!r}") from None
    return out


def beta_values(schedule: dict, epoch: int, epochs: int) -> tuple[float, float]:
    """``(β_H, β_L)`` during ``epoch`` (0-based) of ``epochs``."""
    s = resolved(schedule)
    name = s["name"]
    f = (epoch + 1) / max(int(epochs), 1)
    if name == "constant":
        return float(s["beta_high"]), float(s["beta_low"])
    if name == "ramp":
        high = s["start"] + (s["end"] - s["start"]) * f
    elif name == "combi":
        progress = min(f / max(s["ramp_fraction"], 1e-9), 1.0)
        high = s["start"] + (s["end"] - s["start"]) * progress
    elif name == "ocgan_code":
        high = 0.7 if f > 0.5 else f + 0.2
    else:
        raise ConfigError(f"model.beta_schedule.name must be one of {', '.join(SCHEDULES)}; got {name!r}")
    return float(high), float(1.0 - high)


def plot_schedule(schedule: dict, epochs: int, path):
    from keras_gens.utils.plots import save_line_plot

    xs = list(range(1, int(epochs) + 1))
    values = [beta_values(schedule, e - 1, epochs) for e in xs]
    save_line_plot(path, {"β_H (high)": (xs, [v[0] for v in values]), "β_L (low)": (xs, [v[1] for v in values])},
                   xlabel="epoch", ylabel="β", title=f"β schedule: {schedule.get('name', 'constant')}")
