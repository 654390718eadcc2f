"""A tiny transformer: pre-LN vs post-LN, warm-up, and LN vs RMS vs DyT."""

import streamlit as st

import appkit
from appkit.live_chart import LiveCharts, Slot
from normlab.lessons import transformer as lesson
from normlab.plots import transformer as tp
from normlab.registry import norm_label

CONTROLS = {
    "seeds": appkit.Control("tf_seeds", lesson.SEEDS, lo=1, hi=5),
    "run_steps": appkit.Control("tf_steps", lesson.TRANSFORMER_QUICK.steps, lo=20, hi=300),
    "rate": appkit.Control("tf_lr", lesson.TRANSFORMER_QUICK.lr, choices=(0.001, 0.003, 0.01,
                                                                          0.02)),
    "warmup": appkit.Control("tf_warmup", lesson.WARMUP_STEPS, lo=10, hi=150),
    "trained": appkit.Control("tf_started", False),  # a link opens with its results shown
    "race": appkit.Control("tf_norms", ["layer", "rms", "dyt"],
                           choices=("layer", "rms", "dyt", "none")),
    "raced": appkit.Control("tf_raced", False),
}
appkit.page_setup(__file__, controls=CONTROLS)
st.title("A tiny transformer")
st.write(
    "Layer norm and RMS norm matter most in transformers. The original transformer put the "
    "norm **after** each residual sum (post-LN); most models now put it **before** each "
    "sublayer (pre-LN). Xiong et al. (2020) showed that post-LN's gradients near the output "
    "are large at initialisation, so it needs a learning-rate warm-up, and pre-LN does not. "
    f"Here a {lesson.TRANSFORMER_QUICK.depth}-block transformer learns to sort 8 digits: test "
    "that, and race layer norm, RMS norm and DyT (Zhu et al. 2025, no statistics at all) at "
    "equal steps and equal time."
)

st.header("Gradients at initialisation")
gradients = appkit.experiment("gradients_at_init")  # one backward pass: a second, cached
appkit.chart(st, tp.gradient_by_block(gradients), key="tf_grads", caption=(
    lesson.gradient_summary(gradients) + " One batch through the untrained "
    f"{lesson.GRADIENT_QUICK.depth}-block model, no update. Xiong et al. prove that post-LN's "
    "gradient near the output does not shrink with depth, while pre-LN's shrinks as "
    "1/√depth: at a large learning rate post-LN's last "
    "layers take the largest first steps, which a warm-up keeps small."))

st.header("Where the norm sits, and warm-up")
base = lesson.TRANSFORMER_QUICK
with st.form("tf_form"):
    left, middle, right = st.columns(3)
    seeds = left.slider("Seeds", *CONTROLS["seeds"].bounds, key="tf_seeds", help="Each seed: "
                        "new weights, batches and prompts. Two or more give a 95% interval.")
    steps = middle.slider("Training steps per run", *CONTROLS["run_steps"].bounds, step=10,
                          key="tf_steps")
    lr = right.select_slider("Learning rate (Adam)", CONTROLS["rate"].choices, key="tf_lr",
                             help="Post-LN's trouble shows at a large one.")
    warmup = left.slider("Warm-up steps", *CONTROLS["warmup"].bounds, step=10,
                         key="tf_warmup", help="The learning rate rises from 0 over these.")
    submitted = st.form_submit_button("Train the transformers", type="primary",
                                      icon=":material/play_arrow:", key="tf_run")
base = base.replace(steps=steps, lr=lr)
if submitted:
    st.session_state["tf_started"] = True
st.caption(lesson.toy_scale(base, seeds))
if not st.session_state.get("tf_started"):
    st.info(f"Press **Train the transformers**: pre-LN and post-LN, with and without warm-up, "
            f"{seeds} seed{'s' if seeds > 1 else ''} each: {4 * seeds} short runs.",
            icon=":material/arrow_upward:")
    warm = None
else:
    # Drawn as the seeds come in (every setting after its first four runs), in one frame that
    # stays painted from one draw to the next; the caption waits for the whole result.
    curves = LiveCharts("tf_curves", toolbar=False)

    def draw(result, stamp: str = "training") -> None:
        done = result.runs["seed"].nunique()
        so_far = "" if stamp == "final" else f"{done} of {seeds} seeds so far"
        curves.draw({"curves": Slot(tp.warmup_curves(result.curves, so_far), height=360)},
                    stamp=f"{len(result.runs)}/{done}/{stamp}")

    warm = appkit.sweep("warmup_sweep", key="tf_warm", label=f"Training {4 * seeds} "
                        "transformers", live=draw, warmups=(0, min(warmup, steps)),
                        seeds=tuple(range(seeds)), base=base)
if warm is not None and not warm.runs.empty:
    draw(warm, "final")  # a replay from the cache draws only this
    st.caption("Training loss, averaged over seeds. " + lesson.guessing_summary(warm.runs))
    st.info(" ".join(lesson.warmup_verdicts(warm.runs)), icon=":material/insights:")
    appkit.chart(st, tp.warmup_final_loss(warm.intervals), key="tf_final", caption=(
        lesson.warmup_summary(warm.intervals) + " Validation prompts the model never saw; the "
        "bars are 95% t intervals over seeds (a diverged run counts as guessing). "
        + lesson.cost_summary(warm.runs)))
    with st.expander("What the models answer, and the numbers"):
        st.caption("Validation prompts, answered digit by digit by seed 0's model of each "
                   "setting (its own digits fed back, not the true ones).")
        samples = warm.samples.assign(setting=[lesson.setting_label(p, w) for p, w in
                                               zip(warm.samples["position"],
                                                   warm.samples["warmup_steps"])])
        st.dataframe(samples[["setting", "prompt", "expected", "answer", "correct"]],
                     hide_index=True, width="stretch")
        st.dataframe(warm.runs, hide_index=True, width="stretch")

st.header("LN vs RMS vs DyT")
with st.form("tf_race_form"):
    norms = st.multiselect("Norms in the race (pre-LN, the seeds, steps and learning rate "
                           "above)", CONTROLS["race"].choices, format_func=norm_label,
                           key="tf_norms")
    raced = st.form_submit_button("Race the norms", icon=":material/timer:", key="tf_race_run")
if raced:
    st.session_state["tf_raced"] = True
race = None
if not st.session_state.get("tf_raced") or not norms:
    st.info(f"Press **Race the norms**: each norm for {steps} steps, then for the CPU seconds "
            f"layer norm needed: {2 * seeds * len(norms)} short runs.", icon=":material/timer:")
else:
    bars = LiveCharts("tf_race", toolbar=False)  # drawn after every run, as the curves are

    def draw_race(result, stamp: str = "training") -> None:
        so_far = "" if stamp == "final" else \
            f"{len(result.runs)} of {2 * seeds * len(norms)} runs so far"
        bars.draw({"race": Slot(tp.race_final_loss(result.intervals, so_far), height=380)},
                  stamp=f"{len(result.runs)}/{stamp}")

    race = appkit.sweep("norm_race", key="tf_norm_race", label=f"Racing {len(norms)} norms",
                        live=draw_race, norms=tuple(norms), seeds=tuple(range(seeds)),
                        base=base)
if race is not None and not race.intervals.empty:
    draw_race(race, "final")
    st.caption("Equal time gives every norm the thread CPU seconds layer norm needed for the "
               "steps above (other jobs on the machine do not count): a cheaper norm gets "
               "more steps in.")
    st.info(lesson.race_summary(race.intervals), icon=":material/timer:")
    with st.expander("The numbers"):
        st.dataframe(race.runs, hide_index=True, width="stretch")

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
