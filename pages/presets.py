"""Paper presets: one-click miniatures of three figures from the normalization papers."""

import pandas as pd
import streamlit as st

import appkit
from normlab import experiments, plots
from normlab import lesson_plots as lp


def first_step(metrics: pd.DataFrame, target: float) -> str:
    reached = metrics.loc[metrics["val_accuracy"] >= target, "step"]
    return f"step {int(reached.min())}" if len(reached) else "never"


def ioffe_says(frames: dict) -> str:
    """What our Ioffe & Szegedy run shows: accuracy, speed, and the drift of the percentiles."""
    metrics, percentiles = frames["metrics"], frames["percentiles"]
    parts = []
    for norm, name in (("none", "Without batch norm"), ("batch", "with batch norm")):
        rows = metrics[metrics["norm"] == norm]
        if len(rows):
            parts.append(f"{name} the validation accuracy ended at "
                         f"{rows['val_accuracy'].iloc[-1]:.1%} and reached 80% at "
                         f"{first_step(rows, 0.8)}")
    drift = []
    for norm, name in (("none", "without"), ("batch", "with")):
        median = percentiles[(percentiles["norm"] == norm) & (percentiles["quantile"] == 0.5)]
        if len(median):
            drift.append(f"{median['value'].max() - median['value'].min():.2f} {name} it")
    text = "; ".join(parts) + "."
    if drift:
        text += (" Over training, the median sigmoid input of the last hidden layer moved by "
                 + " and ".join(drift) + ".")
    return text


def ba_says(frames: dict) -> str:
    """Final accuracy of batch and layer norm at each batch size, and what each lost."""
    final = frames["metrics"].groupby(["norm", "batch_size"])["val_accuracy"].last()
    parts = [f"batch {size}: " + ", ".join(f"{plots.norm_label(n)} {final[(n, size)]:.1%}"
                                           for n in ("batch", "layer") if (n, size) in final)
             for size in sorted({s for _, s in final.index}, reverse=True)]
    text = "Final validation accuracy at " + "; at ".join(parts) + "."
    sizes = sorted({s for _, s in final.index})
    lost = [f"{plots.norm_label(n)} {100 * (final[(n, sizes[-1])] - final[(n, sizes[0])]):.1f}"
            for n in ("batch", "layer") if (n, sizes[0]) in final and (n, sizes[-1]) in final]
    if len(sizes) > 1 and lost:
        text += (f" Going from batch {sizes[-1]} to batch {sizes[0]} cost "
                 + " and ".join(lost) + " points (negative: a gain).")
    return text


def wu_he_says(frames: dict) -> str:
    """Each norm's error at the largest and the smallest batch size."""
    errors = frames["errors"].dropna(subset=["val_error"])
    parts = []
    for norm in dict.fromkeys(errors["norm"]):
        rows = errors[errors["norm"] == norm].sort_values("batch_size")
        if len(rows) > 1:
            parts.append(f"{plots.norm_label(norm)} {rows['val_error'].iloc[-1]:.1%} at batch "
                         f"{rows['batch_size'].iloc[-1]} → {rows['val_error'].iloc[0]:.1%} at "
                         f"batch {rows['batch_size'].iloc[0]}")
    return "Validation error: " + "; ".join(parts) + "."


def draw(name: str, frames: dict) -> None:
    if name == "ioffe_szegedy_fig1":
        accuracy_col, bands_col = st.columns(2)
        appkit.chart(accuracy_col, plots.accuracy_curves(frames["metrics"]), key="ioffe_acc",
                     caption="Fig 1a: validation accuracy by step, with and without BN.")
        appkit.chart(bands_col, lp.percentile_bands_by_norm(frames["percentiles"]),
                     key="ioffe_bands", caption="Fig 1b, c: without BN the band drifts and "
                     "widens as the layers below learn; with BN it stays put.")
    elif name == "ba_fig6":
        accuracy_col, loss_col = st.columns(2)
        appkit.chart(accuracy_col, lp.curves_by_batch_size(frames["metrics"]), key="ba_acc",
                     caption="Solid: batch 128; dotted: batch 4. Colour: the norm.")
        appkit.chart(loss_col, lp.curves_by_batch_size(frames["metrics"], "val_loss"),
                     key="ba_loss", caption="The same runs' validation loss: which norm's "
                     "dotted line stays close to its solid one?")
    else:
        appkit.chart(st, lp.batch_size_curves(frames["errors"], "val_error"), key="wu_he_err",
                     caption="Fig 1 in small: error against batch size, lower is better. "
                     "Group norm's line should stay flat where batch norm's rises.")


SAYS = {"ioffe_szegedy_fig1": ioffe_says, "ba_fig6": ba_says, "wu_he_fig1": wu_he_says}

appkit.page_setup(__file__)
st.title("Paper presets")
st.write(
    "Three figures from the papers behind the norms, each rerun in miniature with one click: "
    "the same idea, a smaller dataset (8x8 digits), a smaller network and seconds of CPU "
    "instead of days of GPU. Each card says what the paper found and, computed from the run, "
    "what this run shows. Where they disagree, the *we run* line says what differs."
)
for name, preset in experiments.PRESETS.items():
    with st.container(border=True):
        st.subheader(f"{preset.paper}: {preset.figure}")
        st.markdown(f"**The paper found:** {preset.paper_says}")
        st.caption(f"We run: {preset.we_run}")
        if st.button("Run this miniature", key=f"preset_run_{name}", type="primary",
                     icon=":material/play_arrow:"):
            st.session_state.setdefault("presets_run", set()).add(name)
        if name in st.session_state.get("presets_run", set()):
            frames, complete = appkit.sweep("run_preset", key=f"preset_{name}",
                                            label="Training the miniature", name=name)
            if frames is not None and all(len(frame) for frame in frames.values()):
                st.success(f"**This run shows:** {SAYS[name](frames)}", icon=":material/flag:")
                draw(name, frames)

st.subheader("Try this")
st.markdown(
    "- After the Wu & He preset, open **Batch size** and add seeds: is the gap bigger than the "
    "seed-to-seed spread?\n"
    "- The Ioffe & Szegedy network uses sigmoids: open the **Live lab** with 20 sigmoid layers "
    "and watch the bands per layer."
)
st.page_link("pages/batch_size.py", label="Batch size lesson", icon=":material/straighten:")
st.page_link("pages/live_lab.py", label="Live lab", icon=":material/science:")
st.page_link("pages/claims.py", label="Claim checker", icon=":material/fact_check:")
