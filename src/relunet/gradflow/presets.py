"""Named experiments, each one command: ``relunet gradflow --preset NAME --out DIR``.

- ``seed-questions``  sigmoid, tanh and ReLU at their usual initializations from 1 to 10,000
  layers: the per-layer factor against its bound, and what thousands of layers do.
- ``nielsen-ch5``     Nielsen's speed-of-learning measurement (chapter 5 of *Neural Networks and
  Deep Learning*, ``fig/generate_gradient.py``) on [784, 30, …, 30, 10] sigmoid networks, compared
  with his published numbers.
- ``he-2015``         a 30-layer ReLU network trained from Glorot (Xavier) and from He
  initialization (He et al. 2015, §2.2 and Fig. 3).
- ``schoenholz-2017`` the trainability phase diagram of tanh networks over (σ_w², depth) against
  6 ξ_c (Schoenholz et al. 2017, Fig. 5; :mod:`relunet.gradflow.phase`).
- ``step-at-zero``    does ReLU'(0) ∈ {1, 0, ½} change training? Where it cannot, where it does,
  and the probability of a network born dead.

Each preset writes CSV files, PNG figures and report.md into ``out`` and returns a
:class:`PresetResult` whose ``tables`` hold the report's main tables. ``quick=True`` runs a
reduced version (seconds) with the same code path.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..initializers import Normal
from ..network import Network
from . import report as rp
from .stats import measure
from .sweep import Config, Sweep, blas_threads, run_calls, run_sweep, write_csv
from .theory import gaussian_expectation, mean_field, relu_finite_width

__all__ = ["PRESETS", "PresetResult", "run_preset", "NIELSEN_CH5"]


@dataclass
class PresetResult:
    """What a preset produced: files written (name → path), markdown tables (name → text), the
    report text, the wall time and any numbers worth keeping (``data``)."""

    name: str
    out: str
    files: dict[str, str]
    tables: dict[str, str]
    report: str
    seconds: float
    data: dict[str, Any] = field(default_factory=dict)


def _save(fig: Any, out: str, name: str, files: dict[str, str]) -> str:
    from ..plotting import save_figure

    path = save_figure(fig, os.path.join(out, name))
    files[name] = path
    return name


def _write_report(out: str, text: str, files: dict[str, str]) -> None:
    from .._files import atomic_write

    path = os.path.join(out, "report.md")
    atomic_write(path, text.encode("utf-8"))
    files["report.md"] = path


# ============================================================================ seed-questions
#: singular values below this fraction of their spectrum's largest are not resolved in float64
_ROUND_OFF = 1e-10


def _seed_nets(depth: int) -> int:
    return 20 if depth <= 100 else 10


def seed_questions(out: str, quick: bool = False, seed: int = 0, n_jobs: int | None = None,
                   scheduler: Any = None) -> PresetResult:
    """Sigmoid (Glorot), tanh (Glorot) and ReLU (He), bias-free, width 32, depths 1 … 10,000."""
    from ..gradflow.jacobian import jacobian_singular_values
    from .plots import plot_jacobian_spectra, plot_layer_profile, plot_log_ratio_vs_depth

    t0 = time.perf_counter()
    families = (("sigmoid", "glorot"), ("tanh", "glorot"), ("relu", "he"))
    if quick:
        depths, width, nets = (1, 2, 5, 20, 100), 16, (lambda d: 3)
    else:
        depths, width, nets = (1, 2, 3, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000), 32, _seed_nets
    # float32's breakdown layer is counted from the readout, so depths up to 2,000 already show it
    configs = [Config(act, init, depth=d, width=width, nets=nets(d), limit_dtypes=("float32",) if d <= 2000 else ())
               for act, init in families for d in depths]
    res = run_sweep(configs, seed=seed, n_jobs=n_jobs, scheduler=scheduler)
    os.makedirs(out, exist_ok=True)
    files = res.write(out)
    mid_depth = 20 if quick else 100
    figs = {
        "log_ratio_vs_depth.png": _save(plot_log_ratio_vs_depth(res), out, "log_ratio_vs_depth.png", files),
        "layer_profile.png": _save(plot_layer_profile(res.find(depth=mid_depth)), out, "layer_profile.png", files),
        "layer_profile_deepest.png": _save(plot_layer_profile(res.find(depth=depths[-1])), out,
                                           "layer_profile_deepest.png", files),
    }

    # input–output Jacobian at the last hidden layer: Gaussian against orthogonal weights
    jd, jn = (10, 16) if quick else (100, 64)
    spectra, jrows = {}, []
    for act, init, sw2 in (("tanh", "glorot", 1.0), ("tanh", "orthogonal", 1.0),
                           ("relu", "he", 2.0), ("relu", "orthogonal", 2.0)):
        cfg = Config(act, init, sigma_w2=sw2, depth=jd, width=jn, batch=16, nets=1)
        net, X, _ = cfg.draw(seed, 0)
        sp = jacobian_singular_values(net, X, layer=jd)
        label = f"{act}, {'orthogonal' if init == 'orthogonal' else 'Gaussian'} σ_w²={sw2:g}"
        spectra[label] = sp
        ls = sp.log_singular_values
        zero = ~(ls > np.max(ls, axis=1, keepdims=True) + math.log(_ROUND_OFF))  # not resolved in float64
        nz = ls[~zero]
        jrows.append([label, jd, jn, sp.log_mean_s2, float(np.mean(zero)),
                      float(np.exp(np.quantile(nz, 0.05))) if nz.size else float("nan"),
                      float(np.exp(np.median(nz))) if nz.size else float("nan"),
                      float(np.exp(np.quantile(nz, 0.95))) if nz.size else float("nan")])
    figs["jacobian_spectra.png"] = _save(plot_jacobian_spectra(spectra, floor=_ROUND_OFF,
                                                               title="Singular values of ∂r[L]/∂x"),
                                         out, "jacobian_spectra.png", files)

    pivot = _seed_pivot(res, families, depths)
    factors = _seed_factors(res, families)
    jtable = rp.md_table(["network", "L", "n", "ln mean s²", f"s < {_ROUND_OFF:g} · max s", "nonzero s: 5%", "median", "95%"],
                         jrows)
    seconds = time.perf_counter() - t0
    text = _seed_report(res, pivot, factors, jtable, jrows, figs, mid_depth, seconds, quick)
    _write_report(out, text, files)
    return PresetResult("seed-questions", out, files, {"depths": pivot, "factors": factors, "jacobian": jtable},
                        text, seconds, {"sweep": res})


def _one_row_shift(config: Config) -> float:
    """First-order finite-width shift of a typical network's ln(G₁/G_L) (one input row, equal widths n,
    gradient independence): layer k multiplies G by σ_w² (1/n) Σ_j φ'(z_j)² ξ_j², ξ_j ~ N(0, 1), and
    E ln of that is ln χ(q_k) − (3 E[φ'⁴]/E[φ'²]² − 1)/(2n) + O(1/n²). ReLU gives −5/(2n) per layer
    (Hanin's −5β/2); a linear network −1/n. A batch follows it while its rows stay correlated."""
    f = config.activation_object()
    mf = mean_field(f, config.sigma_w2, config.sigma_b2, config.depth, config.q1)
    total = 0.0
    for q in mf.q[:-1]:
        a1 = gaussian_expectation(lambda z: f.derivative(z) ** 2, q)
        a2 = gaussian_expectation(lambda z: f.derivative(z) ** 4, q)
        total -= (3.0 * a2 / (a1 * a1) - 1.0) / (2.0 * config.width)
    return total


def _seed_pivot(res, families, depths) -> str:
    cols = ["L", "nets"]
    for act, init in families:
        cols += [f"{act} measured", f"{act} mean field"]
    cols.append("relu finite width")
    rows = []
    for d in depths:
        at = res.find(depth=d)
        row: list[Any] = [d, at[0].config.nets if at else "—"]
        fw = "—"
        for act, init in families:
            r = res.find(activation=act, init=init, depth=d)
            if not r:
                row += ["—", "—"]
                continue
            s = r[0].summary
            row += [rp.fmt_pm(s["measured_log_ratio"], s["measured_log_ratio_sem"]), rp.fmt(s["predicted_log_ratio"])]
            if act == "relu" and math.isfinite(s["finite_width_mean"]):
                fw = rp.fmt_pm(s["finite_width_mean"], s["finite_width_std"])
        rows.append(row + [fw])
    return rp.md_table(cols, rows)


def _seed_factors(res, families) -> str:
    rows = []
    for act, init in families:
        rs = [r for r in res.find(activation=act, init=init) if r.config.depth >= 10]
        if not rs:
            rs = [r for r in res.find(activation=act, init=init) if r.config.depth > 1]
        if not rs:
            continue
        c = rs[0].config
        f = np.array([r.summary["measured_factor"] for r in rs])
        p = np.array([r.summary["predicted_factor"] for r in rs])
        first_uf = min((r for r in rs if (r.summary["float64_underflow_nets"] or 0) > 0),
                       key=lambda r: r.config.depth, default=None)
        uf = (f"L = {first_uf.config.depth}: zero below layer {rp.fmt(first_uf.summary['float64_underflow_layer'])}"
              if first_uf is not None else "never")
        n = sorted({r.config.nets for r in rs})
        rows.append([f"{act} ({init})", c.sigma_w2, f"{n[0]}" if len(n) == 1 else f"{n[0]}–{n[-1]}",
                     f"{np.min(f):.3g} – {np.max(f):.3g}", f"{np.nanmedian(p):.3g}",
                     rp.fmt(rs[0].summary["factor_bound"]), uf])
    return rp.md_table(["activation (init)", "σ_w²", "nets per depth", "measured factor per layer (L ≥ 10)",
                        "mean-field χ (median)", "bound σ_w² sup φ'² (ReLU: χ = σ_w²/2)",
                        "plain float64 underflow first at"], rows)


def _nets_by_depth(res) -> str:
    """'20 networks at L ≤ 100, 6 at L = 200 … 1000, …': how many networks each depth rests on."""
    by: dict[int, list[int]] = {}
    for r in res.results:
        by.setdefault(r.config.nets, []).append(r.config.depth)
    parts = []
    for n, ds in sorted(by.items(), key=lambda kv: min(kv[1])):
        ds = sorted(set(ds))
        parts.append(f"{n} at L = {ds[0]}" if len(ds) == 1 else f"{n} at L = {ds[0]} … {ds[-1]}")
    return ", ".join(parts)


def _seed_report(res, pivot, factors, jtable, jrows, figs, mid_depth, seconds, quick) -> str:
    """The seed-questions report as markdown.

    Long on purpose: the report's text, section by section.
    """
    def get(act, d):
        r = res.find(activation=act, depth=d)
        return r[0].summary if r else None

    depths = sorted({r.config.depth for r in res.results})
    deep = depths[-1]
    ten = 10 if 10 in depths else depths[min(2, len(depths) - 1)]
    sg, re, th = get("sigmoid", ten), get("relu", ten), get("tanh", ten)
    sgD, reD, thD = get("sigmoid", deep), get("relu", deep), get("tanh", deep)
    width = res.results[0].config.width
    f, pm = rp.fmt, rp.fmt_pm
    lines = [
        "# Seed questions: does ReLU prevent vanishing gradients, and what do thousands of layers do?", "",
        "## What was measured", "",
        f"Sigmoid and tanh networks at Glorot initialization (σ_w² = 1) and ReLU networks at He "
        f"initialization (σ_w² = 2), all bias-free with hidden width {width}, at depths "
        f"{', '.join(map(str, depths))}; {res.n_tasks} random networks in all ("
        + _nets_by_depth(res) + "; the tables' nets column gives each row's count), each "
        "on one batch of 32 inputs x ~ N(0, I) with targets y ~ N(0, 1) and a linear readout. The statistic is "
        "ln(G₁/G_L), G_k = mean (∂C/∂z[k])², first hidden layer over last: its mean over networks ± SEM (the "
        "typical network), from the scaled backward pass, so a ratio of e^−29,000 is a measured number and not "
        f"an underflowed 0. Wall time {seconds:.1f} s on {res.executor}" + (" (quick mode)." if quick else "."), "",
        "## Against which prediction", "", rp.THEORY, "",
        "## ln(G₁/G_L) against depth", "", pivot, "",
        "## The per-layer factor against its bound", "", factors, "",
        "## What follows", "",
    ]
    if sg and re and th:
        sf = sg["measured_factor"]
        within = sf <= sg["factor_bound"]
        lines.append(
            f"- **Sigmoid: the gradient vanishes, at least as fast as the bound says.** At L = {ten} each sigmoid layer "
            f"multiplies G by {f(sf)} (mean field χ = {f(sg['predicted_factor'])}; bound σ_w²/16 = "
            f"{f(sg['factor_bound'])}, {'respected' if within else 'EXCEEDED'}): ln(G₁/G_L) = "
            f"{pm(sg['measured_log_ratio'], sg['measured_log_ratio_sem'])}, so the first layer's gradient is "
            f"{f(math.exp(sg['measured_log_ratio'] / 2))} of the last one's in norm.")
        lines.append(
            f"- **ReLU at He initialization: no vanishing in the mean.** χ = σ_w²/2 = 1 exactly, so mean field "
            f"predicts {f(re['predicted_log_ratio'])}; the ln of the ratio of means over {re['nets']} networks is "
            f"{pm(re['log_ratio_of_means'], re['log_ratio_of_means_sem'])} and the typical network has "
            f"{pm(re['measured_log_ratio'], re['measured_log_ratio_sem'])} (factor {f(re['measured_factor'])} per "
            f"layer, against χ = {f(re['factor_bound'])}); the finite-width theory predicts "
            f"{pm(re['finite_width_mean'], re['finite_width_std'])} for one input row"
            + (", which the measurement matches." if rp.agrees(re["measured_log_ratio"], re["measured_log_ratio_sem"],
                                                            re["finite_width_mean"], rel=0.1, abs_tol=0.3)
               else f" (the measurement is {f(re['measured_log_ratio'] - re['finite_width_mean'])} away)."))
        lines.append(
            f"- **Tanh at Glorot (σ_w² = 1, σ_b² = 0) is at the edge of chaos:** χ(q) → 1 as q → 0, and "
            f"q_k does shrink towards 0, so the factor per layer creeps up towards 1 (measured {f(th['measured_factor'])} "
            f"at L = {ten}; the bound is σ_w² = 1).")
    if sgD and reD and thD and deep >= 1000:
        lines += _seed_deep(res, deep, width, sgD, reD, thD)
    if len(jrows) == 4:
        tg, to, rg, ro = jrows
        spread = lambda r: r[7] / r[5] if r[5] and r[5] > 0 else float("nan")  # noqa: E731
        lines.append(
            f"- **Jacobian (L = {tg[1]}, n = {tg[2]}).** Orthogonal weights narrow tanh's nonzero singular values from a "
            f"5–95% spread of {f(spread(tg))}× (Gaussian, with {f(100 * tg[4])}% numerically zero) to {f(spread(to))}× "
            f"({f(100 * to[4])}% zero); ReLU's masks zero {f(100 * rg[4])}% (Gaussian) and {f(100 * ro[4])}% "
            "(orthogonal) of them whatever the weights, so a deep ReLU network cannot be isometric "
            "(Pennington et al. 2017).")
    lines.append("")
    lines += ["Further findings computed from the table:", ""] + rp.sweep_findings(res)
    off = rp.departures(res)
    lines += ["", "Measurements more than 3 SEM from mean field (the ln of the ratio of means; mean field "
              "describes infinitely wide networks, so at width " + str(res.results[0].config.width)
              + " and great depth it is expected to miss):", "",
              *(off or ["- none."])]
    lines += ["", "## Dynamical isometry: the input–output Jacobian", "",
              "Singular values s of ∂r[L]/∂x (last hidden layer against the input), computed by backprop for "
              "Gaussian and orthogonal weights. Isometry means every s near 1 (Pennington et al. 2017).", "",
              jtable, ""]
    lines += ["## Figures", "", *_seed_figures(res, jrows, mid_depth), ""]
    lines += ["## Files", "", "summary.csv (one row per configuration), layers.csv (one row per layer), the "
              f"figures above ({', '.join(figs)}) and run.json.", ""]
    return "\n".join(lines)


def _seed_deep(res, deep, width, sgD, reD, thD) -> list[str]:
    """The bullets on the deepest networks: each measurement beside its explanation, with the
    distance in SEM (flagged beyond 3)."""
    f, pm = rp.fmt, rp.fmt_pm

    def explained(act, s):
        shift = _one_row_shift(res.find(activation=act, depth=deep)[0].config)
        total = s["predicted_log_ratio"] + shift
        meas, sem = s["measured_log_ratio"], s["measured_log_ratio_sem"]
        text = f"adds {f(shift)}, total {f(total)} ({rp.distance_note(meas, sem, total)}"
        if rp.sem_distance(meas, sem, total) > 3:
            text += f"; {f(meas - total)} nats are left unexplained at first order in 1/n"
        return text + ")"

    return [
        f"- **Sigmoid at L = {deep}:** ln(G₁/G_L) = {pm(sgD['measured_log_ratio'], sgD['measured_log_ratio_sem'])} "
        f"over {sgD['nets']} networks (mean field {f(sgD['predicted_log_ratio'])}). Each layer multiplies G by "
        "σ_w² (1/n) Σ_j φ'(z_j)² ξ_j², whose mean log is ln χ − (3 E φ'⁴/(E φ'²)² − 1)/(2n) to first order in 1/n: "
        f"that shift {explained('sigmoid', sgD)}. Plain float64 backprop is exactly zero from layer "
        f"{f(sgD['float64_underflow_layer'])} down — {f(deep + 1 - sgD['float64_underflow_layer'])} layers below "
        "the readout — while the scaled pass still measures every layer.",
        f"- **ReLU at He, L = {deep}:** mean field still says {f(reD['predicted_log_ratio'])}, but the typical "
        f"network has {pm(reD['measured_log_ratio'], reD['measured_log_ratio_sem'])} over {reD['nets']} networks; "
        f"the finite-width theory predicts {pm(reD['finite_width_mean'], reD['finite_width_std'])} (mean ± the spread "
        f"of one network; β = (L − 1)/n = {f(reD['beta'])}), "
        f"{rp.distance_note(reD['measured_log_ratio'], reD['measured_log_ratio_sem'], reD['finite_width_mean'])}. "
        "With thousands of layers of finite width, the product of random matrices — not the activation — makes the "
        "typical gradient vanish, by about e^{−5β/2}; only the expectation over networks is preserved.",
        f"- **Tanh at Glorot, L = {deep}:** {pm(thD['measured_log_ratio'], thD['measured_log_ratio_sem'])} over "
        f"{thD['nets']} networks against mean field {f(thD['predicted_log_ratio'])}. Where q is small tanh acts as a "
        f"linear network, whose typical ln χ per layer is E ln(χ²_n/n) ≈ −1/n (−(L − 1)/n = {f(-(deep - 1) / width)} "
        f"in all); the first-order shift at the q_k of mean field {explained('tanh', thD)}. So at thousands of "
        "layers all three vanish in a typical network; for ReLU and tanh it is the finite width that does it, and "
        "wider layers (β = (L − 1)/n small) keep the typical network near mean field.",
    ]

def _seed_figures(res, jrows, mid) -> list[str]:
    """Each figure of seed-questions with what it shows and what to read from it."""
    f = rp.fmt
    depths = sorted({r.config.depth for r in res.results})

    def dist(r, key):
        s = r.summary
        return rp.sem_distance(s["measured_log_ratio"], s["measured_log_ratio_sem"], s[key])

    sig = [r for r in res.find(activation="sigmoid") if r.config.depth > 1]
    worst = max(sig, key=lambda r: abs(r.summary["measured_log_ratio"] / r.summary["predicted_log_ratio"] - 1))
    gap = abs(worst.summary["measured_log_ratio"] / worst.summary["predicted_log_ratio"] - 1)
    relu = sorted((r for r in res.find(activation="relu") if r.config.depth > 1), key=lambda r: r.config.depth)
    off = [r for r in relu if dist(r, "predicted_log_ratio") > 3]
    fw_ok = [r for r in off if dist(r, "finite_width_mean") <= 3]
    relu_text = (f"ReLU's markers leave mean field's 0 by more than 3 SEM at {len(off)} of {len(relu)} depths "
                 f"(from L = {off[0].config.depth}); at {len(fw_ok)} of those the dotted finite-width mean is within "
                 "3 SEM of them" if off else f"ReLU's markers stay within 3 SEM of mean field's 0 at all {len(relu)} depths")

    def slopes(depth):
        return "; ".join(f"{r.config.activation} {f(math.log(r.summary['measured_factor']))} "
                         f"(mean field {f(math.log(r.summary['predicted_factor']))})"
                         for r in res.find(depth=depth) if math.isfinite(r.summary["measured_factor"]))

    out = [
        "![ln(G₁/G_L) against depth](log_ratio_vs_depth.png)", "",
        "ln(G₁/G_L) against depth, both on log scales (symmetric-log y, linear within ±1 nat): markers are the "
        "typical network ± SEM, dashed lines mean field, the dotted line the finite-width mean for ReLU. Sigmoid "
        f"follows its mean-field line to within {f(100 * gap)}% at every depth (the largest relative gap is at "
        f"L = {worst.config.depth}); {relu_text}.", "",
        f"![per-layer ln G at L = {mid}](layer_profile.png)", "",
        f"ln G_k against hidden layer k at L = {mid}, one panel per activation (each on its own y scale): the solid "
        "line is the mean over networks with ±1 SEM (dark band) and ±1 SD of the networks (light band), the dashed "
        "line mean field drawn through the last hidden layer. The mean slope per layer is the ln of the per-layer "
        f"factor: {slopes(mid)}.", "",
        f"![per-layer ln G at L = {depths[-1]}](layer_profile_deepest.png)", "",
        f"The same at L = {depths[-1]}: slopes {slopes(depths[-1])}; the light band is the network-to-network spread "
        "of ln G_k.", "",
    ]
    if len(jrows) == 4:
        narrow = min(jrows, key=lambda r: r[7] / r[5] if r[5] > 0 else math.inf)
        out += ["![Jacobian spectra](jacobian_spectra.png)", "",
                f"Histograms of log10 of the nonzero singular values of ∂r[L]/∂x (L = {jrows[0][1]}, n = {jrows[0][2]}); "
                f"values below {_ROUND_OFF:g} × the largest of their spectrum are not resolved in float64 (for ReLU they "
                "are a rank lost to the masks) and are left out, their share in each label (" + "; ".join(
                    f"{r[0]}: {f(100 * r[4])}%" for r in jrows) + "). Isometry would put every value at 0; the "
                f"narrowest histogram is {narrow[0]}'s (5–95% of s from {f(narrow[5])} to {f(narrow[7])}).", ""]
    return out

# ============================================================================ nielsen-ch5
#: Nielsen's published speeds of learning ‖∂C/∂b‖ per hidden layer after 0, 30 and 499 full-batch
#: steps (his last record), from the data files of his figures (mnielsen/neural-networks-and-deep-
#: learning, fig/norms_during_training_{2,3,4}_layers.json, entries 0, 30 and 499, written by
#: fig/generate_gradient.py). Chapter 5 quotes the initial ones rounded: 0.07, 0.31;
#: 0.012, 0.060, 0.283; 0.003, 0.017, 0.070, 0.285.
NIELSEN_CH5 = {
    (784, 30, 30, 10): {
        0: (0.06574134326503182, 0.3092184942703712),
        30: (0.0011088140690242762, 0.003533475735331852),
        499: (0.003434568507576292, 0.009630366361002016),
    },
    (784, 30, 30, 30, 10): {
        0: (0.011838212272121293, 0.05996519457449515, 0.28314239285488185),
        30: (0.00015247621274692006, 0.0007990025011470844, 0.004471905932173625),
        499: (8.5560837276469e-05, 0.0002181636837403912, 0.0012614452096274679),
    },
    (784, 30, 30, 30, 30, 10): {
        0: (0.0029752663545292526, 0.017076665445425132, 0.06953924167660484, 0.28513893545173896),
        30: (2.866804124561352e-05, 0.00010434759499948814, 0.0005854314001381071, 0.002492825151070448),
        499: (8.21211652552637e-06, 2.614381736985433e-05, 0.00018252897168458156, 0.0009247251418948941),
    },
}

#: generate_gradient.py: 500 calls of net.SGD(td, 1, 1000, 0.1, lmbda=5.0) on the first 1,000 images,
#: the speeds recorded before each call
NIELSEN_STEPS, NIELSEN_ETA, NIELSEN_LAMBDA = 500, 0.1, 5.0


def digits_as_mnist(rows: int = 1000) -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's 8×8 digits shaped like MNIST: intensities /16 into [0, 1], each pixel
    repeated 3×3 (24×24) and padded by 2 on every side (28×28 = 784, MNIST's layout of a digit
    inside a 20–24 pixel box); targets one-hot (rows, 10). The first ``rows`` images."""
    from ..datasets import load_dataset

    d = load_dataset("digits")
    imgs = d.X[:rows].reshape(-1, 8, 8) / 16.0
    big = np.kron(imgs, np.ones((1, 3, 3)))
    X = np.pad(big, ((0, 0), (2, 2), (2, 2))).reshape(-1, 784)
    Y = np.zeros((X.shape[0], 10))
    Y[np.arange(X.shape[0]), d.y[:rows]] = 1.0
    return X, Y


def _nielsen_net(sizes, seed: int, index: int) -> Network:
    # network2.Network(sizes) default: sigmoid layers, cross-entropy cost,
    # W ~ N(0, 1/n_in) and b ~ N(0, 1) (default_weight_initializer).
    return Network(sizes, activation="sigmoid", output_activation="sigmoid", cost="binary_cross_entropy",
                   bias=True, init=Normal(sigma_w2=1.0, sigma_b2=1.0),
                   seed=np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(len(sizes), index))))


def _nielsen_train(sizes, X, Y, steps: int, seed: int, index: int = 0):
    """Network ``index`` trained as generate_gradient.py does: full-batch SGD, η = 0.1, L2 λ = 5 over the n
    images (network2 decays the weights only), the speeds recorded on the same images before
    training and after every step."""
    from ..optimizers import SGD
    from ..training import fit
    from .recorder import GradientFlowRecorder

    net = _nielsen_net(sizes, seed, index)
    rec = GradientFlowRecorder(X, Y, max_rows=None)
    n = X.shape[0]
    fit(net, X, Y, optimizer=SGD(lr=NIELSEN_ETA, l2=NIELSEN_LAMBDA / n), epochs=steps, batch_size=n,
        shuffle=False, seed=seed, callbacks=[rec])
    return rec


def nielsen_ch5(out: str, quick: bool = False, seed: int = 0, n_jobs: int | None = None,
                scheduler: Any = None) -> PresetResult:
    """Nielsen's chapter-5 protocol: ‖(1/n) Σ_x ∂C_x/∂b‖ per hidden layer over 1,000 training images
    for [784, 30, …, 30, 10] sigmoid networks (network2 defaults), at initialization over many
    random networks and during full-batch training of one network (500 steps, η = 0.1, λ = 5)."""
    from .plots import plot_training_speed

    t0 = time.perf_counter()
    nets, trained = (5, 2) if quick else (50, 5)
    steps = 5 if quick else NIELSEN_STEPS
    last = min(steps, NIELSEN_STEPS) - 1  # his last record: after 499 steps
    X, Y = digits_as_mnist(200 if quick else 1000)
    mean_x2 = float(np.mean(np.sum(X * X, axis=1)) / X.shape[1])
    os.makedirs(out, exist_ok=True)
    files: dict[str, str] = {}
    init_rows, ratio_rows, train_rows, layer_rows, summary_rows = [], [], [], [], []
    data: dict[str, Any] = {"mean_x2": mean_x2}
    calls = [(_nielsen_train, (sizes, X, Y, steps, seed, i)) for sizes in NIELSEN_CH5 for i in range(trained)]
    all_recs, data["executor"] = run_calls(calls, n_jobs=n_jobs, scheduler=scheduler)
    for a, (sizes, ref) in enumerate(NIELSEN_CH5.items()):
        depth = len(sizes) - 2
        speeds = np.array([measure(_nielsen_net(sizes, seed, i), X, Y).speed for i in range(nets)])
        mf = mean_field("sigmoid", 1.0, 1.0, depth, q1=mean_x2 + 1.0)
        arch = "[" + ", ".join(map(str, sizes)) + "]"
        data[arch] = speeds
        recs = all_recs[a * trained:(a + 1) * trained]
        rec = recs[0]  # network 0, his one network: its figure and its records
        after = [float(r.speed[last][-1] / r.speed[last][0]) for r in recs]
        name = f"training_speed_{depth}_layers"
        _save(plot_training_speed(rec, title=f"Speed of learning: {depth} hidden layers, {arch}"), out,
              f"{name}.png", files)
        rec.write(out, name=name, plot=False)
        files[f"{name}.csv"] = os.path.join(out, f"{name}.csv")
        at30 = rec.speed[30] if steps >= 30 else None
        data[f"training {arch}"] = (rec.speed[0].copy(), rec.speed[last].copy())
        for k in range(depth):
            col = speeds[:, k]
            pct = float(np.mean(col <= ref[0][k]) * 100)
            init_rows.append([arch, k + 1, ref[0][k], float(np.median(col)), float(np.mean(col)),
                              f"{np.quantile(col, 0.1):.3g} – {np.quantile(col, 0.9):.3g}", f"{pct:.0f}%"])
            train_rows.append([arch, k + 1, ref[0][k], float(rec.speed[0][k]), ref[30][k],
                               float(at30[k]) if at30 is not None else "—", ref[499][k], float(rec.speed[last][k])])
            layer_rows.append({"architecture": arch, "layer": k + 1, "nets": nets, "nielsen_step_0": ref[0][k],
                               "median": np.median(col), "mean": np.mean(col), "q10": np.quantile(col, 0.1),
                               "q90": np.quantile(col, 0.9), "trained_step_0": rec.speed[0][k],
                               "nielsen_step_30": ref[30][k], "trained_step_30": at30[k] if at30 is not None else None,
                               "nielsen_step_499": ref[499][k], f"trained_step_{last}": rec.speed[last][k]})
        for k in range(depth - 1):
            ours = speeds[:, k + 1] / speeds[:, k]
            ratio_rows.append([arch, f"{k + 2} / {k + 1}", ref[0][k + 1] / ref[0][k], float(np.median(ours)),
                               1.0 / math.sqrt(mf.chi[k])])
        summary_rows.append({"architecture": arch, "hidden_layers": depth, "rows": X.shape[0], "nets": nets,
                             "steps": steps, "nielsen_ratio_step_0": ref[0][-1] / ref[0][0],
                             "median_ratio_step_0": float(np.median(speeds[:, -1] / speeds[:, 0])),
                             "nielsen_ratio_step_499": ref[499][-1] / ref[499][0],
                             f"trained_ratio_step_{last}": after[0], "trained_nets": trained,
                             f"median_trained_ratio_step_{last}": float(np.median(after)),
                             f"min_trained_ratio_step_{last}": min(after), f"max_trained_ratio_step_{last}": max(after),
                             "layers_stay_ordered": bool(np.all(np.diff(rec.speed, axis=1) > 0))})
    for fname, rows in (("summary.csv", summary_rows), ("layers.csv", layer_rows)):
        write_csv(os.path.join(out, fname), tuple(rows[0]), rows)
        files[fname] = os.path.join(out, fname)
    t_init = rp.md_table(["network", "hidden layer", "Nielsen (MNIST), 1 network", f"ours: median of {nets}",
                          "ours: mean", "ours: 10–90%", "Nielsen's value is at our percentile"], init_rows)
    t_ratio = rp.md_table(["network", "layers", "Nielsen's ratio", f"ours: median ratio of {nets}",
                           "mean field 1/√χ(q_k)"], ratio_rows)
    t_train = rp.md_table(["network", "hidden layer", "Nielsen step 0", "ours step 0", "Nielsen step 30",
                           "ours step 30", "Nielsen step 499", f"ours step {last}"], train_rows)
    t_last = rp.md_table(["network", "Nielsen (MNIST), step 499", f"ours (digits), network 0, step {last}",
                          f"ours: median (min – max) of {trained} trained networks", "Nielsen, step 0",
                          f"ours, step 0: median of {nets} networks"],
                         [[r["architecture"], f"{r['nielsen_ratio_step_499']:.1f}×",
                           f"{r[f'trained_ratio_step_{last}']:.1f}×",
                           f"{r[f'median_trained_ratio_step_{last}']:.1f}× ({r[f'min_trained_ratio_step_{last}']:.1f} – "
                           f"{r[f'max_trained_ratio_step_{last}']:.1f})", f"{r['nielsen_ratio_step_0']:.1f}×",
                           f"{r['median_ratio_step_0']:.1f}×"] for r in summary_rows])
    seconds = time.perf_counter() - t0
    text = _nielsen_report(t_init, t_ratio, t_train, t_last, nets, trained, steps, last, mean_x2, X.shape[0],
                           seconds, init_rows, ratio_rows, summary_rows, quick)
    _write_report(out, text, files)
    return PresetResult("nielsen-ch5", out, files, {"initial": t_init, "ratios": t_ratio, "training": t_train,
                                                    "last_to_first": t_last}, text, seconds, data)


def _nielsen_report(t_init, t_ratio, t_train, t_last, nets, trained, steps, last, mean_x2, rows, seconds,
                    init_rows, ratio_rows, summary_rows, quick) -> str:
    """The nielsen-ch5 report as markdown.

    Long on purpose: the report's text, section by section.
    """
    inside = sum(1 for r in init_rows if 5 <= float(r[-1].rstrip("%")) <= 95)
    ours = [r[f"trained_ratio_step_{last}"] for r in summary_rows]
    his = [r["nielsen_ratio_step_499"] for r in summary_rows]
    medians = [r[f"median_trained_ratio_step_{last}"] for r in summary_rows]
    grows = all(b > a for a, b in zip(medians, medians[1:]))
    persists = all(r[f"min_trained_ratio_step_{last}"] > 1 for r in summary_rows)
    inside_range = sum(r[f"min_trained_ratio_step_{last}"] <= r["nielsen_ratio_step_499"]
                       <= r[f"max_trained_ratio_step_{last}"] for r in summary_rows)
    ordered = sum(r["layers_stay_ordered"] for r in summary_rows)
    slower = all(r[3] > 1 for r in ratio_rows)
    min_ratio = min(r[3] for r in ratio_rows)
    nmin = min(r[2] for r in ratio_rows)
    figs = [f"training_speed_{d}_layers.png" for d in (2, 3, 4)]
    return "\n".join([
        "# Nielsen, chapter 5: the speed of learning of each hidden layer", "",
        "## What was measured", "",
        "Nielsen's protocol (`fig/generate_gradient.py` with `src/network2.py` of "
        "mnielsen/neural-networks-and-deep-learning): sigmoid networks [784, 30, 30, 10], [784, 30, 30, 30, 10] and "
        "[784, 30, 30, 30, 30, 10] with network2's defaults — weights N(0, 1/n_in), biases N(0, 1), sigmoid output "
        "with the cross-entropy cost — and the speed of learning of hidden layer k defined as "
        f"‖(1/n) Σ_x ∂C_x/∂b[k−1]‖ (the biases into layer k) over the first n = {rows} training images. He measured "
        f"one network per architecture; we measure {nets} random networks each and give the spread. Then {trained} "
        "networks per architecture are trained as he trained his: `net.SGD(td, 1, 1000, 0.1, lmbda=5.0)` called "
        f"{steps} times" + (" (he called it 500 times)" if steps != NIELSEN_STEPS else "") + ", that is full-batch "
        f"gradient descent on the same {rows} images, η = {NIELSEN_ETA:g}, L2 λ = {NIELSEN_LAMBDA:g} over n on the "
        "weights only (network2's w ← (1 − ηλ/n) w − η ∇w), the speeds recorded on those images before training and "
        "after every step (he recorded before each call, so his record j follows j steps, as ours does).", "",
        "**Differences from his run.** (1) The data: MNIST is not available offline, so the images are "
        "scikit-learn's 8×8 digits scaled to [0, 1], each pixel repeated 3×3 and padded to 28×28 = 784 inputs (a digit "
        "in the middle of the frame, as in MNIST); the input enters only through q₁ = σ_w² mean(x²) + σ_b²: mean(x²) "
        f"is {mean_x2:.3f} here against ≈ 0.10 for MNIST (mean 0.13, SD 0.31), so q₁ ≈ 1.1–1.2 in both, dominated by "
        "the biases' σ_b² = 1. (2) The random draws: numpy's Generator here, numpy's legacy global state there, so "
        "his network is one draw of the distribution ours are drawn from. The rest — architectures, initialization, "
        "cost, optimizer, step count and the images the speeds are measured on — follows his script.", "",
        f"Wall time {seconds:.1f} s" + (" (quick mode)." if quick else "."), "",
        "## Against which numbers", "",
        "Nielsen's speeds are from the data files of his figures (fig/norms_during_training_{2,3,4}_layers.json, "
        "records 0, 30 and 499, the last); chapter 5 quotes the initial ones rounded (0.07 and 0.31; 0.012, 0.060 "
        "and 0.283; 0.003, 0.017, 0.070 and 0.285). The theory beside them is the mean field of the sigmoid with "
        "σ_w² = 1, σ_b² = 1: G_k = χ(q_k) G_{k+1} with χ ≤ σ_w²/16, so each layer back should learn at least 4 "
        "times slower in norm (1/√χ ≥ 4).", "",
        "## The last hidden layer against the first", "",
        "Speed of the last hidden layer over the speed of the first, after his last step and at initialization:", "",
        t_last, "",
        "## At initialization", "", t_init, "",
        "## Ratios of consecutive layers", "", t_ratio, "",
        "## During training", "", "Network 0 of each architecture, the one drawn in the figures:", "", t_train, "",
        "## What follows", "",
        f"- Nielsen's initial speeds fall between the 5th and 95th percentiles of ours in {inside} of {len(init_rows)} "
        "layers: with digits in place of MNIST, the same protocol reproduces his numbers within the network-to-"
        "network spread (he reports one draw).",
        f"- Each layer back learns {'slower' if slower else 'not always slower'}: our median ratio of consecutive "
        f"speeds is at least {min_ratio:.2f} (Nielsen's smallest is {nmin:.2f}); the mean-field 1/√χ(q_k) is the "
        "factor expected from the sigmoid's derivative: √χ ≤ ¼ always, so 1/√χ ≥ 4.",
        f"- After step {last} the last hidden layer of network 0 learns {', '.join(f'{x:.1f}' for x in ours)} times "
        f"faster than the first (2, 3, 4 hidden layers) against Nielsen's {', '.join(f'{x:.1f}' for x in his)} on "
        f"MNIST; over {summary_rows[0]['trained_nets']} trained networks each, his value lies inside our range in "
        f"{inside_range} of {len(summary_rows)} architectures (the ratio after training varies from draw to draw: "
        f"the table's ranges). Its median over the trained networks "
        f"{'grows' if grows else 'does not grow'} with every hidden layer added"
        + (", and every trained network ends with its last layer learning faster than its first: the vanishing "
           "gradient persists through training." if persists else "."), "",
        "## Figures", "",
        *[line for d, f in zip((2, 3, 4), figs) for line in (f"![training, {d} hidden layers]({f})", "")],
        "Each figure is the speed of learning ‖∂C/∂b‖ of every hidden layer of network 0 (log axis) against "
        f"epochs, each one full-batch step, as in Nielsen's figures. In {ordered} of {len(summary_rows)} networks the lines keep their "
        "order at every step, layer 1 lowest (each layer back slower); the ratios of the table above are the gaps "
        "between the top and bottom lines at the last step.", "",
        "## Files", "",
        "summary.csv (one row per architecture: the last-to-first ratios), layers.csv (one row per hidden layer: "
        "Nielsen's speeds and ours at initialization and during training), "
        + ", ".join(f"training_speed_{d}_layers.csv" for d in (2, 3, 4)) + " (every record "
        f"of the trained networks), the figures ({', '.join(figs)}) and run.json.", "",
    ])


# ============================================================================ he-2015
def _moved(drop: float) -> str:
    """'fell by 12.3%' or 'rose by 0.2%' for a relative drop of the loss."""
    if not math.isfinite(drop):
        return "was not finite"
    return f"{'fell' if drop >= 0 else 'rose'} by {100 * abs(drop):.1f}%"


def _standard_friedman(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    from ..datasets import make_friedman1

    d = make_friedman1(n, seed=seed)
    X = (d.X - d.X.mean(axis=0)) / d.X.std(axis=0)
    y = (d.y - d.y.mean()) / d.y.std()
    return X, y[:, None]


def he_2015(out: str, quick: bool = False, seed: int = 0, n_jobs: int | None = None,
            scheduler: Any = None) -> PresetResult:
    """A 30-layer ReLU network (width 64, zero biases) trained with SGD + momentum on Friedman's
    regression problem from Glorot and from He initialization; loss curves and gradient flow.

    Long on purpose: the preset's experiment and its report, section by section.
    """
    from ..optimizers import SGD
    from ..training import DivergenceError, fit
    from .plots import plot_losses, plot_training_speed
    from .recorder import GradientFlowRecorder

    t0 = time.perf_counter()
    depth, width = 30, (16 if quick else 64)
    epochs = 2 if quick else 20
    X, Y = _standard_friedman(256 if quick else 2000, seed)
    os.makedirs(out, exist_ok=True)
    files: dict[str, str] = {}
    curves, rows, recs = {}, [], {}
    for init in ("glorot", "he"):
        net = Network([X.shape[1]] + [width] * depth + [1], activation="relu", init=init, bias=True,
                      seed=np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(2015,))))
        rec = GradientFlowRecorder(X, Y, max_rows=256)
        try:
            h = fit(net, X, Y, optimizer=SGD(lr=0.01, momentum=0.9), epochs=epochs, batch_size=32, seed=seed,
                    callbacks=[rec])
            losses = h.train_loss
            diverged = None
        except DivergenceError as exc:
            losses = exc.history.train_loss if exc.history else []
            diverged = str(exc)
        sw2 = 1.0 if init == "glorot" else 2.0
        curves[f"{init} (σ_w² ≈ {sw2:g})"] = losses
        recs[init] = rec
        _save(plot_training_speed(rec, title=f"Speed of learning, 30-layer ReLU, {init} init"), out,
              f"training_speed_{init}.png", files)
        rec.write(out, name=f"gradient_flow_{init}", plot=False)
        files[f"gradient_flow_{init}.csv"] = os.path.join(out, f"gradient_flow_{init}.csv")
        s0 = rec.stats[0]
        rows.append([init, sw2, (depth - 1) * math.log(sw2 / 2.0), s0.log_ratio,
                     math.exp(float(s0.log_q[-1] - s0.log_q[0])),
                     losses[0] if losses else float("nan"), losses[-1] if losses else float("nan"),
                     rec.log_speed[-1][0] / math.log(10) if rec.stats else float("nan"),
                     diverged or "no"])
    _save(plot_losses(curves, title=f"{depth}-layer ReLU network, width {width}: training loss"), out,
          "loss_curves.png", files)
    table = rp.md_table(["init", "σ_w²", "mean field ln(G₁/G_L)", "measured ln(G₁/G_L) at init",
                         "q_L / q_1 at init", "loss, epoch 1", f"loss, epoch {epochs}",
                         "log10 speed of layer 1, end", "diverged"], rows)
    write_csv(os.path.join(out, "losses.csv"), ("epoch", *curves.keys()),
              [{"epoch": e + 1, **{k: v[e] if e < len(v) else None for k, v in curves.items()}}
               for e in range(max(len(v) for v in curves.values()))])
    files["losses.csv"] = os.path.join(out, "losses.csv")
    _he_csvs(out, files, rows, recs, depth)
    seconds = time.perf_counter() - t0
    fw = relu_finite_width([width] * depth, 2.0)
    g_loss = curves[next(iter(curves))]
    h_loss = curves[list(curves)[1]]
    g_drop = (g_loss[0] - g_loss[-1]) / g_loss[0] if g_loss else float("nan")
    h_drop = (h_loss[0] - h_loss[-1]) / h_loss[0] if h_loss else float("nan")
    text = "\n".join([
        "# He et al. 2015: a 30-layer ReLU network from Glorot and from He initialization", "",
        "## What was measured", "",
        f"A fully connected network of {depth} ReLU hidden layers of width {width} (biases initialised at 0, linear "
        f"readout) trained on Friedman's first regression problem ({X.shape[0]} rows, inputs and target "
        f"standardised) with SGD, momentum 0.9, learning rate 0.01, mini-batches of 32, {epochs} epochs, the same "
        "seed and data order for both initializations. Glorot draws W with variance 2/(fan_in + fan_out) "
        "(σ_w² = 1 for the square hidden layers), He with 2/fan_in (σ_w² = 2). A GradientFlowRecorder measured the "
        f"per-layer gradients on 256 fixed rows before training and after every epoch. Wall time {seconds:.1f} s"
        + (" (quick mode)." if quick else "."), "",
        "## Against which prediction", "",
        "He et al. (2015, §2.2): a ReLU layer halves the mean square of the signal unless σ_w² = 2, forward and "
        "backward, so with σ_w² = 1 thirty layers shrink both by 2^−29 (ln = −20.1), and their 30-layer network "
        "from Xavier init 'completely stalls' while theirs converges (Fig. 3).", "",
        "## Results", "", table, "",
        "## What follows", "",
        f"- From Glorot the loss {_moved(g_drop)} in {epochs} epochs; from He it {_moved(h_drop)}. "
        + ("The Glorot network stalls, as He et al. report: its early layers receive gradients e^{"
           f"{rp.fmt(rows[0][3] / 2)}}} times the last layer's, and its signal reaches the readout multiplied by "
           f"{rp.fmt(rows[0][4])} in mean square, so the output barely depends on the input."
           if g_drop < 0.5 * h_drop else "Both initializations trained here; the difference is smaller than He et al. report."),
        f"- At He initialization the measured ln(G₁/G_L) = {rp.fmt(rows[1][3])}: mean field says 0 and finite width "
        f"(β = {depth - 1}/{width}) predicts {rp.fmt(fw.mean)} ± {rp.fmt(fw.std)} for a typical network, so the "
        f"gradient reaches the first layer {'within a factor 10' if abs(rows[1][3]) < math.log(10) else 'diminished'}"
        " and every layer learns from the first epoch (figure).", "",
        "## Figures", "",
        "![loss curves](loss_curves.png)", "",
        f"Training loss per epoch (log axis) from each initialization, same data and order: {_he_loss_note(curves)}.",
        "", "![speed, Glorot](training_speed_glorot.png)", "", "![speed, He](training_speed_he.png)", "",
        "The speed of learning ‖∂C/∂b[k−1]‖ of hidden layers 1 … 30 (eight of them drawn) on a log axis against "
        f"epochs, on 256 fixed rows: {_he_speed_note(recs)}.", "",
        "## Files", "",
        "summary.csv (one row per initialization: the table above), layers.csv (one row per initialization and "
        "hidden layer: ln G and the speed of learning at initialization and after the last epoch, beside mean "
        "field's ln(G_k/G_L)), losses.csv, gradient_flow_glorot.csv and gradient_flow_he.csv (every record), the "
        "figures and run.json.", "",
    ])
    _write_report(out, text, files)
    return PresetResult("he-2015", out, files, {"training": table}, text, seconds,
                        {"losses": curves, "recorders": recs})


def _he_csvs(out: str, files: dict[str, str], rows: list, recs: dict, depth: int) -> None:
    """summary.csv (one row per initialization) and layers.csv (one row per initialization and layer)."""
    keys = ("init", "sigma_w2", "mean_field_log_ratio", "measured_log_ratio_init", "q_ratio_init", "loss_epoch_1",
            "loss_last_epoch", "log10_speed_layer_1_end", "diverged")
    write_csv(os.path.join(out, "summary.csv"), keys, [dict(zip(keys, r)) for r in rows])
    layer_rows = []
    for (init, rec), row in zip(recs.items(), rows):
        first, end = rec.stats[0], rec.stats[-1]
        for k in range(depth):
            layer_rows.append({"init": init, "layer": k + 1, "log_G_init": first.log_G[k],
                               "mean_field_log_G_rel": (depth - 1 - k) * math.log(row[1] / 2.0),
                               "log_speed_init": first.log_speed[k], "log_G_end": end.log_G[k],
                               "log_speed_end": end.log_speed[k], "epochs": rec.epochs[-1]})
    write_csv(os.path.join(out, "layers.csv"), tuple(layer_rows[0]), layer_rows)
    files["summary.csv"] = os.path.join(out, "summary.csv")
    files["layers.csv"] = os.path.join(out, "layers.csv")


def _he_loss_note(curves: dict) -> str:
    parts = [f"{label}: {rp.fmt(v[0])} after epoch 1, {rp.fmt(v[-1])} after epoch {len(v)}"
             for label, v in curves.items() if v]
    return "; ".join(parts) if parts else "no epoch finished"


def _he_speed_note(recs: dict) -> str:
    parts = []
    for init, rec in recs.items():
        if rec.stats:
            a, b = rec.log_speed[0], rec.log_speed[-1]
            parts.append(f"{init}: layer 30 over layer 1 is e^{rp.fmt(a[-1] - a[0])} before training and "
                         f"e^{rp.fmt(b[-1] - b[0])} after epoch {rec.epochs[-1]}")
    return "; ".join(parts)


# ============================================================================ step-at-zero
def _train_step(width, depth, bias, index, step, X, Y, epochs, seed):
    from ..activations import ReLU
    from ..optimizers import SGD
    from ..training import DivergenceError, fit

    net = Network([X.shape[1]] + [width] * depth + [1], activation=ReLU(step_at_zero=step), init="he", bias=bias,
                  seed=np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(width, depth, int(bias), index))))
    tr = net.forward(X)
    zeros = float(np.mean([np.mean(tr.z[k] == 0) for k in range(1, depth + 1)]))
    dead = float(np.mean(~np.any(tr.r[depth] != 0, axis=1)))
    try:
        h = fit(net, X, Y, optimizer=SGD(lr=0.01, momentum=0.9), epochs=epochs, batch_size=32, seed=seed)
        loss = h.train_loss[-1]
    except DivergenceError:
        loss = float("nan")
    return net, loss, zeros, dead


def step_at_zero(out: str, quick: bool = False, seed: int = 0, n_jobs: int | None = None,
                 scheduler: Any = None) -> PresetResult:
    """ReLU'(0) ∈ {1, 0, ½}: training from the same initialization and data order, for generic
    networks, for narrow networks with zero-initialised biases and for narrow bias-free networks;
    and the born-dead probability 1 − (1 − 2^−n)^L against measurement.

    Long on purpose: the preset's experiment and its report, section by section.
    """
    from .plots import plot_dead_vs_depth

    t0 = time.perf_counter()
    os.makedirs(out, exist_ok=True)
    files: dict[str, str] = {}
    # born dead: bias-free He ReLU networks of small width
    if quick:
        sweep = Sweep(activations=("relu",), inits=("he",), depths=(1, 5, 20), widths=(2, 4), nets=5, batch=32,
                      limit_dtypes=())
    else:
        sweep = Sweep(activations=("relu",), inits=("he",), depths=(1, 2, 3, 5, 10, 20, 50, 100),
                      widths=(2, 3, 4, 6), nets=40, batch=32, limit_dtypes=())
    res = run_sweep(sweep, seed=seed, n_jobs=n_jobs, scheduler=scheduler)
    res.write(out)
    files["summary.csv"] = os.path.join(out, "summary.csv")
    files["layers.csv"] = os.path.join(out, "layers.csv")
    _save(plot_dead_vs_depth(res), out, "dead_vs_depth.png", files)
    dead_rows = [[r.config.width, r.config.depth, r.summary["nets"], r.summary["dead_rows"],
                  r.summary["dead_rows_sem"], r.summary["predicted_dead_probability"]] for r in res.results]
    t_dead = rp.md_table(["width n", "depth L", "networks (32 inputs each)", "measured fraction dead",
                          "SEM (over networks)", "1 − (1 − 2^−n)^L"], dead_rows)
    devs = [abs(r[3] - r[5]) / r[4] for r in dead_rows if r[4] > 0 and math.isfinite(r[4])]
    worst = max(devs) if devs else float("nan")

    # training with each Step(0)
    X, Y = _standard_friedman(128 if quick else 512, seed)
    seeds = 2 if quick else 10
    epochs = 2 if quick else 20
    families = (("generic: width 32, depth 10, biases initialised at 0", 32, 10, True),
                ("narrow: width 4, depth 10, biases initialised at 0", 4, 10, True),
                ("narrow: width 4, depth 10, bias-free", 4, 10, False))
    rows = []
    for label, width, depth, bias in families:
        losses = {1.0: [], 0.0: [], 0.5: []}
        same0 = same5 = 0
        zeros, dead, dmax = [], [], 0.0
        for i in range(seeds):
            nets = {}
            for st in (1.0, 0.0, 0.5):
                net, loss, z, d = _train_step(width, depth, bias, i, st, X, Y, epochs, seed)
                nets[st] = net
                losses[st].append(loss)
            zeros.append(z)
            dead.append(d)
            p1 = nets[1.0].parameters()
            same0 += all(np.array_equal(a, b) for a, b in zip(p1, nets[0.0].parameters()))
            same5 += all(np.array_equal(a, b) for a, b in zip(p1, nets[0.5].parameters()))
            dmax = max(dmax, max(float(np.max(np.abs(a - b))) for a, b in zip(p1, nets[0.0].parameters())))
        l1, l0, l5 = (np.array(losses[s]) for s in (1.0, 0.0, 0.5))
        rows.append([label, float(np.mean(zeros)), float(np.mean(dead)), f"{same0}/{seeds}", f"{same5}/{seeds}",
                     dmax, float(np.nanmean(l1)), float(np.nanmean(l0)), float(np.nanmean(l5)),
                     f"{int(np.sum(l1 < l0))}/{seeds}"])
    t_train = rp.md_table(["networks", "exact zeros in z at init", "inputs dead at init",
                           "identical training, Step(0)=1 vs 0", "1 vs ½", "max |θ₁ − θ₀| after training",
                           "final loss, Step(0)=1", "Step(0)=0", "Step(0)=½", "Step(0)=1 ends lower than 0"], rows)
    seconds = time.perf_counter() - t0
    gen, nz, nb = rows
    text = "\n".join([
        "# Does ReLU'(0) matter? Step(0) ∈ {1, 0, ½}", "",
        "## What was measured", "",
        f"For each of {seeds} seeds, one network is drawn (He init) and trained three times — with ReLU'(0) = 1 "
        "(the derivation's convention), 0 (PyTorch, scikit-learn) and ½ — from the same parameters, on the same "
        f"data in the same order (Friedman's regression problem, {X.shape[0]} rows, SGD with momentum 0.9, "
        f"η = 0.01, batch 32, {epochs} epochs). We count the pre-activations that are exactly 0 at initialization, "
        "the inputs for which the last hidden layer is all zero (a dead network for that input), and compare the "
        "trained parameters bit for bit. Separately, bias-free He ReLU networks of width 2–6 were drawn "
        f"({res.n_tasks} networks × 32 inputs) to measure how often a network is born dead. "
        f"Wall time {seconds:.1f} s" + (" (quick mode)." if quick else "."), "",
        "## Against which prediction", "",
        "ReLU'(0) enters backprop only through equation (4), dC/dz = dC/dr ⊙ Step(z), at entries where z is exactly "
        "0. With continuous weights and inputs that happens with probability 0 unless the layer below is "
        "entirely 0 for that input (a dead layer), in which case z = b. Bias-free (the derivation's network): above "
        "a dead layer z = 0 exactly, but every r there is 0 too, so every ∂C/∂W[k] = r[k]ᵀ ∂C/∂z[k+1] above it is 0 "
        "whatever Step(0) is, and at the dead layer itself z < 0 blocks the gradient below: the choice cannot change "
        "any parameter gradient. With biases initialised at 0, z = 0 exactly above a dead layer and ∂C/∂b = Σ ∂C/∂z "
        "does depend on Step(0): training should differ, and only there. A bias-free network is dead for a given "
        "input with probability 1 − (1 − 2^−n)^L.", "",
        "## Training with each Step(0)", "", t_train, "",
        "## Born dead", "", t_dead, "",
        "## What follows", "",
        f"- Generic networks ({gen[0].split(': ')[1]}): {gen[1]:.3g} of the pre-activations are exactly 0 and training with "
        f"Step(0) = 1, 0 and ½ gave {'bit-identical' if gen[3] == f'{seeds}/{seeds}' and gen[4] == gen[3] else 'different'}"
        f" parameters ({gen[3]} and {gen[4]} seeds identical). Here the derivation is right: the choice makes no "
        "difference at all.",
        f"- Bias-free narrow networks ({nb[0].split(': ')[1]}): {nb[1]:.3g} of the pre-activations are exactly 0 and "
        f"{nb[2]:.3g} of the inputs meet a dead network, yet training was "
        f"{'bit-identical' if nb[3] == f'{seeds}/{seeds}' else 'NOT identical'} in {nb[3]} seeds, as the argument above "
        "says it must be.",
        f"- Narrow networks with zero-initialised biases ({nz[0].split(': ')[1]}): {nz[1]:.3g} of the pre-activations are exactly 0 "
        f"and training differed in {seeds - int(nz[3].split('/')[0])} of {seeds} seeds (largest parameter difference "
        f"{rp.fmt(nz[5])}); mean final loss {rp.fmt(nz[6])} with Step(0) = 1, {rp.fmt(nz[7])} with 0 and "
        f"{rp.fmt(nz[8])} with ½; Step(0) = 1 ended lower than 0 in {nz[9]} seeds. This is where the choice matters: "
        "with 1 the gradient reaches the biases above a dead layer and moves them off 0, with 0 it does not.",
        f"- Born dead: the measured fraction of dead inputs "
        f"{'follows' if worst <= 3 else 'departs from'} 1 − (1 − 2^−n)^L; the largest deviation is "
        f"{rp.fmt(worst)} standard errors (over networks; the inputs of one network are not independent).", "",
        "## Figures", "", "![born dead](dead_vs_depth.png)", "",
        "The fraction of inputs whose last hidden layer is all zero against depth (log axis), for each width "
        "(markers ± SEM over networks), with 1 − (1 − 2^−n)^L (lines): the largest gap between a marker and its "
        f"line is {rp.fmt(worst)} SEM.", "",
        "## Files", "", "summary.csv and layers.csv (the born-dead sweep), dead_vs_depth.png and run.json.", "",
    ])
    _write_report(out, text, files)
    return PresetResult("step-at-zero", out, files, {"training": t_train, "dead": t_dead}, text, seconds,
                        {"sweep": res})


def _schoenholz_2017(*args: Any, **kwargs: Any) -> PresetResult:
    from .phase import schoenholz_2017

    return schoenholz_2017(*args, **kwargs)


PRESETS: dict[str, Callable[..., PresetResult]] = {
    "seed-questions": seed_questions,
    "schoenholz-2017": _schoenholz_2017,
    "nielsen-ch5": nielsen_ch5,
    "he-2015": he_2015,
    "step-at-zero": step_at_zero,
}


#: presets with a paper-sized grid behind ``full=True``
FULL_PRESETS = ("schoenholz-2017",)


def run_preset(name: str, out: str | os.PathLike, quick: bool = False, seed: int = 0,
               n_jobs: int | None = None, scheduler: Any = None, full: bool = False) -> PresetResult:
    """Run the preset ``name`` (see :data:`PRESETS`) writing into ``out``; ``out/run.json`` then
    names the files of this run, and files an earlier run's manifest named that this run did not
    write are removed (listed in ``data["removed"]``)."""
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; valid names are {', '.join(PRESETS)}")
    extra = {}
    if full:
        if name not in FULL_PRESETS:
            raise ValueError(f"full=True applies to {', '.join(FULL_PRESETS)} only (got preset {name!r})")
        if quick:
            raise ValueError("full=True and quick=True exclude each other")
        extra["full"] = True
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative int (got {seed!r})")
    from .._files import finish_run, read_manifest

    out = os.fspath(out)
    previous = read_manifest(out) if os.path.isdir(out) else None
    with blas_threads(1):  # small matrices: one BLAS thread is fastest (worker processes set their own)
        res = PRESETS[name](out, quick=bool(quick), seed=int(seed), n_jobs=n_jobs, scheduler=scheduler, **extra)
    # what an earlier run into ``out`` wrote and this one did not is removed (res.data["removed"])
    names = [os.path.relpath(p, out) for p in res.files.values()]
    res.data["removed"] = finish_run(out, [n for n in names if os.sep not in n], previous)
    return res
