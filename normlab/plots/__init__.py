"""Plot builders: tidy DataFrames in, plotly graph_objects Figures out.

style.py holds what every chart shares (a colour per norm, axis titles with units, the base
layout, panels); runs.py draws a Run's frames; lessons.py draws the frames of normlab.lessons;
`from normlab import plots` keeps giving the style and the run figures by name.
"""

from normlab.plots.lessons import statistics_sharing
from normlab.plots.runs import (
    accuracy_curves,
    gradient_by_depth,
    gradient_heatmap,
    histogram_overlay,
    layer_spread_heatmap,
    loss_curves,
    percentile_bands,
    pick_layers,
    ridgeline,
    update_ratio_heatmap,
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
           "accuracy_curves", "gradient_by_depth", "gradient_heatmap", "histogram_overlay",
           "layer_spread_heatmap", "loss_curves", "norm_color", "norm_label", "percentile_bands",
           "pick_layers", "ridgeline", "statistics_sharing", "update_ratio_heatmap"]
