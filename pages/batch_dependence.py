"""Batch dependence: one example, many different batch mates: whose output moves?"""

import streamlit as st

import appkit
from normlab.lessons import claims
from normlab.plots import lessons as lp
from normlab.plots import norm_label
from normlab.registry import NORMS

NORMS_SHOWN = appkit.Control("bd_norms", ["batch", "layer", "rms", "group", "dyt"],
                             choices=tuple(NORMS))
BATCH = appkit.Control("bd_batch_size", 8, lo=2, hi=64)
TRIALS = appkit.Control("bd_trials", 20, lo=2, hi=50)
SEED = appkit.Control("bd_seed", 0, lo=0, hi=10_000)
appkit.page_setup(__file__, controls={"norms": NORMS_SHOWN, "batch": BATCH, "trials": TRIALS,
                                      "data_seed": SEED})
st.title("Batch dependence")
st.write(
    "In training mode, batch norm standardises each unit with statistics of the **whole batch**, "
    "so what it outputs for one example depends on which other examples share its batch "
    "(Ioffe & Szegedy, 2015, call this a regulariser). Ba, Kiros & Hinton (2016, *Layer "
    "Normalization*) take the statistics over one example's own units instead: its output "
    "should not care about its batch mates. RMS and group norm do the same; DyT (Zhu et al., "
    "2025) has no statistics at all (it matched layer norm in Transformers, but Zhu et al. "
    "found it struggles to replace batch norm in ResNets). Here one fixed example goes "
    "through a fresh layer of each norm inside many random batches."
)

left, middle, right = st.columns([3, 1, 1])
norms = left.multiselect("Norms", NORMS_SHOWN.choices, format_func=norm_label,
                         key=NORMS_SHOWN.key)
batch_size = middle.slider("Batch size", *BATCH.bounds, key=BATCH.key,
                           help="The example plus batch size − 1 random mates.")
trials = right.slider("Batches tried", *TRIALS.bounds, key=TRIALS.key)
seed = right.number_input("Seed", *SEED.bounds, key=SEED.key)

if not norms:
    st.info("Pick at least one norm.")
    st.stop()
result = appkit.experiment("batch_dependence", norms=tuple(norms), batch_size=batch_size,
                           trials=trials, seed=int(seed))

if "layer" in norms:
    verdict = claims.verdict_ln_independent_of_batch_mates(result.summary)
    st.info(f"**\"Layer norm's output for an example does not depend on its batch mates\"** — "
            f"{verdict.verdict}. {verdict.explanation}", icon=":material/gavel:")
appkit.chart(st, lp.batch_dependence_boxes(result.outputs), key="bd_boxes", caption=(
    f"Each box holds one unit's output for the same example in {trials} different batches. "
    "A tall box: the batch mates moved it. A flat line: they made no difference."))
spread_col, text_col = st.columns([3, 2])
appkit.chart(spread_col, lp.batch_dependence_spread(result.summary), key="bd_spread",
             caption="The tallest box of each norm, as one number: exactly 0 means no "
                     "dependence at all.")
with text_col:
    st.markdown(
        "**Why it matters**\n\n"
        "- A batch-norm network predicts differently for the same image in different batches "
        "while training; at evaluation it must switch to running averages (see *Train vs "
        "eval*).\n"
        "- With small batches the mates change more from batch to batch, so the noise grows: "
        "try a batch size of 2, then 64.\n"
        "- Layer, RMS and group norm give one answer per example, in training and at "
        "evaluation alike, whatever the batch."
    )

st.subheader("Try this")
st.markdown(
    "- Set the **batch size** to 64: batch norm's boxes shrink (big batches have steadier "
    "statistics) but never reach zero.\n"
    "- Add **No norm**: its output is the raw input, the same every time, like layer norm's.\n"
    "- Compare **group norm** with layer norm: both per example, so both flat."
)
st.page_link("pages/batch_size.py", label="Batch size: what the noise does to training",
             icon=":material/straighten:")
st.page_link("pages/bn_train_eval.py", label="Train vs eval: batch norm's two modes",
             icon=":material/swap_horiz:")
st.page_link("pages/claims.py", label="Claim checker", icon=":material/fact_check:")
