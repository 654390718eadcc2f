"""Compare: the same network, seed and batches, trained with each norm."""

import dataclasses

import pandas as pd
import streamlit as st

import appkit
from normlab import plots
from normlab.config import ConfigError
from normlab.defaults import COMPARED_NORMS
from normlab.lessons import convergence
from normlab.registry import NORMS

NORMS_SHOWN = appkit.Control("keep_compare_norms", list(COMPARED_NORMS), choices=tuple(NORMS))
appkit.page_setup(__file__, controls={"norms": NORMS_SHOWN})
st.title("Compare norms")
st.write(
    "Each norm trains the same network from the **same initial weights on the same batches** "
    "(one seed decides both), so any difference you see comes from the norm alone. Loss is "
    "plotted against optimizer steps and against wall-clock time: a norm that needs fewer steps "
    "can still lose if each step costs more."
)

cfg = appkit.sidebar(norm=False)
chosen = st.multiselect("Norms", NORMS_SHOWN.choices, key=NORMS_SHOWN.key,  # precompute: defaults
                        format_func=plots.norm_label)
configs = {norm: dataclasses.replace(cfg, norm=norm) for norm in chosen}
store = appkit.run_store()
ready = all(store.get(c, clean=True) is not None for c in configs.values())
run_all = st.button("Train all", key="compare_train", type="primary", icon=":material/play_arrow:",
                    help="Runs that this server already trained are replayed at once.")

runs, problems = {}, []
if (run_all or ready or appkit.opened_by_link()) and configs:
    if not (run_all or ready):
        st.info(f"Opened from a link: training its {len(configs)} runs now (they are kept for "
                "everyone, so the next visitor sees them at once).", icon=":material/link:")
    progress = st.progress(0.0)
    for i, (norm, norm_cfg) in enumerate(configs.items()):
        label = f"{plots.norm_label(norm)} ({i + 1} of {len(configs)})"

        def show(run, i=i, label=label):
            progress.progress((i + run.step / run.config.steps) / len(configs), text=label)

        try:
            runs[norm] = appkit.get_or_train(norm_cfg, on_snapshot=show, clean=True)[0]
        except ConfigError as error:
            problems.append(f"**{plots.norm_label(norm)}** cannot train here: {error}")
    progress.empty()
    st.session_state["compare_runs"] = runs
elif st.session_state.get("compare_runs"):
    runs = st.session_state["compare_runs"]
    shown = next(iter(runs.values())).config
    if dataclasses.replace(shown, norm=cfg.norm) != cfg or set(runs) != set(chosen):
        st.info("These charts show your last comparison; the settings have changed since. "
                "Press **Train all** to compare the new ones.")
else:
    st.info("Press **Train all** to train every chosen norm (a few seconds at the defaults).",
            icon=":material/arrow_back:")

for problem in problems:
    st.error(problem, icon=":material/block:")
if runs:
    st.success(convergence.convergence_summary(runs), icon=":material/flag:")
    metrics = pd.concat([appkit.tagged(r.metrics, n) for n, r in runs.items()])
    gradients = pd.concat([appkit.tagged(r.gradients, n) for n, r in runs.items()])
    by_step = plots.loss_curves(metrics, x="step", splits=("val",))
    by_time = plots.loss_curves(metrics, x="wall_time", splits=("val",))
    steps_col, time_col = st.columns(2)
    appkit.chart(steps_col, by_step, key="compare_steps", caption="Validation loss per "
                 "optimizer step: the curve that drops first needs the fewest updates.")
    appkit.chart(time_col, by_time, key="compare_time", caption="The same curves against "
                 "seconds of training, on one CPU thread of a shared server: expect some noise.")
    accuracy_col, depth_col = st.columns(2)
    appkit.chart(accuracy_col, plots.accuracy_curves(metrics), key="compare_accuracy",
                 caption="Held-out accuracy per step; a flat line at 1/classes (10% for "
                         "the digits) is guessing.")
    appkit.chart(depth_col, plots.gradient_by_depth(gradients), key="compare_depth",
                 caption="A flat line: every layer gets gradients of similar size; a slope: they "
                         "vanish or explode on the way back to the first layer.")
    table = pd.DataFrame({plots.norm_label(n): r.summary() for n, r in runs.items()}).T
    table["final_val_accuracy"] = 100 * table["final_val_accuracy"].astype(float)
    st.dataframe(table[["status", "steps_run", "final_val_accuracy", "final_val_loss",
                        "wall_time", "num_params"]].rename(columns={
                            "steps_run": "steps", "final_val_accuracy": "val accuracy (%)",
                            "final_val_loss": "val loss (nats)", "wall_time": "wall time (s)",
                            "num_params": "parameters"}), width="stretch")
    appkit.csv_download(st, "metrics.csv (all norms)", metrics, "normlab-compare-metrics.csv",
                        key="compare_csv")

st.header("Try this")
st.markdown(
    "- Set **batch size** to 4: BatchNorm's statistics now come from four examples. Which norm "
    "suffers?\n"
    "- Set **depth** to 30 with sigmoid activations: which norms still learn?\n"
    "- Switch the **model** to cnn: on images BatchNorm and LayerNorm really differ."
)
