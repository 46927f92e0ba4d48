"""Charts drawn on the server: plain figures in, an inline SVG out (only this module imports pygal).

Each chart is an `<svg role="img">` named by its title, without pygal's script (its tooltips need one; the page
forbids inline scripts and the numbers stand in a table beside the chart), in the page's CJK fonts, sized by its
viewBox so that it shrinks to a 360 px phone.
"""
import math
import threading
from collections import OrderedDict

import pygal
from markupsafe import Markup
from pygal.style import Style

WIDTH, HEIGHT = 400, 340  # drawn about 300 px wide on a phone: its text at about 13 px
FONTS = '"Noto Sans CJK SC", "Noto Sans SC", "PingFang SC", "Microsoft YaHei", sans-serif'
# Colours that keep apart for the colour-blind (Okabe and Ito's), the first two for contacted and attempted.
COLOURS = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000", "#999999")
STYLE = Style(font_family=FONTS, background="white", plot_background="white", foreground="#222",
              foreground_strong="#000", foreground_subtle="#666", colors=COLOURS, label_font_size=16,
              major_label_font_size=16, legend_font_size=17, value_font_size=15, tooltip_font_size=15)


def _accessible(title):
    """A pygal xml filter (its extension point for the finished tree) that names the chart and drops its script."""

    def named(root):
        root.set("role", "img")
        root.set("aria-label", str(title))
        for parent in list(root.iter()):
            for script in [child for child in parent if str(child.tag).endswith("script")]:
                parent.remove(script)
        return root

    return named


# Drawn charts by what they show: a dashboard opened again with the same numbers costs no drawing (pygal takes
# 25-60 ms of CPU a chart, more than the grid's SQL of some).
_drawn = OrderedDict()
_drawn_lock = threading.Lock()
DRAWN_KEPT = 64


def _draw(kind, title, labels, series, *, percent=False, stacked=False):
    """The SVG text of a pygal chart of kind with x labels and series [(name, values)], drawn once per content."""
    series = [(str(name), tuple(values)) for name, values in series]
    key = (kind, str(title), tuple(str(label) for label in labels), tuple(series), percent, stacked)
    with _drawn_lock:
        if key in _drawn:
            _drawn.move_to_end(key)
            return _drawn[key]
    svg = _render(kind, title, labels, series, percent=percent, stacked=stacked)
    with _drawn_lock:
        _drawn[key] = svg
        while len(_drawn) > DRAWN_KEPT:
            _drawn.popitem(last=False)
    return svg


def _render(kind, title, labels, series, *, percent=False, stacked=False):
    """Draw a pygal chart of kind with x labels and series [(name, values)] as SVG text."""
    options = dict(style=STYLE, width=WIDTH, height=HEIGHT, js=[], disable_xml_declaration=True, legend_at_bottom=True,
                   legend_at_bottom_columns=2, show_legend=True, x_label_rotation=0, margin_bottom=28,
                   truncate_legend=-1, truncate_label=-1, print_values=False, include_x_axis=True,
                   no_data_text="—", xml_filters=[_accessible(title)])
    if percent:
        options.update(range=(0, 100), value_formatter=lambda value: f"{value:.0f}%")  # the table has the decimals
    chart = {"line": pygal.Line, "bar": pygal.StackedBar if stacked else pygal.Bar,
             "hbar": pygal.HorizontalBar}[kind](**options)
    chart.add_xml_filter(_accessible(title))
    chart.x_labels = [str(label) for label in labels]
    if len(labels) > 5:  # every label of half a year would collide on a phone: about five of them
        chart.x_labels_major_every = math.ceil(len(labels) / 5)
        chart.show_minor_x_labels = False
    for name, values in series:
        chart.add(str(name), list(values))
    return Markup(chart.render(is_unicode=True))  # its style rules name its own id: charts of a page keep apart


def line(title, labels, series, percent=False):
    """A line chart: one line per series over labels (percent: values are percentages, 0-100)."""
    return _draw("line", title, labels, series, percent=percent)


def bars(title, labels, series, stacked=False):
    """A bar chart: a bar per series at each label (stacked: one bar of the series' parts)."""
    return _draw("bar", title, labels, series, stacked=stacked)


def sideways(title, labels, series):
    """A horizontal bar chart, for long labels (categories)."""
    return _draw("hbar", title, labels, series)


def chart(key, title, svg, columns, table):
    """A chart as the page and the report show it: its title, its SVG and its numbers (columns, rows)."""
    return {"key": key, "title": str(title), "svg": svg, "columns": [str(c) for c in columns], "rows": table}
