"""The lesson pages through Streamlit's AppTest: defaults run, the main control changes the
result, a claim card renders its verdict, a stopped sweep shows what it finished.

Sweeps are shrunk through the pages' own widgets; the defaults run once each and are cached for
the rest of the file (as they are for a class on one server).
"""

import dataclasses
from pathlib import Path

import pandas as pd
import pytest
from apptest_helpers import figures, texts, values
from streamlit.testing.v1 import AppTest

import appkit
from normlab import experiments
from normlab.lessons import claims, depth, presets, speed

APP = str(Path(__file__).resolve().parents[1] / "app.py")
LESSON_CHARTS = {
    "pages/batch_size.py": ["Validation accuracy by batch size (same examples seen)",
                            "Validation accuracy by batch size (same steps)",
                            "Train mode minus eval mode: validation accuracy gap"],
    "pages/batch_dependence.py": ["One example's output in 20 different batches",
                                  "How far the batch mates move the example's output"],
    "pages/bn_train_eval.py": ["running_mean vs the true mean", "running_var vs the true variance",
                               "Batch variance / true variance, averaged over many batches",
                               "Batch norm: the same validation set in eval and train mode"],
    "pages/depth.py": ["Final training loss by depth",
                       "First layer's gradient at step 0, by depth (log scale)",
                       "Std of each layer's output at initialisation (16 layers, log scale)"],
    "pages/invariances.py": ["Largest change of any output value (✓ under 10⁻³)"],
    "pages/speed.py": ["Forward + backward time by input size",
                       "RMS norm time ÷ layer norm time<br>(below 1×: RMS is cheaper)"],
    "pages/claims.py": [],
    "pages/presets.py": [],
}


def open_page(page: str) -> AppTest:
    """A new session: app.py's navigation first, as a browser arrives, then `page`."""
    at = AppTest.from_file(APP, default_timeout=180)
    at.run()
    return at.switch_page(page).run()


@pytest.mark.parametrize("page", list(LESSON_CHARTS))
def test_every_lesson_runs_its_defaults(page):
    at = open_page(page)
    assert not at.exception, at.exception
    assert list(figures(at)) == LESSON_CHARTS[page]
    assert at.title[0].value and at.get("page_link"), "a title and links to related lessons"
    assert "Try this" in texts(at.subheader)


def test_batch_size_sweep_follows_the_chosen_norms_and_sizes():
    at = open_page("pages/batch_size.py")
    default = figures(at)["Validation accuracy by batch size (same examples seen)"]
    assert {trace["name"] for trace in default["data"]} == {"BatchNorm", "LayerNorm", "RMSNorm",
                                                           "No norm"}
    at.multiselect(key="bs_norms").set_value(["layer"])
    at.multiselect(key="bs_sizes").set_value([4, 16])
    at.slider(key="bs_seeds").set_value(2)
    at.select_slider(key="bs_examples").set_value(256)
    at.button(key="bs_run").click().run()
    assert not at.exception
    fig = figures(at)["Validation accuracy by batch size (same examples seen)"]
    assert fig != default
    assert [trace["name"] for trace in fig["data"]] == ["LayerNorm"]
    assert values(fig["data"][0]["x"]) == [4, 16]
    assert not at.warning  # nothing refused without batch norm at batch size 1
    at.multiselect(key="bs_norms").set_value(["batch", "layer"])
    at.multiselect(key="bs_sizes").set_value([1, 16])
    at.button(key="bs_run").click().run()
    assert "refused" in texts(at.warning) and "batch size 1" in texts(at.warning)


def test_the_batch_size_page_and_the_claim_checker_give_the_same_verdict():
    page = open_page("pages/batch_size.py")
    on_page = next(text for text in texts(page.info).split("\n")
                   if "robust to the batch size" in text)
    checker = open_page("pages/claims.py")
    checker.button(key="claim_run_bn_robust_to_batch_size").click().run()
    verdict = appkit._experiment("check_claim", {"claim_id": "bn_robust_to_batch_size"})
    assert f"— {verdict.verdict}. " in on_page
    assert f"Verdict: {verdict.verdict}." in texts(checker.warning) + texts(checker.success) \
        + texts(checker.error)


def test_a_bigger_batch_moves_batch_norm_less_and_layer_norm_never():
    at = open_page("pages/batch_dependence.py")
    spread = lambda: dict(zip(*(values(figures(at)["How far the batch mates move the example's "  # noqa: E731
                                                    "output"]["data"][0][axis]) for axis in "xy")))
    small = spread()
    at.slider(key="bd_batch_size").set_value(64).run()
    big = spread()
    assert big["BatchNorm"] < small["BatchNorm"]
    assert big["LayerNorm"] == small["LayerNorm"] == 0
    assert "holds" in texts(at.info)


def test_a_shift_moves_the_true_mean_halfway():
    at = open_page("pages/bn_train_eval.py")
    true_line = lambda: values(next(t for t in figures(at)["running_mean vs the true mean"]["data"]  # noqa: E731
                                    if t["name"] == "true value")["y"])
    assert set(true_line()) == {2.0}
    at.slider(key="te_shift").set_value(4.0).run()
    assert not at.exception
    line = true_line()
    assert line[1] == 2.0 and line[-1] == 6.0


def test_depth_sweep_follows_the_chosen_depths():
    at = open_page("pages/depth.py")
    at.multiselect(key="depth_norms").set_value(["none", "layer"])
    at.multiselect(key="depth_depths").set_value([2, 4])
    at.multiselect(key="depth_gains").set_value([1.0])
    at.slider(key="depth_steps").set_value(10)
    at.button(key="depth_run").click().run()
    assert not at.exception
    fig = figures(at)["Final training loss by depth"]
    assert {trace["name"] for trace in fig["data"]} == {"No norm", "LayerNorm"}
    assert all(values(trace["x"]) == [2, 4] for trace in fig["data"])
    assert "Std of each layer's output at initialisation (4 layers, log scale)" in figures(at)


def test_no_scale_and_no_shift_make_everything_invariant():
    at = open_page("pages/invariances.py")
    table = at.dataframe[0].value
    assert (table == "✗").any().any() and "All 18 measured cells agree" in texts(at.success)
    at.slider(key="inv_scale").set_value(1.0)
    at.slider(key="inv_shift").set_value(0.0).run()
    measured = at.dataframe[0].value
    assert (measured[["BatchNorm", "LayerNorm", "RMSNorm"]] == "✓").all().all()
    assert measured["agrees?"].str.startswith("✗").any()  # the papers list non-invariances
    assert "differ from the papers" in texts(at.warning)


def test_random_affine_parameters_leave_the_table_as_the_papers_say():
    at = open_page("pages/invariances.py")
    at.checkbox(key="inv_affine").check().run()
    assert not at.exception
    assert "All 18 measured cells agree" in texts(at.success)
    assert "would break" not in texts(at.markdown) and "survive training" in texts(at.markdown)


def test_speed_times_the_chosen_sizes_and_implementations():
    at = open_page("pages/speed.py")
    at.multiselect(key="speed_sizes").set_value(["64x64"])
    at.multiselect(key="speed_implementations").set_value(["torch"])
    at.slider(key="speed_repeats").set_value(3)
    at.button(key="speed_run").click().run()
    assert not at.exception
    fig = figures(at)["Forward + backward time by input size"]
    assert {trace["name"] for trace in fig["data"]} == {"BatchNorm · torch", "LayerNorm · torch",
                                                        "RMSNorm · torch"}
    assert all(values(trace["x"]) == [64 * 64] for trace in fig["data"])
    assert "torch's native RMSNorm took" in texts(at.markdown)


def synthetic_timings(per_round: dict[str, list[float]]) -> speed.Timings:
    """time_norms' result at 64x64: layer norm 2 ms every round, RMS norm `ratio` times that."""
    rounds = pd.DataFrame([dict(implementation=i, size="64x64", round=k, rms_ms=2.0 * r,
                                layer_ms=2.0, ratio=r)
                           for i, ratios in per_round.items() for k, r in enumerate(ratios)])
    times = pd.DataFrame([dict(implementation=i, norm=norm, rows=64, features=64, size="64x64",
                               device="cpu", dtype="float32", median_ms=ms, min_ms=ms,
                               repeats=len(ratios), status="ok")
                          for i, ratios in per_round.items()
                          for norm, ms in (("layer", 2.0), ("rms", 2.0 * sorted(ratios)[
                              len(ratios) // 2]))])
    return speed.Timings(times, speed.rms_over_layer(times), rounds)


@pytest.mark.parametrize("per_round, box, verdict, shown", [
    # the median (0.35x) says cheaper; two slow rounds say the repeats do not agree
    ({"naive": [0.3, 0.35, 2.0, 0.32, 1.8]}, "warning", "not settled at this budget",
     "n = 5 paired rounds"),
    ({"naive": [0.5, 0.52, 0.48, 0.5], "torch": [0.6, 0.62, 0.58, 0.6]}, "success", "holds",
     "n = 4 paired rounds"),
    ({"torch": [1.7, 1.8, 1.75]}, "error", "does not hold here", "n = 3 paired rounds"),
])
def test_the_speed_page_shows_the_paired_verdict_with_its_interval(monkeypatch, per_round, box,
                                                                    verdict, shown):
    timings = synthetic_timings(per_round)
    monkeypatch.setattr(experiments, "time_norms", lambda **arguments: timings)
    appkit._experiment.clear()
    at = open_page("pages/speed.py")
    appkit._experiment.clear()  # the synthetic timings must not answer for real ones
    assert not at.exception, at.exception
    expected = claims.verdict_rms_cheaper_than_layer(timings.rounds)  # as `normlab claims`
    assert expected.verdict == verdict
    banner = texts(getattr(at, box))
    assert f": {verdict} (on this cpu)" in banner and shown in banner
    low, high = expected.interval
    assert f"{expected.effect:.2f}× [{low:.2f}, {high:.2f}]" in banner
    assert ("To settle it" in banner) == (verdict == claims.NOT_SETTLED)
    table = at.dataframe[0].value
    paired = speed.paired_ratios(timings.rounds)
    assert table["verdict"].tolist() == paired["verdict"].tolist()
    assert table["interval"].tolist() == [f"[{lo:.2f}, {hi:.2f}]"
                                          for lo, hi in zip(paired["low"], paired["high"])]
    bars = figures(at)["RMS norm time ÷ layer norm time<br>(below 1×: RMS is cheaper)"]
    assert all("error_y" in bar for bar in bars["data"])


def test_a_claim_card_renders_its_verdict():
    at = open_page("pages/claims.py")
    assert len(at.get("page_link")) >= len(claims.CLAIMS)
    assert "Verdict" not in texts(at.success)
    at.button(key="claim_run_ln_independent_of_batch_mates").click().run()
    assert not at.exception
    assert "Verdict: holds." in texts(at.success)
    assert "Exact computation" in texts(at.markdown)  # no seeds, said so
    assert "How far the batch mates move the example's output" in figures(at)
    at.button(key="claim_run_rms_invariant_to_rescaling").click().run()
    assert "Verdict: holds only when" in texts(at.warning)
    assert "Verdict: holds." in texts(at.success)  # the first card keeps its verdict
    assert "not settled" not in texts(at.warning)


def straddling_curves(experiment_seeds=(0, 1, 2, 3, 4)) -> pd.DataFrame:
    """convergence_sweep-like curves: batch norm faster on some seeds, slower on others."""
    rows = []
    for norm, reached in (("batch", [10, 40, 20, 50, 30]), ("none", [30, 20, 40, 30, 20])):
        for seed, first in zip(experiment_seeds, reached):
            rows += [dict(norm=norm, lr=0.05, seed=seed, step=step,
                          val_accuracy=0.95 if step >= first else 0.5) for step in range(0, 70, 10)]
    return pd.DataFrame(rows)


def test_a_claim_card_says_not_settled_with_its_interval_and_rule(monkeypatch):
    claim = claims.CLAIMS_BY_ID["bn_speeds_convergence"]

    def straddling(seeds=(0, 1, 2, 3, 4), base=None, progress=None, should_stop=None):
        return straddling_curves(seeds)

    monkeypatch.setitem(claims.CLAIMS_BY_ID, claim.id,
                        dataclasses.replace(claim, experiment=straddling))
    at = open_page("pages/claims.py")
    at.button(key="claim_run_bn_speeds_convergence").click().run()
    assert not at.exception
    warning = texts(at.warning)
    assert "Verdict: not settled at this budget." in warning and "To settle it" in warning
    shown = texts(at.markdown)
    assert "95% interval [" in shown and "n = 5" in shown and "95% t interval over seeds" in shown
    assert "Rule: batch norm counts as faster" in shown
    appkit._experiment.clear()  # the straddling outcome must not answer for the real claim


def test_a_preset_says_what_the_paper_found_and_what_the_run_shows(monkeypatch):
    ba = presets.PRESETS["ba_fig6"]
    shorter = tuple(cfg.replace(steps=20, eval_every=10) for cfg in ba.configs)
    monkeypatch.setitem(presets.PRESETS, "ba_fig6", dataclasses.replace(ba, configs=shorter))
    at = open_page("pages/presets.py")
    assert "permutation-invariant MNIST" in texts(at.markdown)
    at.button(key="preset_run_ba_fig6").click().run()
    assert not at.exception
    shown = texts(at.success)
    assert "This run shows" in shown and "batch 128" in shown and "batch 4" in shown
    assert {"Validation accuracy by examples seen, per batch size",
            "Validation loss by examples seen, per batch size"} <= set(figures(at))
    assert "Differs from the paper" in texts(at.caption) and "interval" in shown
    appkit._experiment.clear()  # the shortened preset must not answer for the real one


def test_a_stopped_sweep_shows_what_it_finished_until_run_again():
    at = open_page("pages/depth.py")
    arguments = dict(norms=("none", "batch", "layer", "rms"), depths=(2, 8, 16),
                     gains=(0.5, 1.0, 2.0), base=depth.DEPTH_QUICK.replace(steps=40))
    signature = f"depth_sweep:0:{arguments!r}"
    result = depth.depth_sweep(**{**arguments, "norms": ("none",), "depths": (2,),
                                        "gains": (1.0,)})
    at.session_state["_stopped_depth"] = signature  # what a Stop click leaves behind
    at.session_state["_partial_sweeps"] = {"depth": (signature, result)}
    at.run()
    assert "Stopped" in texts(at.info)
    assert values(figures(at)["Final training loss by depth"]["data"][0]["x"]) == [2]
    at.button(key="again_depth").click().run()
    assert not at.exception and "Stopped" not in texts(at.info)
    assert len(figures(at)["Final training loss by depth"]["data"]) > 4


def test_a_stopped_experiment_is_not_cached():
    arguments = dict(norms=("layer",), batch_sizes=(8,), examples=64)
    with pytest.raises(appkit._Interrupted) as stopped:
        appkit._experiment("batch_size_sweep", arguments, 0, None, lambda: True)
    assert isinstance(stopped.value.partial, pd.DataFrame) and stopped.value.partial.empty
    assert len(appkit._experiment("batch_size_sweep", arguments)) == 1
