"""Claim checker: things people say about the norms, each tested by an experiment."""

import streamlit as st

import appkit
from normlab.lessons import claims, speed
from normlab.plots import lessons as lp

LINK_TEXT = {"convergence": "Compare norms, loss by step"}  # otherwise "the <title> lesson"
HOW = {
    "bn_robust_to_batch_size": "Batch, layer, RMS and no norm at batch sizes 2, 8 and 32, seeds "
    "0-4, under two budgets: the same 2048 training examples seen (small batches take more "
    "steps) and the same 256 steps (small batches see fewer examples).",
    "ln_independent_of_batch_mates": "One fixed example through a layer-norm (and a batch-norm) "
    "layer inside 20 random batches; holds when its output never moves.",
    "rms_invariant_to_rescaling": "A linear layer + RMS norm; the weight matrix, one unit's "
    "weights, the dataset and one example are each multiplied by 3.",
    "rms_cheaper_than_layer": "Forward + backward of RMS and layer norm at 2048x1024, torch's "
    "kernels and the formula written out, timed in 15 interleaved rounds on this machine.",
    "ln_less_stable_than_bn_deep": "16-hidden-layer MLPs with batch or layer norm, 100 steps, "
    "seeds 0-4, each norm at its own best learning rate from the grid 0.003, 0.01, 0.03, 0.1. "
    "Ba et al.'s finding (batch norm ahead) concerned ConvNets.",
    "bn_speeds_convergence": "Networks with and without batch norm at learning rates 0.005, "
    "0.05 and 0.5, seeds 0-4, evaluated every 2 steps: steps to 90% validation accuracy.",
}
OUTCOME_LINK = {"bn_speeds_convergence": ("pages/presets.py", "Paper presets: Ioffe & Szegedy")}


def outcome(claim_id: str, frame) -> None:
    """The measured outcome: a small chart, or the table where a chart says no more."""
    figures = {
        "ln_independent_of_batch_mates": lp.batch_dependence_spread,
        "rms_cheaper_than_layer": lambda rounds: lp.speed_ratio(  # as the Speed page draws it
            speed.paired_ratios(rounds), 1 - speed.CHEAPER_MARGIN),
        "ln_less_stable_than_bn_deep": lp.depth_lr_grid,
        "bn_speeds_convergence": lp.convergence_by_lr,
    }
    if claim_id == "bn_robust_to_batch_size":
        for budget, column in zip(("examples", "steps"), st.columns(2)):
            appkit.chart(column, lp.batch_size_curves(frame, budget=budget),
                         key=f"claim_chart_{claim_id}_{budget}")
    elif claim_id in figures:
        appkit.chart(st, figures[claim_id](frame), key=f"claim_chart_{claim_id}")
    else:
        rows = frame[frame["norm"] == "rms"][["transformation", "max_change", "invariant"]]
        st.dataframe(rows.assign(invariant=rows["invariant"].map({True: "✓", False: "✗"})),
                     hide_index=True, width="stretch", column_config={
                         "max_change": st.column_config.NumberColumn("largest change",
                                                                     format="%.1e")})


def show_verdict(verdict: claims.Verdict) -> None:
    text = f"**Verdict: {verdict.verdict}.** {verdict.explanation}"
    if verdict.verdict == claims.HOLDS:
        st.success(text, icon=":material/check_circle:")
    elif verdict.verdict == claims.DOES_NOT_HOLD:
        st.error(text, icon=":material/cancel:")
    elif verdict.verdict == claims.NOT_SETTLED:
        st.warning(f"{text}\n\n**To settle it:** {verdict.settle}", icon=":material/help:")
    else:
        st.warning(text, icon=":material/rule:")
    st.markdown(numbers(verdict))


def numbers(verdict: claims.Verdict) -> str:
    """The effect, its interval and n, and the rule in words, under the verdict."""
    if verdict.interval is None or not verdict.n:
        measured = f"*{verdict.method.capitalize()}.*"
    else:
        low, high = verdict.interval
        measured = (f"Effect {verdict.effect:.3g} ({verdict.effect_unit}), "
                    f"**95% interval [{low:.3g}, {high:.3g}]** from n = {verdict.n} "
                    f"({verdict.method}).")
    return f"{measured} Rule: {verdict.threshold}."


def request(*claim_ids: str) -> None:
    st.session_state.setdefault("claims_run", set()).update(claim_ids)


appkit.page_setup(__file__)
st.title("Claim checker")
st.write(
    "Textbooks and blog posts repeat a handful of sentences about the norms. Each card below "
    "runs a small experiment that tests one of them on five seeds and judges the outcome with a "
    "rule written down in advance: **holds**, **holds only when ...**, **does not hold here**, "
    "or **not settled at this budget** when the 95% interval of the effect straddles the "
    "rule's threshold. The runs are small (8x8 digits, small MLPs, this CPU), so a verdict is "
    "evidence about this setting, not a proof; each card links to the lesson that shows why."
)
st.button("Run every experiment", key="claims_all", icon=":material/playlist_play:",
          on_click=request, args=tuple(c.id for c in claims.CLAIMS),
          help="About 20 s of CPU in all on 2 cores; results are shared with everyone.")

for claim in claims.CLAIMS:
    with st.container(border=True):
        st.subheader(f"“{claim.text}”")
        st.caption(f"How it is tested: {HOW.get(claim.id, claim.experiment.__name__)}")
        st.button("Run the experiment", key=f"claim_run_{claim.id}", type="primary",
                  icon=":material/play_arrow:", on_click=request, args=(claim.id,))
        if claim.id in st.session_state.get("claims_run", set()):
            verdict = appkit.sweep("check_claim", key=f"claim_{claim.id}",
                                   label="Running the experiment", claim_id=claim.id)
            if verdict is not None:
                show_verdict(verdict)
                outcome(claim.id, verdict.outcome_frame)
        if (page := appkit.page_for_lesson(claim.lesson)) is not None:
            text = LINK_TEXT.get(claim.lesson, f"the {appkit.page_title(page)} lesson")
            st.page_link(page, label=f"Why: {text}", icon=":material/school:")
        if claim.id in OUTCOME_LINK:
            st.page_link(OUTCOME_LINK[claim.id][0], label=OUTCOME_LINK[claim.id][1],
                         icon=":material/menu_book:")

st.subheader("Try this")
st.markdown(
    "- Read a verdict that says *holds only when*: open its lesson and find the setting where "
    "the claim stops being true.\n"
    "- The speed verdict is measured once on the machine serving this page, then shared: "
    "open the **Speed** lesson and press *Measure again* to see how much it wobbles."
)
