"""Invariances: Ba et al.'s Table 1 (and Zhang & Sennrich's RMS norm row), computed."""

import streamlit as st

import appkit
from normlab.lessons import claims
from normlab.plots import lessons as lp
from normlab.plots import norm_label

SCALE = appkit.Control("inv_scale", 3.0, lo=0.1, hi=10.0)
SHIFT = appkit.Control("inv_shift", 1.0, lo=0.0, hi=5.0)
SEED = appkit.Control("inv_seed", 0, lo=0, hi=10_000)
AFFINE = appkit.Control("inv_affine", False)
appkit.page_setup(__file__, controls={"scale": SCALE, "shift": SHIFT, "data_seed": SEED,
                                      "affine": AFFINE})
st.title("Invariances")
st.write(
    "Ba, Kiros & Hinton (2016, *Layer Normalization*, Table 1) list which changes to the "
    "weights or the data leave each norm's output untouched: batch and layer norm both ignore "
    "a rescaled weight matrix or dataset, but only batch norm ignores re-centred data and only "
    "layer norm a rescaled single example. Zhang & Sennrich (2019) add RMS norm: invariant to "
    "rescaling, not to re-centring. Here a linear layer followed by each norm sees a batch of "
    "random inputs; each transformation is applied and the largest change of any output is "
    "measured."
)

left, middle, right = st.columns(3)
scale = left.slider("Rescale by", *SCALE.bounds, step=0.1, key=SCALE.key,
                    help="Multiplies the weights or the inputs.")
shift = middle.slider("Re-centre by (scale of the added vector)", *SHIFT.bounds, step=0.1,
                      key=SHIFT.key, help="Adds one random vector to every row of W, or to "
                      "every example.")
seed = right.number_input("Seed", *SEED.bounds, key=SEED.key)
random_affine = right.checkbox("With random affine γ, β (as after training)", key=AFFINE.key,
                               help="y = γ·x̂ + β: γ and β act after the normalisation.")

table = appkit.experiment("invariance_table", scale=scale, shift=shift, seed=int(seed),
                          random_affine=random_affine)
def tick(value) -> str:
    return "✓" if bool(value) else "✗"


labels = {norm: norm_label(norm) for norm in dict.fromkeys(table["norm"])}
measured = table.pivot(index="transformation", columns="norm", values="invariant")
paper = table.pivot(index="transformation", columns="norm", values="paper_invariant")
order = list(dict.fromkeys(table["transformation"]))
measured = measured.reindex(index=order, columns=list(labels)).map(tick).rename(columns=labels)
paper = paper.reindex(index=order, columns=list(labels)).map(tick).rename(columns=labels)
mismatches = table[~table["matches_paper"].astype(bool)]
measured["agrees?"] = [
    "✓" if name not in set(mismatches["transformation"]) else "✗ " + ", ".join(
        norm_label(n) for n in mismatches[mismatches["transformation"] == name]["norm"])
    for name in order]
narrow = {name: st.column_config.TextColumn(width="small") for name in measured.columns}
measured_col, paper_col = st.columns(2)
measured_col.markdown("**Measured here**")
measured_col.dataframe(measured, width="stretch", column_config=narrow)  # (fits a phone)
paper_col.markdown("**The papers**")
paper_col.dataframe(paper, width="stretch", column_config=narrow)
st.caption("✓: the output did not change (largest change under 10⁻³; eps keeps rescalings "
           "from being exact). Paper: Ba et al. Table 1 for batch and layer norm, Zhang & "
           "Sennrich for RMS norm.")
if mismatches.empty:
    st.success(f"All {len(table)} measured cells agree with the papers.", icon=":material/check:")
else:
    st.warning(f"{len(mismatches)} of {len(table)} cells differ from the papers: "
               + "; ".join(f"{norm_label(r.norm)}, {r.transformation} (change "
                           f"{r.max_change:.2g})" for r in mismatches.itertuples())
               + ". A scale of 1 or a shift of 0 changes nothing at all; a tiny scale lets "
               "eps show.",
               icon=":material/warning:")

verdict = claims.verdict_rms_invariant_to_rescaling(table)
st.info(f"**\"RMS norm is invariant to rescaling\"** — {verdict.verdict}. "
        f"{verdict.explanation}", icon=":material/gavel:")
appkit.chart(st, lp.invariance_heatmap(table), key="inv_heatmap", caption=(
    "The same table as numbers: green cells changed by rounding error only (10⁻¹⁵), yellow "
    "ones by the eps inside the square root (still counted as unchanged), red ones by as much "
    "as the outputs themselves."))

st.subheader("Why")
st.markdown(
    "- **Rescaling the weight matrix or the dataset** multiplies every pre-activation by the "
    "same number: the mean and the spread scale with it and cancel, for all three norms.\n"
    "- **One unit's weight vector** scales one column: batch norm standardises each unit on its "
    "own, so it does not notice; layer and RMS norm mix all units of an example.\n"
    "- **Re-centring**: subtracting the mean removes a shift that is common to every unit of an "
    "example (layer norm) or to every example of a unit (batch norm). RMS norm subtracts "
    "nothing, so any shift shows."
)
st.subheader("Try this")
st.markdown(
    "- Set **rescale by** to 1 and **re-centre by** to 0: everything is invariant, trivially.\n"
    "- Tick **random affine γ, β**: nothing changes. The norm's output is y = γ·x̂ + β, and "
    "every transformation here acts on x̂'s input, which x̂ already ignores; γ and β, trained "
    "or random, only rescale and shift x̂ afterwards, so the invariances survive training.\n"
    "- Try a tiny scale, 0.1: batch and layer norm's eps (10⁻⁵) is no longer small next to "
    "the shrunken variance, and rescaling leaks through; RMS norm's eps (machine epsilon by "
    "default) keeps it exact."
)
st.page_link("pages/concepts.py", label="Concepts: the formulas", icon=":material/functions:")
st.page_link("pages/claims.py", label="Claim checker", icon=":material/fact_check:")
