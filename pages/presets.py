"""Paper presets: one-click miniatures of three figures from the normalization papers."""

import streamlit as st

import appkit
from normlab import plots
from normlab.lessons import presets
from normlab.plots import lessons as lp


def draw(name: str, frames: dict) -> None:
    if name == "ioffe_szegedy_fig1":
        accuracy_col, bands_col = st.columns(2)
        curves = presets.mean_over_seeds(frames["metrics"], ["norm"])
        appkit.chart(accuracy_col, plots.accuracy_curves(curves), key="ioffe_acc",
                     caption="Fig 1a: validation accuracy by step, with and without BN "
                     "(mean over seeds).")
        appkit.chart(bands_col, lp.percentile_bands_by_norm(presets.first_seed(
            frames["percentiles"])), key="ioffe_bands", caption="Fig 1b, c: one unit of the "
            "last hidden layer (seed 0), its sigmoid input on the validation digits. Does its "
            "band drift without BN and stay put with it?")
        st.caption(appkit.WHY_BN_HELPS_CAVEAT)
    elif name == "ba_fig6":
        accuracy_col, loss_col = st.columns(2)
        curves = presets.mean_over_seeds(frames["metrics"], ["norm", "batch_size"])
        appkit.chart(accuracy_col, lp.curves_by_batch_size(curves, x="examples"), key="ba_acc",
                     caption="Solid: batch 128; dotted: batch 4; the same examples seen "
                     "(x axis). Colour: the norm. Mean over seeds.")
        appkit.chart(loss_col, lp.curves_by_batch_size(curves, "val_loss", x="examples"),
                     key="ba_loss", caption="The same runs' validation loss: which norm's "
                     "dotted line stays close to its solid one?")
    else:
        appkit.chart(st, lp.batch_size_curves(frames["errors"], "val_error"), key="wu_he_err",
                     caption="Fig 1 in small: error against batch size, lower is better; "
                     "points are seed means, bars span the seeds. Does group norm's line stay "
                     "flat where batch norm's rises?")


RUN = appkit.Control("presets_run", [], choices=tuple(presets.PRESETS))  # a link can run them
appkit.page_setup(__file__, controls={"run": RUN})
st.title("Paper presets")
st.write(
    "Three figures from the papers behind the norms, each rerun in miniature with one click: "
    "the paper's setup where it fits, on a smaller dataset (8x8 digits) with a smaller network "
    "and well under a minute of CPU instead of days of GPU. Each card says what the paper "
    "found, how we rerun it and what differs, and, computed from the run over several seeds "
    "(with a 95% interval), what this run shows."
)
for name, preset in presets.PRESETS.items():
    with st.container(border=True):
        st.subheader(f"{preset.paper}: {preset.figure}")
        st.markdown(f"**The paper found:** {preset.paper_says}")
        st.caption(f"We run: {preset.we_run}")
        st.caption(f"Differs from the paper: {preset.differs}")
        if st.button("Run this miniature", key=f"preset_run_{name}", type="primary",
                     icon=":material/play_arrow:"):
            st.session_state[RUN.key] = [*st.session_state[RUN.key], name]
        if name in st.session_state[RUN.key]:
            frames = appkit.sweep("run_preset", key=f"preset_{name}",
                                  label="Training the miniature", name=name)
            if frames is not None and all(len(frame) for frame in frames.values()):
                st.success(f"**This run shows:** {presets.what_the_run_shows(name, frames)}",
                           icon=":material/flag:")
                draw(name, frames)

st.subheader("Try this")
st.markdown(
    "- After the Wu & He preset, open **Batch size** and add seeds: is the gap bigger than the "
    "seed-to-seed spread?\n"
    "- The Ioffe & Szegedy network uses sigmoids: open the **Live lab** with 20 sigmoid layers "
    "and watch the bands per layer."
)
st.page_link("pages/batch_size.py", label="Batch size lesson", icon=":material/straighten:")
st.page_link("pages/live_lab.py", label="Live lab", icon=":material/science:")
st.page_link("pages/claims.py", label="Claim checker", icon=":material/fact_check:")
