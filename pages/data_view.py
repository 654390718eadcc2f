"""See the data: the decision regions two norms' networks draw as they train, or the digits
they get wrong."""

import streamlit as st

import appkit
from appkit.live_chart import LiveCharts, Slot
from normlab.lessons import data_view
from normlab.plots import beyond, norm_label
from normlab.registry import NORMS

DATASETS = (*data_view.TOY_DATASETS, "digits")
CONTROLS = {
    "data": appkit.Control("dv_dataset", DATASETS[0], choices=DATASETS),
    "norm_a": appkit.Control("dv_norm_a", "none", choices=tuple(NORMS)),
    "norm_b": appkit.Control("dv_norm_b", "batch", choices=tuple(NORMS)),
    "run_steps": appkit.Control("dv_steps", data_view.SNAPSHOTS[-1], choices=(100, 200, 400, 800)),
    "rate": appkit.Control("dv_lr", data_view.DATA_VIEW_QUICK.lr,
                           choices=(0.01, 0.02, 0.05, 0.1, 0.2, 0.5)),
}
appkit.page_setup(__file__, controls=CONTROLS)
st.title("See the data")
st.write(
    "A loss curve says how well a network does; a picture says what it has learned. Ask the "
    "network for its class at every point of the plane: the coloured regions are its "
    "decision, the dots the training data, as in TensorFlow Playground. Two norms train from "
    "the same seed (same data, initial weights and batches), their regions redrawn as they "
    "learn; on the digits, see which validation images each network gets wrong."
)

with st.form("dv_form"):
    dataset_box, first_box, second_box, steps_box, lr_box, run_box = st.columns(
        [1, 1, 1, 1, 1, 1.3], vertical_alignment="bottom")
    dataset = dataset_box.selectbox("Data set", DATASETS, key="dv_dataset")
    first = first_box.selectbox("Norm A", CONTROLS["norm_a"].choices, format_func=norm_label,
                                key="dv_norm_a")
    second = second_box.selectbox("Norm B", CONTROLS["norm_b"].choices, format_func=norm_label,
                                  key="dv_norm_b")
    steps = steps_box.select_slider("Training steps", CONTROLS["run_steps"].choices,
                                    key="dv_steps")
    lr = lr_box.select_slider("Learning rate", CONTROLS["rate"].choices, key="dv_lr")
    run_box.form_submit_button("Train and draw", type="primary", icon=":material/play_arrow:",
                          key="dv_run")

norms = tuple(dict.fromkeys((first, second)))  # the same norm twice is drawn once
if dataset == "digits":
    digits = appkit.sweep("misclassified_digits", key="data_view_digits",
                          label="Training on the digits", norms=norms,
                          base=data_view.DIGITS_QUICK.replace(steps=steps, lr=lr))
    if digits is not None:
        if len(digits):
            appkit.chart(st, beyond.misclassified_digits_chart(digits), key="dv_digits",
                         caption="Each image: true class → predicted class (the network's "
                         "confidence). Are the mistakes ones a person would make too?")
            wrong = digits.drop_duplicates(["norm", "example"]).groupby("norm").size()
            st.caption("Shown: the first " + ", ".join(
                f"{n} wrong for {norm_label(norm)}" for norm, n in wrong.items()) + ".")
        else:
            st.success("Neither network got a validation digit wrong.")
else:
    strip = tuple(sorted({0, steps // 8, steps // 3, steps}))  # before, early, late, last
    # Above the progress bar, so it stays put when the bar goes; the same iframe as the last
    # run's (no st.empty(): the chart would go blank while plotly.js loads again).
    live = LiveCharts("dv_live", toolbar=False)

    def draw(view, stamp: str = "training") -> None:
        """The two networks' regions now, redrawn in place in the one iframe."""
        live.draw({"regions": Slot(beyond.decision_regions_now(
            view.points, view.regions, view.accuracy), height=300, fill=0.78)},
            stamp=f"{int(view.regions['step'].max())}/{stamp}")

    view = appkit.sweep("decision_regions", key="data_view", label="Training two networks",
                        live=draw, norms=norms, snapshots=strip, every=max(steps // 20, 1),
                        base=data_view.DATA_VIEW_QUICK.replace(dataset=dataset, lr=lr))
    if view is not None and len(view.regions):
        draw(view, "final")  # the last frame stays; a replay from the cache draws only this
        last = view.accuracy[view.accuracy["step"] == view.accuracy["step"].max()]
        st.markdown("Validation accuracy at step " + f"{int(last['step'].max())}: " + ", ".join(
            f"{norm_label(r.norm)} {100 * r.val_accuracy:.1f}%" for r in last.itertuples()) + ".")
        shown = view.regions[view.regions["step"].isin(strip)]
        appkit.chart(st, beyond.decision_regions_grid(view.points, shown, view.accuracy),
                     key="dv_regions", caption=(
                         "The snapshots. Rows: norms; columns: steps (step 0 is before "
                         "training). Light colour: the class the network predicts there (eval "
                         "mode); dots: training points in their true class."))

st.subheader("Try this")
st.markdown(
    "- On **spirals**, compare No norm with BatchNorm at step 50: whose regions have begun to "
    "curl?\n"
    "- Pick **LayerNorm** on **circles**: the first layer computes W·x + b, and while the "
    "biases are near 0, layer norm gives the point 2x the same output as x: it cannot see "
    "the radius. How many steps until the inner disc appears?\n"
    "- On **digits**, are the two networks' mistakes the same images?"
)
st.page_link("pages/live_lab.py", label="Live lab: train one network and watch its layers",
             icon=":material/science:")
st.page_link("pages/why_bn.py", label="Why does batch norm help?", icon=":material/psychology:")
