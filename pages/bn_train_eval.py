"""Train vs eval: batch norm's running statistics, their bias and their lag."""

import pandas as pd
import streamlit as st

import appkit
from normlab.lessons.batch_size import BATCH_SIZE_QUICK
from normlab.lessons.train_eval import momentum_label
from normlab.plots import lessons as lp

MOMENTUMS = {momentum_label(m): m for m in (0.001, 0.01, 0.1, 0.5, None)}

CONTROLS = {
    "momentums": appkit.Control("te_momentums", ["0.01", "0.1", "0.5", "None (cumulative)"],
                                choices=tuple(MOMENTUMS)),
    "batch": appkit.Control("te_batch_size", 32, choices=(2, 4, 8, 16, 32, 64, 128)),
    "run_steps": appkit.Control("te_steps", 300, lo=50, hi=1000),
    "shift": appkit.Control("te_shift", 0.0, lo=-6.0, hi=6.0),
    "drift": appkit.Control("te_drift", False),
}
appkit.page_setup(__file__, controls=CONTROLS)
st.title("Batch norm: train vs eval")
st.write(
    "While training, batch norm uses each batch's own mean and variance; at evaluation there "
    "may be one example, so it uses `running_mean` and `running_var`, averages it kept along "
    "the way: `running = (1 − momentum) · running + momentum · batch`. Ioffe & Szegedy (2015) "
    "use the unbiased variance for inference. Below: how well those averages track the truth, "
    "why the stored variance differs from the one used in training, and what a lagging "
    "average costs in accuracy."
)

left, middle, right = st.columns([3, 2, 2])
chosen = left.multiselect("BN momentum (weight of each new batch)", list(MOMENTUMS),
                          key="te_momentums",
                          help="torch's default is 0.1; None keeps a cumulative average.")
batch_size = middle.select_slider("Batch size", CONTROLS["batch"].choices, key="te_batch_size")
steps = middle.slider("Steps", *CONTROLS["run_steps"].bounds, step=50, key="te_steps")
shift = right.slider("Shift of the true mean at the halfway step", *CONTROLS["shift"].bounds,
                     step=0.5,
                     key="te_shift", help="Like a data stream whose distribution changes.")
drift = right.checkbox("Drift gradually instead", key="te_drift",
                      help="The mean moves linearly over the second half.")
if not chosen:
    st.info("Pick at least one momentum.")
    st.stop()
momentums = tuple(MOMENTUMS[label] for label in chosen)

st.header("1. Running averages vs the true statistics")
trace = appkit.experiment("running_stats_trace", momentums=momentums, steps=steps,
                          batch_size=batch_size, shift=shift, drift=drift)
mean_col, var_col = st.columns(2)
appkit.chart(mean_col, lp.running_stat_traces(trace, "mean"), key="te_mean", caption=(
    "The data's true mean is 2 (dashed). Buffers start at 0: a large momentum catches up "
    "fast but jitters with every batch; a small one is smooth but slow; None averages all "
    "batches equally and never forgets."))
appkit.chart(var_col, lp.running_stat_traces(trace, "var"), key="te_var", caption=(
    "The true variance is 9; buffers start at 1. Smaller batches scatter the grey dots more, "
    "and the momentum decides how much of that scatter reaches the buffer."))

st.header("2. The biased and the unbiased variance")
bias = appkit.experiment("biased_vs_unbiased")
small = bias[(bias["batch_size"] == 2) & (bias["estimator"] == "biased")]["ratio"].iloc[0]
appkit.chart(st, lp.variance_bias(bias), key="te_bias", caption=(
    "Batch norm divides by n to normalise the batch (biased: on average (n−1)/n of the true "
    "variance) but stores the estimate divided by n−1 in running_var (unbiased). Dots: measured "
    "over 4000 batches; dashed: theory."))
st.write(f"At batch size 2 the variance used in training averaged **{small:.2f}** of the true "
         "variance (theory 0.5): eval mode, which uses the unbiased estimate, scales every unit "
         "differently from training mode, most of all for small batches.")

st.header("3. When the running averages lag")
lag = pd.concat([
    appkit.experiment("batch_size_sweep", norms=("batch",), batch_sizes=(batch_size,),
                      base=BATCH_SIZE_QUICK.replace(bn_momentum=momentum),
                      examples=2048).assign(momentum=momentum_label(momentum))
    for momentum in momentums], ignore_index=True)
finished = lag[lag["status"] == "finished"]
appkit.chart(st, lp.eval_vs_train_mode(finished), key="te_lag", caption=(
    f"A batch-norm network trained for {int(lag['steps'].iloc[0])} steps at batch size "
    f"{batch_size}, evaluated on the same validation set twice. Train mode uses each batch's "
    "statistics, eval mode the running averages: a small momentum has not caught up yet."))
worst = finished.assign(gap=finished["train_mode_val_accuracy"] - finished["val_accuracy"])
if len(worst):
    row = worst.loc[worst["gap"].idxmax()]
    st.write(f"Largest gap: momentum **{row['momentum']}**, eval mode "
             f"**{row['val_accuracy']:.1%}** vs train mode "
             f"**{row['train_mode_val_accuracy']:.1%}**. The weights are the same; only the "
             "statistics differ.")

st.subheader("Try this")
st.markdown(
    "- Set the **shift** to 4: which momentum follows the new mean within 50 steps, and "
    "which never does?\n"
    "- Add momentum **0.001** and look at part 3: the network is fine, its eval mode is not.\n"
    "- Set the **batch size** to 2: the gap in part 3 now comes from noisy batch statistics, "
    "whatever the momentum."
)
st.page_link("pages/batch_size.py", label="Batch size: the train/eval gap across batch sizes",
             icon=":material/straighten:")
st.page_link("pages/concepts.py", label="Concepts: a worked example of eval mode",
             icon=":material/functions:")
