"""The app's pages: one list feeds the navigation (app.py), the lesson map on Home, the links
from a library lesson key to its page, and the tests' list of pages to visit.

Pure data: no Streamlit call, so tests/e2e_helpers.py reads the same list app.py navigates.
"""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class Page:
    path: str  # "pages/batch_size.py", as st.Page and st.page_link take it
    title: str
    icon: str
    teaches: str  # one line for the map on Home
    key: str | None = None  # the library's lesson key this page teaches (normlab lessons)


HOME = "pages/home.py"  # the navigation's default page, served at "/"
WHY_BN_HELPS_ANCHOR = "why-does-batch-norm-help"  # Home's short section on the question
# The lesson that tests the story, and its URL: st.Page serves pages/x.py at x (the file name);
# relative, so that it also holds under a server.baseUrlPath. The pages that show a norm
# holding a distribution steady link there.
WHY_BN_PAGE = "pages/why_bn.py"
WHY_BN_URL = WHY_BN_PAGE.removeprefix("pages/").removesuffix(".py")
WHY_BN_HELPS_CAVEAT = (
    "Holding the distribution steady is what a norm *does*; that this is *why* batch norm "
    "speeds training (Ioffe & Szegedy's internal covariate shift) is contested: see "
    f"[why does batch norm help?]({WHY_BN_URL}), where noisy batch norm puts it to the test."
)

SECTIONS: dict[str, list[Page]] = {
    "Learn": [
        Page(HOME, "Home", ":material/home:", "Why normalization exists."),
        Page("pages/concepts.py", "Concepts", ":material/functions:",
             "The formulas, which numbers share statistics, and a worked example you can edit.",
             key="concepts"),
    ],
    "Lab": [
        Page("pages/live_lab.py", "Live lab", ":material/science:",
             "Train one network and watch its loss, layer distributions and gradients live."),
        Page("pages/compare.py", "Compare norms", ":material/compare_arrows:",
             "No norm, BatchNorm, LayerNorm and RMSNorm from the same seed, side by side.",
             key="convergence"),  # the loss by step, per norm: which converges first
        Page("pages/inspector.py", "Layer inspector", ":material/layers:",
             "Step through a run's per-layer histograms, before and after the norm."),
    ],
    "Lessons": [
        Page("pages/batch_size.py", "Batch size", ":material/straighten:",
             "Is batch norm robust to the batch size? Accuracy from batch 2 to 256.",
             key="batch_size"),
        Page("pages/batch_dependence.py", "Batch dependence", ":material/group:",
             "One example inside different batches: whose output moves?",
             key="batch_dependence"),
        Page("pages/bn_train_eval.py", "Train vs eval", ":material/swap_horiz:",
             "Batch norm's running statistics against the truth, and when they lag.",
             key="train_eval"),
        Page("pages/depth.py", "Depth", ":material/stacked_line_chart:",
             "Vanishing and exploding activations and gradients, 2 to 64 layers deep.",
             key="depth"),
        Page("pages/invariances.py", "Invariances", ":material/transform:",
             "Which rescalings and shifts each norm ignores, computed, next to the papers.",
             key="invariances"),
        Page("pages/speed.py", "Speed", ":material/timer:",
             "Is RMS norm cheaper than layer norm? Timed on this machine.", key="speed"),
    ],
    "Beyond the three": [
        Page("pages/why_bn.py", "Why does batch norm help?", ":material/psychology:",
             "Internal covariate shift or a smoother loss? Noisy batch norm and a walk along "
             "the gradient (Santurkar et al., 2018).", key="why_bn"),
        Page("pages/lr_window.py", "The learning-rate window", ":material/tune:",
             "Over which learning rates each norm trains, seed after seed (Bjorck et al., "
             "2018).", key="lr_window"),
        Page("pages/data_view.py", "See the data", ":material/scatter_plot:",
             "Decision regions of two norms as they train; the digits each network gets wrong.",
             key="data_view"),
        Page("pages/transformer.py", "Tiny transformer", ":material/smart_toy:",
             "Pre-LN vs post-LN, warm-up, and LN vs RMS vs DyT in a transformer that sorts.",
             key="transformer"),
    ],
    "Test the claims": [
        Page("pages/claims.py", "Claim checker", ":material/fact_check:",
             "Each common claim, a one-click experiment, and a verdict from the data."),
        Page("pages/presets.py", "Paper presets", ":material/menu_book:",
             "Miniatures of Ioffe & Szegedy Fig 1, Ba et al. Fig 6 and Wu & He Fig 1."),
    ],
}

PAGES: tuple[Page, ...] = tuple(page for pages in SECTIONS.values() for page in pages)


def find_page(path: str) -> Page:
    """The entry for "pages/....py" (its title and icon for a link); KeyError if not listed."""
    for page in PAGES:
        if page.path == path:
            return page
    raise KeyError(f"{path} is not in appkit.pages.SECTIONS")


def page_for_lesson(key: str) -> str | None:
    """The page that teaches the library's lesson `key`, or None where no page does."""
    return next((page.path for page in PAGES if page.key == key), None)


def page_title(path: str) -> str:
    """The navigation title of the page at `path` (a link's text)."""
    return find_page(path).title
