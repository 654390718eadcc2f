"""Plot builders: tidy DataFrames in, plotly graph_objects Figures out.

style.py holds what every chart shares (a colour per norm, axis titles with units, the base
layout, panels); runs.py draws a Run's frames; lessons.py draws the frames of normlab.lessons;
redraw.py keeps a live chart's Figure between redraws (runs.py's `*_spec` twins give its data).
`from normlab import plots` keeps giving the style and the run figures by name.
"""

from normlab.plots.lessons import statistics_sharing
from normlab.plots.redraw import Redraw, spec_json
from normlab.plots.runs import (
    accuracy_curves,
    accuracy_curves_spec,
    gradient_by_depth,
    gradient_heatmap,
    gradient_heatmap_spec,
    histogram_overlay,
    loss_curves,
    loss_curves_spec,
    percentile_bands,
    percentile_bands_spec,
    pick_layers,
    ridgeline,
    update_ratio_heatmap,
    update_ratio_heatmap_spec,
)
from normlab.plots.style import (
    AXIS_TITLES,
    BLUE_WHITE_RED,
    NORM_COLORS,
    POINT_LABELS,
    PRE_NORM_COLOR,
    norm_color,
    norm_label,
)

__all__ = ["AXIS_TITLES", "BLUE_WHITE_RED", "NORM_COLORS", "POINT_LABELS", "PRE_NORM_COLOR",
           "Redraw", "accuracy_curves", "accuracy_curves_spec", "gradient_by_depth",
           "gradient_heatmap", "gradient_heatmap_spec", "histogram_overlay", "loss_curves",
           "loss_curves_spec", "norm_color", "norm_label", "percentile_bands",
           "percentile_bands_spec", "pick_layers", "ridgeline", "statistics_sharing",
           "spec_json", "update_ratio_heatmap", "update_ratio_heatmap_spec"]
