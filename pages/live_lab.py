"""Live lab: train one network and watch its layers while it learns."""

import itertools

import pandas as pd
import streamlit as st

import appkit
from normlab import plots

appkit.page_setup(__file__)
st.title("Live lab")
st.write(
    "Press **Train**: a real network trains on the server and your browser shows it learning, "
    "live. Without a norm, the values "
    "flowing through a deep network drift and spread from layer to layer, and the gradients "
    "grow or fade with depth; a norm layer re-centres and rescales them at every step. Change "
    "the settings in the sidebar and train again to see which claims about the norms hold."
)
st.caption(appkit.WHY_BN_HELPS_CAVEAT)

cfg = appkit.sidebar()
left, right, _ = st.columns([1, 1, 6])
train = left.button("Train", key="train", type="primary", icon=":material/play_arrow:")
right.button("Stop", key="stop", icon=":material/stop_circle:",
             help="Stops at the next snapshot; keeps what ran.")
notice, progress = st.empty(), st.empty()

loss_col, accuracy_col = st.columns(2)
loss_chart, accuracy_chart = loss_col.empty(), accuracy_col.empty()
bands_chart = st.empty()
grad_col, ratio_col = st.columns(2)
grad_chart, ratio_chart = grad_col.empty(), ratio_col.empty()
CAPTIONS = {
    "loss": "Dotted: loss on the batches it trained on; solid: held-out data. A flat line at "
            "ln(classes) nats (2.3 for the 10 digits) means the network is only guessing.",
    "accuracy": "Accuracy on held-out examples (eval mode: batch norm uses its running "
                "statistics here).",
    "bands": "Each panel is one layer: the band holds the middle 70% of the values leaving the "
             "norm, the line is their median. Without a norm, watch the bands drift, widen or "
             "collapse from the first layer to the last.",
    "grad": "Bright rows get large gradients, dark rows small ones: a colour ramp from top to "
            "bottom means gradients explode or vanish with depth.",
    "ratio": "How much each step changes a layer's weights relative to their size. Around 10⁻³ "
             "(white) is a common rule of thumb for a healthy rate (Karpathy, makemore part 3), "
             "not a law; deep red layers move fast, deep blue barely learn.",
}
redraws = itertools.count()  # keys charts apart: each redraw in one script run is a new element


def draw(run):
    """Replace every chart with the run's current frames (called a few times a second)."""
    n = next(redraws)
    fraction = min(run.step / max(run.config.steps, 1), 1.0)
    progress.progress(fraction, text=f"step {run.step} / {run.config.steps} · "
                                     f"{run.wall_time:.1f} s · {run.status}")
    metrics = appkit.tagged(run.metrics, run.config.norm)
    charts = [(loss_chart, "loss", plots.loss_curves(metrics)),
              (accuracy_chart, "accuracy", plots.accuracy_curves(metrics))]
    # the per-layer charts cost the browser most: every other redraw, and always the last one
    if not run.layer_stats.empty and (n % 2 == 0 or run.status != "running"):
        charts += [(bands_chart, "bands", plots.percentile_bands(run.layer_stats, run.config.norm)),
                   (grad_chart, "grad", plots.gradient_heatmap(run.gradients)),
                   (ratio_chart, "ratio", plots.update_ratio_heatmap(run.gradients))]
    for where, name, fig in charts:
        appkit.chart(where, fig, key=f"{name}-{n}", caption=CAPTIONS[name])


run = None
if train or st.session_state.pop("autostart", False):
    run = appkit.train_live(cfg, draw, notice)
    if run is not None:
        draws = st.session_state["live_draws"]
        if st.session_state.get("live_replayed"):
            st.caption("Replayed at once: this exact experiment was already trained on this "
                       "server. Change the seed to train a fresh one.")
        elif len(draws) > 1:
            st.caption(f"{len(draws)} chart updates in {draws[-1]:.1f} s "
                       f"({(len(draws) - 1) / max(draws[-1] - draws[0], 1e-9):.1f} per second); "
                       f"first chart {draws[0]:.2f} s after Train.")
else:
    run = appkit.last_run()
    if run is None:
        notice.info("Press **Train** to start. The sidebar holds the experiment.",
                    icon=":material/arrow_back:")
        empty = pd.DataFrame(columns=["norm", "step", "train_loss", "val_loss", "val_accuracy"])
        appkit.chart(loss_chart, plots.loss_curves(empty), key="loss-empty")  # and loads plotly
        appkit.chart(accuracy_chart, plots.accuracy_curves(empty), key="accuracy-empty")
    else:
        draw(run)
        if run.config != cfg:
            st.info("These charts show your last run; the sidebar has changed since ("
                    f"{appkit.describe_change(run.config, cfg)}). Press Train to run it.")

if run is not None:
    appkit.show_outcome(run, notice)
    appkit.downloads(run, plots.loss_curves(appkit.tagged(run.metrics, run.config.norm)),
                     name="live")

st.subheader("Try this")
st.markdown(
    "- Set **depth** to 20, **activation** to sigmoid and **norm** to No norm, train; then "
    "switch to BatchNorm. Compare the layer panels.\n"
    "- With BatchNorm, set **batch size** to 4, then 2, then 1. Does it stay robust?\n"
    "- Raise the **learning rate** to 2 with No norm, then with LayerNorm."
)
appkit.warm_up()  # a first visit by a link skips Home: load the data while they read
