"""Batch size: is batch norm robust to it? A miniature of Wu & He (2018), Figure 1."""

import streamlit as st

import appkit
from normlab.lessons import claims
from normlab.plots import lessons as lp
from normlab.plots import norm_label
from normlab.registry import NORMS

claim = claims.CLAIMS_BY_ID["bn_robust_to_batch_size"]
DEFAULTS = dict(norms=("batch", "layer", "rms", "none"), batch_sizes=claim.defaults["batch_sizes"],
                seeds=claims.DEFAULT_SEEDS, examples=2048, steps=256)
CONTROLS = {
    "norms": appkit.Control("bs_norms", list(DEFAULTS["norms"]), choices=tuple(NORMS)),
    "sizes": appkit.Control("bs_sizes", list(DEFAULTS["batch_sizes"]),
                            choices=(1, 2, 4, 8, 16, 32, 64, 128)),
    "seeds": appkit.Control("bs_seeds", len(DEFAULTS["seeds"]), lo=2, hi=10),
    "examples": appkit.Control("bs_examples", DEFAULTS["examples"],
                               choices=(256, 512, 1024, 2048, 4096)),
    "same_steps": appkit.Control("bs_steps", DEFAULTS["steps"], choices=(64, 128, 256, 512)),
}
appkit.page_setup(__file__, controls=CONTROLS)
st.title("Batch size")
st.write(
    "Batch norm standardises each unit with the mean and variance of the current mini-batch. A "
    "small batch gives it noisy statistics, and in eval mode it switches to running averages "
    "that no training batch ever used. Wu & He (2018, *Group Normalization*, Fig. 1) saw "
    "ResNet-50's ImageNet error rise from 23.6% to 34.7% as the batch per GPU shrank from 32 to "
    "2, while group norm stayed near 24%. Here batch norm is judged against the norms without "
    "batch statistics (layer, RMS, none) under **two budgets**: the same number of examples "
    "seen (a smaller batch takes more, noisier steps) and the same number of steps (a smaller "
    "batch sees fewer examples). The verdict below is the Claim checker's: the same function "
    "and, at the defaults, the same runs."
)

with st.form("batch_size_form"):
    left, right = st.columns([3, 2])
    norms = left.multiselect("Norms", CONTROLS["norms"].choices, format_func=norm_label,
                             key="bs_norms")
    batch_sizes = right.multiselect("Batch sizes", CONTROLS["sizes"].choices, key="bs_sizes")
    seeds = left.slider("Seeds per point", *CONTROLS["seeds"].bounds, key="bs_seeds",
                        help="The verdict's 95% interval comes from the seed-to-seed spread; "
                             "all seeds of a point train together as one batched model.")
    examples = right.select_slider("Same examples: training examples seen by every run",
                                   CONTROLS["examples"].choices, key="bs_examples",
                                   help="steps = examples ÷ batch size, at the same learning rate")
    steps = right.select_slider("Same steps: steps taken by every run",
                                CONTROLS["same_steps"].choices, key="bs_steps")
    st.form_submit_button("Run the sweep", type="primary", icon=":material/play_arrow:",
                          key="bs_run")

if not norms or not batch_sizes:
    st.info("Pick at least one norm and one batch size, then run the sweep.")
    st.stop()
chosen = dict(norms=tuple(norms), batch_sizes=tuple(sorted(batch_sizes)),
              seeds=tuple(range(seeds)), examples=examples, steps=steps)
overrides = {name: value for name, value in chosen.items() if value != DEFAULTS[name]}
runs = 2 * len(norms) * len(batch_sizes)
verdict = appkit.sweep("check_claim", key="batch_size", label=f"Training {runs} batches of "
                       f"{seeds} seeds", claim_id=claim.id, **overrides)
frame = None if verdict is None else verdict.outcome_frame

if frame is not None and len(frame):
    text = (f"**\"Batch norm is robust to the batch size\"** — {verdict.verdict}"
            f"{'' if not overrides else ' (at these settings)'}. {verdict.explanation}")
    if "batch" not in norms or not {"layer", "rms"} & set(norms):
        st.caption("Add batch norm and layer or RMS norm (the controls) for the verdict.")
    elif verdict.verdict == claims.NOT_SETTLED:
        st.warning(f"{text} To settle it: {verdict.settle}", icon=":material/help:")
        st.caption(f"Rule: {verdict.threshold}.")
    else:
        st.info(text, icon=":material/gavel:")
        st.caption(f"Rule: {verdict.threshold}.")
    for budget, column in zip(("examples", "steps"), st.columns(2)):
        words = {"examples": f"{examples} examples seen", "steps": f"{steps} steps"}[budget]
        appkit.chart(column, lp.batch_size_curves(frame, budget=budget),
                     key=f"bs_accuracy_{budget}", caption=(
                         f"Each point: the mean over {seeds} seeds of networks trained for "
                         f"{words} (error bars: min to max over the seeds)."))
    appkit.chart(st, lp.train_eval_gap(frame[frame["budget"] == "examples"]), key="bs_gap",
                 caption=(
        "Accuracy on the same validation set in training mode (each batch's own statistics) "
        "minus eval mode (running averages), same examples seen. Only batch norm has two modes. "
        "Below 0: one small batch's statistics are noisier than the running averages; above 0: "
        "the averages lag behind what the network trained with."))
    failed = frame[frame["status"] != "finished"]
    for (norm, status), rows in failed.drop_duplicates(["norm", "status", "batch_size"]) \
            .groupby(["norm", "status"], sort=False):
        sizes = ", ".join(str(b) for b in rows["batch_size"].unique())
        st.warning(f"**{norm_label(norm)} at batch size {sizes}: {status}.** "
                   f"{rows['message'].iloc[0]}", icon=":material/block:")
    with st.expander("The numbers"):
        st.dataframe(frame.drop(columns=["message"]), hide_index=True, width="stretch")
        appkit.csv_download(st, "batch_size_study.csv", frame, "normlab-batch-size.csv",
                            key="bs_csv")

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
    "- Add batch size **4**: is batch norm robust there, not, or is it not settled with five "
    "seeds? Try ten.\n"
    "- Compare the two charts: which budget is harder on the small batches for every norm?\n"
    "- Raise the **examples seen** to 4096: does more training close batch norm's gap at "
    "batch size 2?"
)
st.page_link("pages/bn_train_eval.py", label="Train vs eval: where the running averages come "
             "from, and what happens when they lag", icon=":material/swap_horiz:")
st.page_link("pages/batch_dependence.py", label="Batch dependence: one example, many batch "
             "mates", icon=":material/group:")
st.page_link("pages/presets.py", label="Paper presets: Wu & He, Figure 1",
             icon=":material/menu_book:")
