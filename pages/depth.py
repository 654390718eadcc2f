"""Depth: vanishing and exploding signals, with and without a norm, at a bad and a good init."""

import streamlit as st

import appkit
from normlab.lessons import depth
from normlab.lessons.depth import DEPTH_QUICK
from normlab.plots import lessons as lp
from normlab.plots import norm_label
from normlab.registry import NORMS

CONTROLS = {
    "norms": appkit.Control("depth_norms", ["none", "batch", "layer", "rms"],
                            choices=tuple(NORMS)),
    "depths": appkit.Control("depth_depths", [2, 8, 16], choices=(1, 2, 4, 8, 16, 32)),
    "gains": appkit.Control("depth_gains", [0.5, 1.0, 2.0], choices=(0.25, 0.5, 1.0, 2.0, 4.0)),
    "run_steps": appkit.Control("depth_steps", 40, lo=10, hi=200),
    "act": appkit.Control("depth_activation", "relu", choices=("relu", "tanh", "sigmoid",
                                                               "gelu")),
}
appkit.page_setup(__file__, controls=CONTROLS)
st.title("Depth")
st.write(
    "Every layer multiplies the signal by its weights. If the initial weights are a little too "
    "small (init gain below 1) the signal shrinks at every layer and vanishes; a little too "
    "large and it explodes, and the gradients do the same on the way back. A norm rescales the "
    "signal at every layer, so depth stops compounding the error. It is also said that layer "
    "norm stabilises very deep networks less well than batch norm (Ba et al., 2016, found batch "
    "norm ahead in ConvNets): the Claim checker tests that on a 16-layer MLP, each norm at its "
    "own best learning rate and over five seeds; here one seed per point shows the mechanism."
)

with st.form("depth_form"):
    left, middle, right = st.columns([2, 1, 1])
    norms = left.multiselect("Norms", CONTROLS["norms"].choices, format_func=norm_label,
                             key="depth_norms")
    depths = middle.multiselect("Depths (hidden layers)", CONTROLS["depths"].choices,
                                key="depth_depths")
    gains = right.multiselect("Init gains", CONTROLS["gains"].choices, key="depth_gains",
                              help="Multiplies every initial weight of the (kaiming) init: 1 is "
                              "the good one.")
    steps = left.slider("Training steps per run", *CONTROLS["run_steps"].bounds, step=10,
                        key="depth_steps")
    activation = middle.selectbox("Activation", CONTROLS["act"].choices, key="depth_activation")
    st.form_submit_button("Run the sweep", type="primary", icon=":material/play_arrow:",
                          key="depth_run")

if not (norms and depths and gains):
    st.info("Pick at least one norm, one depth and one init gain, then run the sweep.")
    st.stop()
runs = len(norms) * len(depths) * len(gains)
result = appkit.sweep(
    "depth_sweep", key="depth", label=f"Training {runs} networks", norms=tuple(norms),
    depths=tuple(sorted(depths)), gains=tuple(sorted(gains)),
    base=DEPTH_QUICK.replace(steps=steps, activation=activation))

if result is not None and len(result.summary):
    summary, layers = result.summary, result.layers
    appkit.chart(st, lp.depth_final_loss(summary), key="depth_loss",
                 caption=depth.final_loss_sentence(summary, steps))
    appkit.chart(st, lp.depth_first_gradient(summary), key="depth_grad", caption=(
        "The gradient that reaches the first layer before any training, on a log scale: every "
        "decade down is 10× less signal. Without a norm, does it shrink or grow with depth at "
        "each gain, and does a norm keep it within a small range?"))
    deepest = int(layers["depth"].max()) if len(layers) else max(depths)
    appkit.chart(st, lp.activation_std_by_layer(layers, deepest), key="depth_std", caption=(
        "The std of each layer's linear output at initialisation, from the input (left) to the "
        "deepest layer: a straight slope on this log scale is geometric decay or growth."))
    failed = summary[summary["status"] != "finished"]
    if len(failed):
        st.warning("Diverged: " + "; ".join(
            f"{norm_label(r.norm)} at depth {r.depth}, gain {r.gain:g}"
            for r in failed.itertuples()) + ". The loss became infinite or NaN.",
            icon=":material/error:")
    with st.expander("The numbers"):
        st.dataframe(summary.drop(columns=["message"]), hide_index=True, width="stretch")

st.subheader("Try this")
st.markdown(
    "- Add depth **32** with gain **2**: how large is the first layer's gradient without a "
    "norm?\n"
    "- Switch the activation to **sigmoid**: its slope is at most ¼, so even gain 1 vanishes.\n"
    "- Raise the steps to 150: does layer norm catch up with batch norm at depth 16?"
)
st.page_link("pages/live_lab.py", label="Live lab: watch one deep network's layers train",
             icon=":material/science:")
st.page_link("pages/inspector.py", label="Layer inspector: histograms per layer",
             icon=":material/layers:")
st.page_link("pages/claims.py", label="Claim checker: is layer norm less stable than batch "
             "norm when deep? (five seeds, each norm at its best learning rate)",
             icon=":material/fact_check:")
