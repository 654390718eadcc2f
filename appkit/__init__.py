"""The Streamlit side of normlab: what every page shares. Pages `import appkit` and call the
names re-exported here; each lives in one module of this package:

    pages    the page list (path, title, icon, lesson key) for app.py's navigation and links
    url      query parameters <-> TrainConfig and a page's Controls, a note per clamped
             value (pure)
    limits   the cost estimate, the per-run budget and the server's caps (pure)
    sidebar  page_setup, widget state across pages, the shared sidebar, go_to
    runs     the in-memory run store over the disk run cache, the scheduler, get_or_train,
             last_run, cached_run
    scheduler the server's workers: every run trains in turns, off the script threads
    sweeps   the lessons' experiments, cached for every session, with progress and Stop
    show     chart (kept for the page's HTML download), CSV downloads with the settings,
             outcome boxes, describe_change, tagged

A page calls `page_setup(__file__)` first, `sidebar()` for the experiment's TrainConfig,
`appkit.live` (the live lab's job) or `get_or_train` for a Run, and the plot builders in
normlab.plots for figures.
The limits below are copies: to change one in a test, patch `appkit.limits`, which the code
reads at call time.
"""

from appkit.limits import (
    BUDGET_SECONDS,
    HARD_LIMIT_SECONDS,
    MAX_CONCURRENT_TRAININGS,
    REDRAWS_PER_SECOND,
    STORE_CAPACITY,
    estimated_seconds,
    within_budget,
)
from appkit.pages import (
    HOME,
    PAGES,
    SECTIONS,
    WHY_BN_HELPS_ANCHOR,
    WHY_BN_HELPS_CAVEAT,
    WHY_BN_PAGE,
    Page,
    find_page,
    page_for_lesson,
    page_title,
)
from appkit.runs import (
    LIVE_RUN_KEY,
    RunStore,
    active_trainings,
    cached_run,
    get_or_train,
    last_run,
    run_store,
    scheduler,
    warm_up,
)
from appkit.show import (
    chart,
    csv_download,
    describe_change,
    downloads,
    keep_for_export,
    show_outcome,
    tagged,
)
from appkit.sidebar import (
    PRESETS,
    current_config,
    default,
    go_to,
    init_session,
    keep_widget_state,
    opened_by_link,
    page_settings,
    page_setup,
    set_config,
    show_url_notes,
    sidebar,
)
from appkit.sweeps import _experiment, _Interrupted, experiment, sweep
from appkit.url import (
    CHOICES,
    INTEGER_FIELDS,
    URL_FIELDS,
    Control,
    config_from_query,
    config_to_query,
)
from normlab.defaults import DEFAULT_CONFIG, with_cadence  # as pages and tests have used them

__all__ = [
    "BUDGET_SECONDS", "CHOICES", "Control", "DEFAULT_CONFIG", "HARD_LIMIT_SECONDS", "HOME",
    "INTEGER_FIELDS", "LIVE_RUN_KEY", "MAX_CONCURRENT_TRAININGS", "PAGES", "PRESETS",
    "REDRAWS_PER_SECOND", "SECTIONS", "STORE_CAPACITY", "URL_FIELDS", "Page", "RunStore",
    "WHY_BN_HELPS_ANCHOR", "WHY_BN_HELPS_CAVEAT", "WHY_BN_PAGE",
    "_Interrupted", "_experiment", "active_trainings", "cached_run", "chart",
    "config_from_query", "config_to_query", "csv_download", "current_config", "default",
    "describe_change", "downloads", "estimated_seconds", "experiment",
    "find_page", "get_or_train", "go_to", "init_session", "keep_for_export",
    "keep_widget_state", "last_run", "opened_by_link", "page_settings",
    "page_for_lesson", "page_title", "page_setup", "run_store", "set_config", "show_outcome",
    "show_url_notes", "sidebar", "sweep", "tagged", "scheduler",
    "warm_up", "with_cadence", "within_budget",
]
