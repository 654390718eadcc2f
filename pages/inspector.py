"""Layer inspector: step through a run's per-layer histograms, before and after the norm."""

import math

import streamlit as st

import appkit
from appkit.live_chart import Slot, live_charts
from normlab import plots
from normlab.config import LIMITS

# -1: the last layer or step the run recorded (as is a layer or step that it did not record)
CONTROLS = {"layer": appkit.Control("keep_inspect_layer", -1, lo=-1, hi=LIMITS["depth"][1]),
            "step": appkit.Control("keep_inspect_step", -1, lo=-1, hi=LIMITS["steps"][1])}
appkit.page_setup(__file__, controls=CONTROLS)
st.title("Layer inspector")
st.write(
    "Every few steps the lab recorded a histogram of each layer's values going into the norm "
    "and coming out of it. Scrub through training to see how a norm holds a layer's "
    "distribution in place while the weights underneath it change, and how, without one, the "
    "distributions of deep layers drift, spread out or collapse."
)
st.caption(appkit.WHY_BN_HELPS_CAVEAT)

cfg = appkit.sidebar()
live = appkit.last_run()
sources = ["the sidebar's settings"]
if live is not None and not live.histograms.empty:
    sources.insert(0, "my last live-lab run")
if st.session_state.get("keep_inspect_source") not in sources:
    st.session_state["keep_inspect_source"] = sources[0]
source = st.radio("Run to inspect", sources, key="keep_inspect_source", horizontal=True,
                  disabled=len(sources) == 1, help="Train in the live lab to inspect that run.")
# training's spinner and notice stay in this container: when the next run replays the stored
# run they are gone, and without it every element below would move up one place, the chart
# frame with them (remounted: measured 0 px high for ~0.9 s at the first click)
with st.container():
    run = live if source == "my last live-lab run" else appkit.cached_run(cfg)
if run is None or run.histograms.empty:
    st.info("This run recorded no snapshots: it diverged or stopped at once. Try other settings.")
    st.stop()
appkit.show_outcome(run)

histograms, stats = run.histograms, run.layer_stats
steps = sorted(int(s) for s in histograms["step"].unique())
layers = sorted(int(layer) for layer in histograms["layer"].unique())
if st.session_state.get("keep_inspect_step") not in steps:
    st.session_state["keep_inspect_step"] = steps[-1]
if st.session_state.get("keep_inspect_layer") not in layers:
    st.session_state["keep_inspect_layer"] = layers[-1]
playing = st.session_state.setdefault("inspect_playing", False)


def move(by: int) -> None:
    index = steps.index(st.session_state["keep_inspect_step"]) + by
    st.session_state["keep_inspect_step"] = steps[max(0, min(index, len(steps) - 1))]


def toggle_play() -> None:
    if not st.session_state["inspect_playing"] and \
            st.session_state["keep_inspect_step"] == steps[-1]:
        st.session_state["keep_inspect_step"] = steps[0]  # Play at the end starts over
    st.session_state["inspect_playing"] = not st.session_state["inspect_playing"]


player = st.container(horizontal=True, gap="small")  # one row on a phone too (columns stack)
player.button("◀ Previous", key="inspect_previous", on_click=move, args=(-1,), disabled=playing)
player.button("Next ▶", key="inspect_next", on_click=move, args=(1,), disabled=playing)
player.button("Pause" if playing else "Play", key="inspect_play",
            icon=":material/pause:" if playing else ":material/slideshow:", on_click=toggle_play,
            help="Animate from this step on; the slider follows.")


def short(value: float) -> str:
    """A number that fits a metric tile: 2 decimals, or 3 significant digits when large."""
    return f"{value:.2f}" if abs(value) < 100 else f"{value:.3g}"


def tiles(step: int, layer: int) -> None:
    """The selected layer's numbers at `step`, as tiles that wrap on a narrow screen."""
    row = stats[(stats["step"] == step) & (stats["layer"] == layer)].set_index("point")
    out, into = row.loc["post_norm"], row.loc["pre_norm"]
    act = row.loc["activation"]
    box = st.container(horizontal=True, gap="small")
    for name in ("mean", "std"):
        box.metric(name, short(out[name]), f"{out[name] - into[name]:+.2g}", delta_color="off",
                   width="content", help="Of the norm's output; below it, the change from the "
                                         "norm's input.")
    for name in ("p15", "p50", "p85"):
        box.metric(name, short(out[name]), width="content",
                   help=f"{name[1:]}th percentile of the output.")
    helps = {"saturated": "tanh/sigmoid outputs within 3% of their limits",
             "dead": "ReLU units that output 0 for every example in the batch"}
    for name in ("saturated", "dead"):
        value = act[name]
        box.metric(name, "n/a" if math.isnan(value) else f"{value:.0%}", width="content",
                   help=helps[name])
    outside = max(out["out_of_range"], into["out_of_range"])
    # always one line here, so that the charts below hold still while Play steps through
    st.caption(f"{outside:.0%} of the values are outside the range this layer's histogram was "
               "given at its first snapshot; they are counted in the edge bins.")


@st.fragment(run_every=0.5 if playing else None)
def snapshot() -> None:
    """Layer, step, numbers and both charts; while playing, one step further each tick."""
    if st.session_state["inspect_playing"]:
        at = steps.index(st.session_state["keep_inspect_step"])
        if at + 1 < len(steps):  # before the slider exists this run: it shows the new step
            st.session_state["keep_inspect_step"] = steps[at + 1]
    layer_col, step_col = st.columns([1, 3])
    layer = layer_col.selectbox("Layer", layers, key="keep_inspect_layer",
                                format_func=lambda i: f"layer {i}" + (" (first)" if i == 0
                                                                      else ""))
    step = step_col.select_slider(
        "Training step", steps, key="keep_inspect_step",
        help="Values measured in the forward pass of this step, made with the weights after "
             "this many updates: step 0 is the initial network, the last is the step before "
             "the end.")
    tiles(step, layer)
    ridges = plots.ridgeline(histograms, step, run.config.norm)
    live_charts({"overlay": Slot(plots.histogram_overlay(histograms, layer, step,
                                                         run.config.norm), height=400),
                 "ridgeline": Slot(ridges, height=int(ridges.layout.height))},
                key="inspect_charts", stamp=step)
    st.caption("Top: the selected layer's values going into the norm (blue) and coming out of "
               "it. Bottom: every layer at the same step, first layer on top; look for ridges "
               "that widen, shift or pile up at zero as you go down.")
    if st.session_state["inspect_playing"] and step == steps[-1]:
        st.session_state["inspect_playing"] = False  # the end: the button says Play again
        st.rerun()


snapshot()

st.header("Try this")
st.markdown(
    "- Train a 20-layer sigmoid network with No norm in the live lab, come back and press Play "
    "on the last layer: where do its values end up?\n"
    "- Compare the first and last snapshot of a BatchNorm run: the norm's input moves, its "
    "output hardly does.\n"
    "- With ReLU and init gain 0.5, watch the dead fraction as you go deeper."
)
