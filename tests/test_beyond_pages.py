"""The "Beyond the three" pages through AppTest: each runs its defaults (cached for the rest of
the file), shows its claim cards and charts, and follows its main control."""

from pathlib import Path

import pytest
from apptest_helpers import figures, texts, values
from streamlit.testing.v1 import AppTest

APP = str(Path(__file__).resolve().parents[1] / "app.py")
CHARTS = {
    "pages/why_bn.py": ["Final validation accuracy, with 95% intervals over seeds",
                        "One unit after the norm: 15th, 50th, 85th percentiles (seed 0)",
                        "Effective β-smoothness (gradient change per unit moved)",
                        "Loss variation along the gradient"],
    "pages/lr_window.py": ["Final validation loss by learning rate (× = no seed finished)",
                           "Stable window: learning rates at which every seed trained"],
    "pages/data_view.py": ["Decision regions during training, per norm",
                           "Decision regions as the networks train"],
}


def open_page(page: str) -> AppTest:
    """A new session: app.py's navigation first, as a browser arrives, then `page`."""
    at = AppTest.from_file(APP, default_timeout=180)
    at.run()
    return at.switch_page(page).run()


def verdicts(at: AppTest) -> str:
    return texts(at.success) + texts(at.warning) + texts(at.error)


@pytest.mark.parametrize("page", list(CHARTS))
def test_every_beyond_page_runs_its_defaults(page):
    at = open_page(page)
    assert not at.exception, at.exception
    assert list(figures(at)) == CHARTS[page]
    assert at.title[0].value and at.get("page_link")
    assert "Try this" in texts(at.subheader)


def test_why_bn_sets_the_old_story_beside_two_computed_verdicts():
    at = open_page("pages/why_bn.py")
    assert "internal covariate shift" in texts(at.markdown)
    shown = verdicts(at)
    assert "still helps when the distribution after it moves" in shown
    assert "smoother along the gradient" in shown
    assert any(v in shown for v in ("— holds", "— does not hold", "— not settled"))
    at.slider(key="wb_seeds").set_value(2)
    at.slider(key="wb_steps").set_value(50)
    at.button(key="wb_run").click().run()
    assert not at.exception
    accuracy = figures(at)["Final validation accuracy, with 95% intervals over seeds"]
    assert [t["name"] for t in accuracy["data"]] == ["No norm", "BatchNorm", "Noisy BatchNorm"]
    assert "over 2 seeds" in verdicts(at)


def test_lr_window_follows_the_chosen_norms_and_range():
    at = open_page("pages/lr_window.py")
    assert "larger learning rates" in verdicts(at)
    at.multiselect(key="lw_norms").set_value(["none", "layer"])
    at.select_slider(key="lw_range").set_value((0.01, 1.0))
    at.slider(key="lw_seeds").set_value(2)
    at.slider(key="lw_steps").set_value(50)
    at.button(key="lw_run").click().run()
    assert not at.exception
    fig = figures(at)["Final validation loss by learning rate (× = no seed finished)"]
    assert [t["name"] for t in fig["data"]] == ["No norm", "LayerNorm"]
    assert values(fig["data"][0]["x"]) == [0.01, 0.03, 0.1, 0.3, 1.0]
    assert "LayerNorm: **" in verdicts(at) and "BatchNorm" not in verdicts(at)


def test_lr_window_without_the_baseline_says_what_to_add():
    at = open_page("pages/lr_window.py")
    at.multiselect(key="lw_norms").set_value(["rms"])
    at.select_slider(key="lw_range").set_value((0.1, 0.3))
    at.slider(key="lw_seeds").set_value(2)
    at.slider(key="lw_steps").set_value(50)
    at.button(key="lw_run").click().run()
    assert not at.exception and "Add No norm" in texts(at.info)


def test_data_view_draws_the_chosen_norms_and_the_digits():
    at = open_page("pages/data_view.py")
    at.selectbox(key="dv_dataset").select("circles")
    at.selectbox(key="dv_norm_b").select("layer")
    at.select_slider(key="dv_steps").set_value(100)
    at.button(key="dv_run").click().run()
    assert not at.exception
    fig = figures(at)["Decision regions during training, per norm"]
    labels = [a["text"] for a in fig["layout"]["annotations"]]
    assert labels[0].startswith("No norm, step 0") and any(
        label.startswith("LayerNorm, step 100") for label in labels)
    assert "Validation accuracy at step 100" in texts(at.markdown)
    live = figures(at)["Decision regions as the networks train"]  # the in-place frame
    assert [a["text"].split(":")[0] for a in live["layout"]["annotations"]] == [
        "No norm, step 100", "LayerNorm, step 100"]
    assert sum(trace["type"] == "heatmap" for trace in live["data"]) == 2
    at.selectbox(key="dv_dataset").select("digits")
    at.button(key="dv_run").click().run()
    assert not at.exception
    assert "Misclassified validation digits, per norm" in figures(at)
