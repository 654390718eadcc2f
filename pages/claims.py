"""Claim checker: things people say about the norms, each tested by an experiment."""

import streamlit as st

import appkit
from normlab.lessons import claims, lr_window, speed, why_bn
from normlab.plots import beyond
from normlab.plots import lessons as lp

LINK_TEXT = {"convergence": "Compare norms, loss by step",  # otherwise "the <title> lesson"
             "lr_window": "the learning-rate window lesson",
             "why_bn": "noisy batch norm and the walk along the gradient"}
LR, WB = lr_window.LR_QUICK, why_bn.WHY_BN_QUICK
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
    "norm_allows_larger_lr": f"No, batch, layer and RMS norm, {LR.depth} hidden layers, "
    f"{LR.steps} steps, at learning rates {', '.join(f'{lr:g}' for lr in lr_window.LR_GRID)}, "
    "seeds 0-4: the largest rate at which each seed trained (final validation loss below half "
    "of guessing's), with a norm over without (Bjorck et al., 2018).",
    "bn_helps_despite_noise": f"MLPs of {WB.depth} hidden layers, {WB.steps} steps at lr "
    f"{WB.lr:g}, seeds 0-4: no norm, batch norm, and batch norm followed by a per-unit shift "
    "U(-1, 1) and scale U(1, 3) drawn anew at every step (Santurkar et al.'s noisy BN).",
    "bn_smoother_loss": "The same networks with and without batch norm; every 20 steps, moves of "
    "lr × 0.5, 1, 2 and 4 along the gradient: the largest gradient change per unit moved "
    "(effective β, Santurkar et al., 2018).",
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
        "norm_allows_larger_lr": lambda runs: beyond.lr_window_chart(lr_window.lr_points(runs)),
        "bn_helps_despite_noise": lambda runs: beyond.accuracy_by_condition(
            why_bn.accuracy_intervals(runs)),
        "bn_smoother_loss": lambda probes: beyond.smoothness_by_step(why_bn.smoothness(probes)),
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


RUN = appkit.Control("claims_run", [], choices=tuple(c.id for c in claims.CLAIMS))  # in links


def request(*claim_ids: str) -> None:
    st.session_state[RUN.key] = list(dict.fromkeys([*st.session_state[RUN.key], *claim_ids]))


appkit.page_setup(__file__, controls={"run": RUN})
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
          help="About 90 s of CPU in all (measured: 92 s for the nine claims on one core); "
          "results are shared with everyone.")

for claim in claims.CLAIMS:
    with st.container(border=True):
        st.subheader(f"“{claim.text}”")
        st.caption(f"How it is tested: {HOW.get(claim.id, claim.experiment.__name__)}")
        st.button("Run the experiment", key=f"claim_run_{claim.id}", type="primary",
                  icon=":material/play_arrow:", on_click=request, args=(claim.id,))
        if claim.id in st.session_state[RUN.key]:
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
