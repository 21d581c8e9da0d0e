"""report.md for a sweep or a preset: what was measured, against which prediction, what follows.

Every number in a report comes from the results passed in; the sentences that draw conclusions
are chosen by comparing those numbers (agreement within the standard error, the per-layer factor
against its bound, where plain float arithmetic broke down), not written in advance.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

__all__ = ["fmt", "md_table", "sweep_table", "sweep_findings", "sweep_report", "agrees", "sem_distance",
           "distance_note", "departures", "figure_note"]


def fmt(x: Any, digits: int = 3) -> str:
    """A number for a table: 3 significant digits, '—' for NaN/None, e^x for the unrepresentable."""
    if x is None:
        return "—"
    if isinstance(x, (bool, np.bool_)):
        return "yes" if x else "no"
    if isinstance(x, (int, np.integer)):
        return str(int(x))
    try:
        v = float(x)
    except (TypeError, ValueError):
        return str(x)
    if math.isnan(v):
        return "—"
    if math.isinf(v):
        return "∞" if v > 0 else "−∞"
    if v == 0:
        return "0"
    if abs(v) >= 1e5 or abs(v) < 1e-3:
        return f"{v:.{digits - 1}e}"
    if abs(v) >= 100:
        return f"{v:.0f}" if abs(v) >= 10 ** digits else f"{v:.{max(digits - 3, 0)}f}"
    return f"{v:.{digits}g}"


def fmt_pm(x: Any, e: Any, digits: int = 3) -> str:
    if e is None or (isinstance(e, float) and math.isnan(e)):
        return fmt(x, digits)
    return f"{fmt(x, digits)} ± {fmt(e, 2)}"


def md_table(columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """A GitHub-flavoured markdown table (cells formatted with :func:`fmt` unless already str)."""
    lines = ["| " + " | ".join(columns) + " |", "|" + "|".join("---" for _ in columns) + "|"]
    for r in rows:
        lines.append("| " + " | ".join(c if isinstance(c, str) else fmt(c) for c in r) + " |")
    return "\n".join(lines)


def agrees(measured: float, sem: float, predicted: float, rel: float = 0.05, abs_tol: float = 0.1) -> bool:
    """|measured − predicted| ≤ 3 SEM + max(rel·|predicted|, abs_tol) (nats)."""
    if not (math.isfinite(measured) and math.isfinite(predicted)):
        return False
    s = sem if math.isfinite(sem) else 0.0
    return abs(measured - predicted) <= 3 * s + max(rel * abs(predicted), abs_tol)


def sem_distance(measured: float, sem: float, predicted: float) -> float:
    """|measured − predicted| / SEM (NaN where either is not finite or SEM is not positive)."""
    if not (math.isfinite(measured) and math.isfinite(predicted) and math.isfinite(sem)) or sem <= 0:
        return float("nan")
    return abs(measured - predicted) / sem


def distance_note(measured: float, sem: float, predicted: float, k: float = 3.0) -> str:
    """'1.2 SEM from it' or, beyond ``k`` SEM, the flag '**39.0 SEM off**'."""
    d = sem_distance(measured, sem, predicted)
    if not math.isfinite(d):
        return "no SEM to compare with"
    return f"**{d:.1f} SEM off**" if d > k else f"{d:.1f} SEM from it"


def _cfg(r) -> str:
    c = r.config
    s = f"{c.activation}, {c.init}, σ_w²={fmt(c.sigma_w2)}"
    if c.sigma_b2:
        s += f", σ_b²={fmt(c.sigma_b2)}"
    if c.has_step and c.step_at_zero != 1.0:
        s += f", ReLU'(0)={fmt(c.step_at_zero)}"
    return s


def _layer(v: Any, nets: Any, total: int) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "never"
    return f"{fmt(v)} ({int(nets)}/{total})"


def sweep_table(result: Any, finite_width: bool = True, limits: bool = True) -> str:
    """The summary table of a sweep: one row per configuration."""
    cols = ["configuration", "L", "n", "nets", "measured ln(G₁/G_L)", "ln(ratio of means)", "mean field"]
    if finite_width:
        cols.append("finite width (ReLU)")
    cols += ["factor/layer", "bound"]
    if limits:
        cols += ["f64 underflow at", "f32 underflow at"]
    rows = []
    for r in result.results:
        s = r.summary
        row = [_cfg(r), s["depth"], s["width"], s["nets"],
               fmt_pm(s["measured_log_ratio"], s["measured_log_ratio_sem"]),
               fmt_pm(s["log_ratio_of_means"], s["log_ratio_of_means_sem"]),
               fmt(s["predicted_log_ratio"])]
        if finite_width:
            row.append(fmt_pm(s["finite_width_mean"], s["finite_width_std"]) if math.isfinite(s["finite_width_mean"]) else "—")
        row += [fmt(s["measured_factor"]), fmt(s["factor_bound"])]
        if limits:
            row += [_layer(s["float64_underflow_layer"], s["float64_underflow_nets"], s["nets"]),
                    _layer(s["float32_underflow_layer"], s["float32_underflow_nets"], s["nets"])]
        rows.append(row)
    return md_table(cols, rows)


def sweep_findings(result: Any) -> list[str]:
    """Conclusions drawn from the numbers of a sweep, as markdown bullet sentences.

    Long on purpose: the findings' text, one paragraph after another.
    """
    out: list[str] = []
    res = [r for r in result.results if r.config.depth > 1 and math.isfinite(r.summary["measured_log_ratio"])]
    if not res:
        return ["Every configuration has a single hidden layer (or no finite measurement), so there is no ratio G₁/G_L to report."]
    # vanishing / exploding
    def beyond(r, sign) -> bool:  # past ±ln 10 (a factor 10 in G) by more than 3 standard errors
        s = r.summary
        e = s["measured_log_ratio_sem"]
        return sign * s["measured_log_ratio"] - math.log(10.0) > 3 * (e if math.isfinite(e) else 0.0)

    van = [r for r in res if beyond(r, -1)]
    exp_ = [r for r in res if beyond(r, +1)]
    ok = [r for r in res if r not in van and r not in exp_]
    if van:
        worst = min(van, key=lambda r: r.summary["measured_log_ratio"])
        s = worst.summary
        out.append(
            f"Gradients vanish (G₁ below G_L/10, by more than 3 SEM) in {len(van)} of {len(res)} configurations. "
            f"The most extreme is {_cfg(worst)} at L = {s['depth']}: ln(G₁/G_L) = {fmt(s['measured_log_ratio'])}, "
            f"a factor {fmt(s['measured_factor'])} per layer, so the first hidden layer's gradient is "
            f"e^{fmt(s['measured_log_ratio'] / 2)} times the last one's (in norm)."
        )
    if exp_:
        worst = max(exp_, key=lambda r: r.summary["measured_log_ratio"])
        s = worst.summary
        out.append(
            f"Gradients explode (G₁ above 10 G_L, by more than 3 SEM) in {len(exp_)} configurations; the largest is "
            f"{_cfg(worst)} at L = {s['depth']}: ln(G₁/G_L) = {fmt(s['measured_log_ratio'])}."
        )
    if ok:
        out.append(
            f"{len(ok)} configurations keep G₁ within a factor 10 of G_L, or not beyond it by more than 3 SEM: "
            + "; ".join(f"{_cfg(r)} at L = {r.config.depth}" for r in ok[:8]) + ("; …" if len(ok) > 8 else "") + "."
        )
    # agreement with mean field
    have = [r for r in res if math.isfinite(r.summary["predicted_log_ratio"])]
    if have:
        good_rom = [r for r in have if agrees(r.summary["log_ratio_of_means"], r.summary["log_ratio_of_means_sem"],
                                              r.summary["predicted_log_ratio"])]
        good_typ = [r for r in have if agrees(r.summary["measured_log_ratio"], r.summary["measured_log_ratio_sem"],
                                              r.summary["predicted_log_ratio"])]
        out.append(
            f"Mean field predicts the log of the ratio of means within 3 SEM (+5%, at least 0.1 nat) in "
            f"{len(good_rom)} of {len(have)} configurations, and the typical network (mean of logs) in "
            f"{len(good_typ)} of {len(have)}."
        )
        bad = [r for r in have if r not in good_typ]
        if bad:
            far = max(bad, key=lambda r: abs(r.summary["measured_log_ratio"] - r.summary["predicted_log_ratio"]))
            s = far.summary
            text = (f"The largest departure of the typical network from mean field is {_cfg(far)}, L = {s['depth']}, "
                    f"n = {s['width']}: measured {fmt_pm(s['measured_log_ratio'], s['measured_log_ratio_sem'])} "
                    f"against {fmt(s['predicted_log_ratio'])}")
            if math.isfinite(s["finite_width_mean"]):
                text += (f"; the finite-width prediction {fmt_pm(s['finite_width_mean'], s['finite_width_std'])} "
                         f"(β = (L − 1)/n = {fmt(s['beta'])}) "
                         + ("accounts for it" if agrees(s["measured_log_ratio"], s["measured_log_ratio_sem"],
                                                        s["finite_width_mean"], rel=0.1, abs_tol=0.3)
                            else "does not fully account for it either"))
            out.append(text + ".")
    fwr = [r for r in res if math.isfinite(r.summary["finite_width_mean"])]
    if fwr:
        good = [r for r in fwr if agrees(r.summary["measured_log_ratio"], r.summary["measured_log_ratio_sem"],
                                         r.summary["finite_width_mean"], rel=0.1, abs_tol=0.3)]
        out.append(
            f"For bias-free ReLU networks the finite-width prediction (mean ≈ mean field − 5β/2, spread ≈ √(5β)) "
            f"matches the typical network within 3 SEM (+10%, at least 0.3 nat) in {len(good)} of {len(fwr)} "
            "configurations."
        )
    # plain float limits
    for dt in ("float64", "float32"):
        hit = [r for r in result.results if (r.summary.get(f"{dt}_underflow_nets") or 0) > 0]
        if hit:
            first = min(hit, key=lambda r: r.config.depth)
            s = first.summary
            out.append(
                f"Plain {dt} backprop underflows to exactly 0 in {len(hit)} configurations; the shallowest is "
                f"{_cfg(first)} at L = {s['depth']}, where dC/dz is all zero from layer {fmt(s[f'{dt}_underflow_layer'])} "
                f"down (typical network), {int(s['depth']) + 1 - int(s[f'{dt}_underflow_layer'])} layers below the "
                f"readout. The scaled pass measured these networks anyway."
            )
        ovf = [r for r in result.results if (r.summary.get(f"{dt}_overflow_nets") or 0) > 0]
        if ovf:
            first = min(ovf, key=lambda r: r.config.depth)
            out.append(f"Plain {dt} backprop overflows (inf/NaN) in {len(ovf)} configurations, first {_cfg(first)} "
                       f"at L = {first.config.depth}.")
    dead = [r for r in result.results if math.isfinite(r.summary["dead_rows"]) and r.summary["dead_rows"] > 0]
    if dead:
        out.append(
            "Some inputs meet a dead network (a hidden layer all zero): "
            + "; ".join(f"{_cfg(r)}, L = {r.config.depth}, n = {r.config.width}: {fmt(r.summary['dead_rows'])} of inputs "
                        f"(predicted {fmt(r.summary['predicted_dead_probability'])})" for r in dead[:6])
            + ("; …" if len(dead) > 6 else "") + "."
        )
    return [f"- {s}" for s in out]


def _protocol(result: Any) -> str:
    cfgs = [r.config for r in result.results]
    batches = sorted({c.batch for c in cfgs})
    nets = sorted({c.nets for c in cfgs})
    return (
        f"{len(cfgs)} configurations, {result.n_tasks} random networks in all "
        f"({', '.join(map(str, nets))} per configuration), seed {result.seed}. Each network has L hidden layers "
        f"of width n, a linear readout of width 1 and no biases unless σ_b² > 0; it sees one batch of "
        f"{', '.join(map(str, batches))} inputs x ~ N(0, I) with targets y ~ N(0, 1) and the squared-error cost. "
        "G_k = mean over rows and units of (∂C/∂z[k])², from a backward pass that renormalises every row by a "
        "power of two and carries the exponent (exact where float64 would under- or overflow). "
        f"Ran on {result.executor} in {result.seconds:.1f} s."
    )


THEORY = (
    "Mean field (Poole et al. 2016; Schoenholz et al. 2017): q_{k+1} = σ_w² E[φ(√q_k ξ)²] + σ_b², "
    "χ(q) = σ_w² E[φ'(√q ξ)²], and ln(G₁/G_L) = Σ_{k=1}^{L−1} ln χ(q_k) from q₁ = σ_w² + σ_b². It describes the "
    "*expected* G (the ratio of means) of infinitely wide networks; for ReLU χ = σ_w²/2 exactly. "
    "Finite width (Hanin 2018; Hanin & Nica 2019), bias-free ReLU: the typical network's ln(G₁/G_L) has mean "
    "≈ mean field − 5β/2 and spread ≈ √(5β), β = Σ_k 1/n_k — mean field stops describing a typical network once "
    "β is of order 1. The per-layer factor exp(ln(G₁/G_L)/(L−1)) is compared with σ_w² sup φ'² "
    "(σ_w²/16 for sigmoid, σ_w² for tanh) and, for ReLU, with χ = σ_w²/2."
)


def departures(result: Any, k: float = 3.0) -> list[str]:
    """One line per configuration whose measured ln(ratio of means) lies more than ``k`` SEM from
    mean field's prediction, with the distance in SEM; the finite-width prediction beside ReLU's."""
    out = []
    for r in result.results:
        s = r.summary
        meas, sem, pred = s["log_ratio_of_means"], s["log_ratio_of_means_sem"], s["predicted_log_ratio"]
        dist = sem_distance(meas, sem, pred)
        if dist > k:
            fw = s["finite_width_mean"]
            note = (f"; the finite-width prediction of the typical network is {fmt_pm(fw, s['finite_width_std'])}"
                    if math.isfinite(fw) else "")
            out.append(f"- {_cfg(r)}, L = {r.config.depth} ({s['nets']} networks): ln(ratio of means) "
                       f"{fmt_pm(meas, sem)} against mean field {fmt(pred)}, **{dist:.1f} SEM off**{note}.")
    return out


def sweep_report(result: Any, title: str = "Gradient flow sweep", figures: dict[str, str] | None = None,
                 extra: Sequence[str] = ()) -> str:
    """The whole report.md of a sweep."""
    lines = [f"# {title}", "", "## What was measured", "", _protocol(result), "",
             "The statistic shown is the mean over networks of ln(G₁/G_L) (the typical network) ± its standard "
             "error; the log of the ratio of the means of G₁ and G_L is beside it.", "",
             "## Against which prediction", "", THEORY, "", "## Results", "", sweep_table(result), ""]
    lines += ["## What follows", "", *sweep_findings(result), *extra, ""]
    off = departures(result)
    lines += ["## Measurements more than 3 SEM from mean field", "",
              *(off or ["None: every ln(ratio of means) is within 3 SEM of its prediction."]), ""]
    if figures:
        lines += ["## Figures", ""]
        for k, v in figures.items():
            lines += [f"![{k}]({v})", ""]
            note = figure_note(result, v)
            lines += [note, ""] if note else []
    return "\n".join(lines)


def figure_note(result: Any, name: str) -> str:
    """What the sweep figure ``name`` (its file name) shows and what to read from it, with the
    numbers taken from ``result``; '' for a figure this module does not know."""
    notes = {
        "log_ratio_vs_depth.png": _note_log_ratio,
        "layer_profile.png": _note_layer_profile,
        "dead_vs_depth.png": _note_dead,
        "jacobian_spectra.png": _note_spectra,
    }
    fn = notes.get(name)
    return fn(result) if fn else ""


def _note_log_ratio(result: Any) -> str:
    deep = [r for r in result.results if r.config.depth > 1]
    off = [r for r in deep if sem_distance(r.summary["measured_log_ratio"], r.summary["measured_log_ratio_sem"],
                                           r.summary["predicted_log_ratio"]) > 3]
    return ("ln(G₁/G_L) against depth on log scales (symmetric-log y, linear within ±1 nat), one colour per family: "
            "markers are the typical network ± SEM, dashed lines mean field, dotted lines the finite-width mean "
            f"(bias-free ReLU). {len(off)} of {len(deep)} markers lie more than 3 SEM from their dashed line"
            + (": " + "; ".join(f"{_cfg(r)} at L = {r.config.depth}" for r in off[:6]) + ("; …" if len(off) > 6 else "")
               if off else "") + ".")


def _note_layer_profile(result: Any) -> str:
    deepest: dict[str, Any] = {}
    for r in result.results:
        a = r.config.activation
        if a not in deepest or r.config.depth > deepest[a].config.depth:
            deepest[a] = r
    slopes = "; ".join(f"{_cfg(r)}, L = {r.config.depth}: {fmt(math.log(r.summary['measured_factor']))} measured, "
                       f"{fmt(math.log(r.summary['predicted_factor']))} mean field"
                       for r in deepest.values() if math.isfinite(r.summary["measured_factor"])
                       and math.isfinite(r.summary["predicted_factor"]))
    return ("ln G_k against hidden layer k, one panel per activation on its own y scale (the deepest configurations "
            "first): the mean over networks (solid) with ±1 SEM (dark band) and ±1 SD of the networks (light band), "
            "and mean field drawn through the last hidden layer (dashed). The mean slope is the ln of the per-layer "
            "factor" + (f" ({slopes})." if slopes else "."))


def _note_dead(result: Any) -> str:
    rs = [r for r in result.results if r.config.can_be_born_dead]
    d = [sem_distance(r.summary["dead_rows"], r.summary["dead_rows_sem"], r.summary["predicted_dead_probability"])
         for r in rs]
    d = [x for x in d if math.isfinite(x)]
    worst = (f"the largest gap between a marker and its line is {max(d):.1f} SEM (over networks)" if d else
             "no configuration has a spread to compare the gap with (a dead fraction of 0 or 1 in every network)")
    return ("The fraction of inputs whose last hidden layer is all zero against depth, for the bias-free ReLU "
            "configurations (markers ± SEM over networks), with the born-dead probability 1 − (1 − 2^−n)^L (lines): "
            f"{worst}.")


def _note_spectra(result: Any) -> str:
    return ("Histograms of log10 of the singular values of ∂r[L]/∂x (last hidden layer against the input) of one "
            "network of each family's deepest configuration that is cheap enough to differentiate: values below "
            "1e-10 × the largest of their spectrum are not resolved in float64 (for ReLU, a rank lost to the masks) "
            "and are left out, "
            "their share in each label. Dynamical isometry would put every value at 0.")
