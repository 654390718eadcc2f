"""Concepts: the three formulas, which values share statistics, and a worked example."""

import streamlit as st

import appkit
from appkit import concepts_code
from normlab import plots
from normlab.lessons import concepts
from normlab.registry import NORMS

CONTROLS = {
    "shown_norm": appkit.Control("keep_concepts_norm", "batch", choices=tuple(NORMS)),
    "batch_seed": appkit.Control("keep_concepts_seed", 0, lo=0, hi=9999),
    "gain": appkit.Control("keep_concepts_gain", 1.0, lo=-3.0, hi=3.0),
    "shift": appkit.Control("keep_concepts_shift", 0.0, lo=-3.0, hi=3.0),
    "batches": appkit.Control("keep_concepts_batches", 10, lo=1, hi=200),
}
appkit.page_setup(__file__, controls=CONTROLS)
st.title("Concepts")
st.write(
    "Batch, layer and RMS norm differ in one thing: **which numbers they pool** to compute "
    "the statistics they divide by. That one choice decides whether an example's output "
    "depends on its batch mates, whether training and eval agree, and what invariances you get."
)

st.header("The formulas")
st.latex(r"\text{BatchNorm:}\quad y_{nd} = \gamma_d\,\frac{x_{nd} - \mu_d}"
         r"{\sqrt{\sigma_d^2 + \epsilon}} + \beta_d,\qquad \mu_d = \tfrac{1}{N}\sum_n x_{nd}")
st.latex(r"\text{LayerNorm:}\quad y_{nd} = \gamma_d\,\frac{x_{nd} - \mu_n}"
         r"{\sqrt{\sigma_n^2 + \epsilon}} + \beta_d,\qquad \mu_n = \tfrac{1}{D}\sum_d x_{nd}")
st.latex(r"\text{RMSNorm:}\quad y_{nd} = \gamma_d\,\frac{x_{nd}}"
         r"{\sqrt{\tfrac{1}{D}\sum_{d'} x_{nd'}^2 + \epsilon}}")
st.caption("n indexes examples in the batch, d features; σ² is the biased variance (divide by "
           "N or D). γ (gain) and β (shift) are learned, one per feature.")

st.header("The code")
st.write("Each norm as normlab computes it: the forward pass, and the backward pass derived by "
         "hand (checked against torch's autograd in the tests). Read from normlab.functional "
         "as it runs, so it cannot drift from the library.")
st.graphviz_chart(
    "digraph { rankdir=LR; node [shape=box, style=rounded, fontsize=11]; "
    "x -> Linear -> norm -> activation -> next [label=\"norm position: before\"]; "
    "next [label=\"next layer\"]; }")  # drawn in the browser: no request elsewhere
st.caption("One hidden layer with the norm before the activation (Ioffe & Szegedy's order); "
           "the sidebar's *norm position: after* swaps the norm and the activation.")
titles = [title for title, _, _ in concepts_code.NORM_CODE]
for tab, (_, math, code) in zip(st.tabs(titles), concepts_code.NORM_CODE):
    with tab:
        math_col, code_col = st.columns([2, 3])
        math_col.latex(math)
        code_col.code(code, language="python", line_numbers=True, height=360)

st.header("Who shares statistics with whom")
norm = st.radio("Norm", CONTROLS["shown_norm"].choices, key="keep_concepts_norm", horizontal=True,
                format_func=plots.norm_label)
appkit.chart(st, plots.statistics_sharing(norm), key="sharing")
st.caption("Coloured cells are pooled into one mean and variance. BatchNorm pools down a column "
           "(one feature, every example); LayerNorm and RMSNorm pool along a row (one example, "
           "every feature); on images BatchNorm pools a channel over the batch and all pixels.")

st.header("A worked example")
st.write("A batch of 4 examples with 3 features on very different scales. Edit any number, "
         "or draw a new batch; the outputs below are computed by normlab's own norm layers.")
seed = st.number_input("Batch seed", *CONTROLS["batch_seed"].bounds, step=1,
                       key="keep_concepts_seed")
if st.session_state.get("concepts_batch_seed") != seed:  # a new seed draws a fresh batch
    st.session_state["concepts_batch"] = concepts.example_batch(seed)
    st.session_state["concepts_batch_seed"] = seed
batch = st.data_editor(st.session_state["concepts_batch"], key=f"concepts_editor_{seed}",
                       width="stretch")
st.session_state["concepts_batch"] = batch  # keeps your edits when you leave the page

gain_col, shift_col, batches_col = st.columns(3)
gain = gain_col.slider("Gain γ (all features)", *CONTROLS["gain"].bounds, step=0.1,
                       key="keep_concepts_gain")
shift = shift_col.slider("Shift β (all features; RMSNorm has none)", *CONTROLS["shift"].bounds,
                         step=0.1, key="keep_concepts_shift")
batches_seen = batches_col.slider("Training batches before eval", *CONTROLS["batches"].bounds,
                                  key="keep_concepts_batches",
                                  help="BatchNorm's running averages (momentum 0.1) are updated "
                                       "once per training batch; eval mode uses them.")

try:
    outputs = concepts.worked_example(batch, gain, shift, batches_seen)
except concepts.BatchTooSmallError as error:
    st.warning(str(error), icon=":material/warning:")
    outputs = {}
left, right = st.columns(2)
for column, name in zip([left, right, left, right], outputs):
    column.markdown(f"**{name}**")
    column.table(concepts.with_margins(outputs[name]).style.format("{:.2f}", na_rep=""))
st.caption(
    "With γ = 1 and β = 0: BatchNorm (train) gives every **column** mean 0 and std 1; LayerNorm "
    "gives every **row** mean 0 and std 1; RMSNorm gives every row a root mean square of 1 but "
    "keeps its mean. In eval mode BatchNorm divides by the running *unbiased* variance "
    "(N/(N-1) = 4/3 times the batch's), so even after many batches its outputs are about "
    "√(3/4) ≈ 0.87 times the training ones."
)

st.header("Try this")
st.markdown(
    "- Multiply one example's numbers by 10 in the table: which outputs change?\n"
    "- Add 5 to every number in one column: which norm does not care?\n"
    "- Set the training batches before eval to 1, then 200, and compare the two BatchNorm tables."
)
