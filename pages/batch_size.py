"""Batch size: is batch norm robust to it? A miniature of Wu & He (2018), Figure 1."""

import streamlit as st

import appkit
from normlab.lessons import claims
from normlab.plots import lessons as lp
from normlab.plots import norm_label
from normlab.registry import NORMS

appkit.page_setup(__file__)
st.title("Batch size")
st.write(
    "Batch norm standardises each unit with the mean and variance of the current mini-batch. A "
    "small batch gives it noisy statistics, and in eval mode it switches to running averages "
    "that no training batch ever used. Wu & He (2018, *Group Normalization*, Fig. 1) saw "
    "ResNet-50's ImageNet error rise from 23.6% to 34.7% as the batch per GPU shrank from 32 to "
    "2, while group norm stayed near 24%. Here every network sees the **same number of "
    "examples**, so a smaller batch means more, noisier steps; nothing else changes."
)

with st.form("batch_size_form"):
    left, right = st.columns([3, 2])
    norms = left.multiselect("Norms", list(NORMS), default=["batch", "layer", "rms", "group"],
                             format_func=norm_label, key="bs_norms")
    batch_sizes = right.multiselect("Batch sizes", [1, 2, 4, 8, 16, 32, 64, 128],
                                    default=[1, 2, 4, 8, 16], key="bs_sizes")
    seeds = left.slider("Seeds per point", 1, 5, 1, key="bs_seeds",
                        help="More seeds draw error bars (the seed-to-seed spread) and take "
                             "proportionally longer.")
    examples = right.select_slider("Training examples seen by every run",
                                   [256, 512, 1024, 2048, 4096], value=1024, key="bs_examples",
                                   help="steps = examples ÷ batch size, at the same learning rate")
    st.form_submit_button("Run the sweep", type="primary", icon=":material/play_arrow:",
                          key="bs_run")

if not norms or not batch_sizes:
    st.info("Pick at least one norm and one batch size, then run the sweep.")
    st.stop()
runs = len(norms) * len(batch_sizes) * seeds
frame = appkit.sweep(
    "batch_size_sweep", key="batch_size", label=f"Training {runs} networks",
    norms=tuple(norms), batch_sizes=tuple(sorted(batch_sizes)), seeds=tuple(range(seeds)),
    examples=examples)

if frame is not None and len(frame):
    if "batch" in set(frame["norm"]):
        verdict = claims.verdict_bn_robust_to_batch_size(frame)
        st.info(f"**\"Batch norm is robust to the batch size\"** — {verdict.verdict}. "
                f"{verdict.explanation}", icon=":material/gavel:")
    appkit.chart(st, lp.batch_size_curves(frame), key="bs_accuracy", caption=(
        f"Each point is a network trained on {examples} examples (error bars: min to max over "
        "the seeds). A norm that does not care about the batch size draws a flat line; watch "
        "batch norm's left end."))
    appkit.chart(st, lp.train_eval_gap(frame), key="bs_gap", caption=(
        "Accuracy on the same validation set in training mode (each batch's own statistics) "
        "minus eval mode (running averages). Only batch norm has two modes. Below 0: one small "
        "batch's statistics are noisier than the running averages; above 0: the averages lag "
        "behind what the network trained with."))
    failed = frame[frame["status"] != "finished"]
    for (norm, status), rows in failed.groupby(["norm", "status"], sort=False):
        sizes = ", ".join(str(b) for b in rows["batch_size"].unique())
        st.warning(f"**{norm_label(norm)} at batch size {sizes}: {status}.** "
                   f"{rows['message'].iloc[0]}", icon=":material/block:")
    with st.expander("The numbers"):
        st.dataframe(frame.drop(columns=["message"]), hide_index=True, width="stretch")
        st.download_button("batch_size_sweep.csv", data=frame.to_csv(index=False),
                           file_name="normlab-batch-size.csv", mime="text/csv",
                           on_click="ignore", icon=":material/download:")

st.subheader("Why batch size 1 is refused")
st.write(
    "With one example per batch, each unit has one value: its batch mean is that value and its "
    "variance is 0, so batch norm would output 0 for every input and nothing could be learned. "
    "torch raises *Expected more than 1 value per channel when training*; normlab refuses the "
    "run before it starts. Layer, RMS and group norm take their statistics inside each example, "
    "so they train at batch size 1 like at any other."
)

st.subheader("Try this")
st.markdown(
    "- Add **No norm** and **DyT** (no statistics at all): is batch norm at batch size 2 worse "
    "than no norm?\n"
    "- Set **seeds per point** to 3: are the differences at batch 8 and 16 bigger than the "
    "error bars?\n"
    "- Raise the **examples seen** to 4096: does more training close batch norm's gap at "
    "batch size 2?"
)
st.page_link("pages/bn_train_eval.py", label="Train vs eval: where the running averages come "
             "from, and what happens when they lag", icon=":material/swap_horiz:")
st.page_link("pages/batch_dependence.py", label="Batch dependence: one example, many batch "
             "mates", icon=":material/group:")
st.page_link("pages/presets.py", label="Paper presets: Wu & He, Figure 1",
             icon=":material/menu_book:")
