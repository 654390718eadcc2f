"""The learning-rate window: over which learning rates does each norm train, seed after seed?"""

import streamlit as st

import appkit
from normlab.lessons import lr_window
from normlab.plots import beyond, norm_label

GRID = (0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0, 30.0)
CONTROLS = {
    "norms": appkit.Control("lw_norms", list(lr_window.LR_NORMS),
                            choices=tuple(lr_window.LR_NORMS)),
    "lrs": appkit.Control("lw_range", (min(lr_window.LR_GRID), max(lr_window.LR_GRID)),
                          choices=GRID),
    "seeds": appkit.Control("lw_seeds", len(lr_window.LR_SEEDS), lo=2, hi=8),
    "run_steps": appkit.Control("lw_steps", lr_window.LR_QUICK.steps, lo=50, hi=300),
    "layers": appkit.Control("lw_depth", lr_window.LR_QUICK.depth, lo=1, hi=12),
}
appkit.page_setup(__file__, controls=CONTROLS)
st.title("The learning-rate window")
st.write(
    "Too small a learning rate and a network barely moves; too large and the loss blows up. "
    "Between them lies the window of rates that train. Bjorck et al. (2018, *Understanding "
    "Batch Normalization*) argue that this is what batch norm primarily buys: a wider window, "
    "reaching much larger rates, where the network without it diverges. Here each norm trains "
    "over a log-spaced grid of rates, several seeds at each (trained together as one batched "
    "model), and the window is read off where every seed trained."
)

with st.form("lw_form"):
    left, middle, right = st.columns([2, 2, 1])
    norms = left.multiselect("Norms", CONTROLS["norms"].choices, format_func=norm_label,
                             key="lw_norms")
    low, high = middle.select_slider("Learning rates (log grid, half a decade apart)", GRID,
                                     value=CONTROLS["lrs"].default, key="lw_range")
    # (value= makes it a range slider: without it a moved handle reads back as one value)
    seeds = right.slider("Seeds", *CONTROLS["seeds"].bounds, key="lw_seeds")
    steps = left.slider("Training steps", *CONTROLS["run_steps"].bounds, step=50, key="lw_steps")
    depth = middle.slider("Hidden layers", *CONTROLS["layers"].bounds, key="lw_depth")
    st.form_submit_button("Run the sweep", type="primary", icon=":material/play_arrow:",
                          key="lw_run")

if not norms:
    st.info("Pick at least one norm, then run the sweep.")
    st.stop()
lrs = tuple(lr for lr in GRID if low <= lr <= high)
runs = appkit.sweep(
    "lr_sweep", key="lr_window", label=f"Training {len(norms) * len(lrs)} × {seeds} networks",
    norms=tuple(norms), lrs=lrs, seeds=tuple(range(seeds)),
    base=lr_window.LR_QUICK.replace(steps=steps, depth=depth))

if runs is not None and len(runs):
    points, windows = lr_window.lr_points(runs), lr_window.stable_windows(runs)
    done = list(dict.fromkeys(runs["norm"]))
    if "none" in done and len(done) > 1:
        lines = []
        verdicts = {norm: lr_window.verdict_larger_lr(runs, norm) for norm in done
                    if norm != "none"}
        for norm, decision in verdicts.items():
            lines.append(f"- {norm_label(norm)}: **{decision.verdict}**. Largest rate that "
                         f"trained, over no norm's: ×{10 ** decision.effect:.3g} (95% interval "
                         f"×{10 ** decision.low:.3g} to ×{10 ** decision.high:.3g}, {decision.n} "
                         f"seeds). {decision.settle.split(': ', 1)[-1]}")
        overall = {d.verdict for d in verdicts.values()}
        box = (st.success if overall == {"holds"} else
               st.error if overall == {"does not hold"} else st.warning)
        box("**\"Normalization lets you train with larger learning rates\"** (at these "
            "settings)\n" + "\n".join(lines), icon=":material/gavel:")
    elif "none" not in done:
        st.info("Add No norm to judge the claim: it is the baseline each norm is compared to.")
    appkit.chart(st, beyond.lr_window_chart(points), key="lw_chart", caption=(
        "Each point: the mean final validation loss of the seeds that finished, with its 95% "
        "interval. Hollow: some seed diverged or did not train (loss above half of guessing's, "
        f"{lr_window.trained_threshold():.2f} nats); ×: no seed finished. Losses above "
        f"{beyond.LOSS_CAP:g} nats are drawn at {beyond.LOSS_CAP:g}."))
    appkit.chart(st, beyond.windows_chart(windows, lrs), key="lw_windows", caption=(
        "The widest run of neighbouring grid rates at which every seed trained."))
    with st.expander("The numbers"):
        st.dataframe(points, hide_index=True, width="stretch")
        st.dataframe(windows, hide_index=True, width="stretch")

st.subheader("Try this")
st.markdown(
    "- Set **hidden layers** to 1: does no norm still lose its window first?\n"
    "- Push the grid to **30** and lower the **steps** to 50: is the top of the window the "
    "same after fewer steps?\n"
    "- With **2 seeds**, which verdicts become \"not settled\"?"
)
st.page_link("pages/why_bn.py", label="Why does batch norm help? Smoothness along the gradient",
             icon=":material/psychology:")
st.page_link("pages/compare.py", label="Compare norms at one learning rate",
             icon=":material/compare_arrows:")
