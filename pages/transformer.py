"""A tiny transformer: pre-LN vs post-LN, warm-up, and LN vs RMS vs DyT."""

import streamlit as st

import appkit
from normlab.lessons import transformer as lesson
from normlab.plots import transformer as tp
from normlab.registry import norm_label

appkit.page_setup(__file__)
st.title("A tiny transformer")
st.write(
    "Layer norm and RMS norm matter most in transformers. The original transformer put the "
    "norm **after** each residual sum (post-LN); most models now put it **before** each "
    "sublayer (pre-LN). Xiong et al. (2020) showed that post-LN's gradients near the output "
    "are large at initialisation, so it needs a learning-rate warm-up, and pre-LN does not. "
    "Here a 4-block transformer learns to sort 8 digits: test that, and race layer norm, RMS "
    "norm and DyT (Zhu et al. 2025, no statistics at all) at equal steps and equal time."
)

st.header("Gradients at initialisation")
gradients = appkit.experiment("gradients_at_init")  # one backward pass: a second, cached
appkit.chart(st, tp.gradient_by_block(gradients), key="tf_grads", caption=(
    lesson.gradient_summary(gradients) + " One batch through the untrained 6-block model, no "
    "update. Xiong et al. prove that post-LN's gradient near the output does not shrink with "
    "depth, while pre-LN's shrinks as 1/√depth: at a large learning rate post-LN's last "
    "layers take the largest first steps, which a warm-up keeps small."))

st.header("Where the norm sits, and warm-up")
with st.form("tf_form"):
    left, middle, right = st.columns(3)
    seeds = left.slider("Seeds", 1, 5, 2, key="tf_seeds", help="Each seed: new weights, "
                        "batches and prompts. Two or more give a 95% interval.")
    steps = middle.slider("Training steps per run", 20, 300, 100, step=10, key="tf_steps")
    lr = right.select_slider("Learning rate (Adam)", [0.001, 0.003, 0.01, 0.02], value=0.01,
                             key="tf_lr", help="Post-LN's trouble shows at a large one.")
    warmup = left.slider("Warm-up steps", 10, 150, lesson.WARMUP_STEPS, step=10,
                         key="tf_warmup", help="The learning rate rises from 0 over these.")
    norms = middle.multiselect("Norms in the race", ["layer", "rms", "dyt", "none"],
                               default=["layer", "rms", "dyt"], format_func=norm_label,
                               key="tf_norms")
    submitted = st.form_submit_button("Train the transformers", type="primary",
                                      icon=":material/play_arrow:", key="tf_run")
runs = seeds * (4 + 2 * len(norms))
if submitted:
    st.session_state["tf_started"] = True
if not st.session_state.get("tf_started") or not norms:
    st.info(f"Press **Train the transformers**: {runs} short runs, about "
            f"{2 * runs} s on one CPU core.", icon=":material/arrow_upward:")
    st.stop()

base = lesson.TRANSFORMER_QUICK.replace(steps=steps, lr=lr)
result = appkit.sweep("transformer_lesson", key="transformer", label=f"Training {runs} "
                      "transformers", seeds=tuple(range(seeds)), norms=tuple(norms), base=base,
                      warmup_steps=min(warmup, steps))
if result is None or result.warmup_runs.empty:
    st.stop()

st.info(lesson.warmup_summary(result.warmup_intervals), icon=":material/insights:")
appkit.chart(st, tp.warmup_curves(result.warmup_curves), key="tf_curves", caption=(
    "Training loss, averaged over seeds. A flat line at 2.3 nats (ln 10) is guessing each "
    "digit: post-LN without warm-up often stays there at this learning rate."))
appkit.chart(st, tp.warmup_final_loss(result.warmup_intervals), key="tf_final", caption=(
    "Final loss on validation prompts the model never saw; the bars are 95% t intervals over "
    "seeds (a diverged run counts as guessing)."))

st.subheader("What the models answer")
st.caption("Validation prompts, answered digit by digit by seed 0's model of each setting (its "
           "own digits fed back, not the true ones).")
samples = result.samples.assign(setting=[lesson.setting_label(p, w) for p, w in
                                         zip(result.samples["position"],
                                             result.samples["warmup_steps"])])
st.dataframe(samples[["setting", "prompt", "expected", "answer", "correct"]],
             hide_index=True, width="stretch")

st.header("LN vs RMS vs DyT")
if result.race_intervals.empty:
    st.info("Stopped before the race.")
else:
    st.info(lesson.race_summary(result.race_intervals), icon=":material/timer:")
    appkit.chart(st, tp.race_final_loss(result.race_intervals), key="tf_race", caption=(
        "Pre-LN, same settings. Equal time gives every norm the seconds layer norm needed for "
        "the steps above: a cheaper norm gets more steps in. Times come from a shared CPU."))
st.warning(lesson.TOY_SCALE, icon=":material/science:")
with st.expander("The numbers"):
    st.dataframe(result.warmup_runs, hide_index=True, width="stretch")
    st.dataframe(result.race_runs, hide_index=True, width="stretch")

st.subheader("Try this")
st.markdown(
    "- Lower the **learning rate** to 0.003: does post-LN still need its warm-up?\n"
    "- Set **warm-up steps** to 10: is a short warm-up enough?\n"
    "- Add **No norm** to the race: a transformer without any norm, or DyT, which has no "
    "statistics either.\n"
    "- In the live lab, pick model **transformer** and watch each block's norm input grow "
    "with depth in pre-LN (the residual stream is never normalised)."
)
st.page_link("pages/live_lab.py", label="Live lab: train one transformer and watch its blocks",
             icon=":material/science:")
st.page_link("pages/speed.py", label="Speed: is RMS norm cheaper than layer norm?",
             icon=":material/timer:")
