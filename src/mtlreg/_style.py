"""One figure style for the package (below every package; matplotlib imported lazily).

Every figure of mtlreg is made with these helpers so that figures look alike and state
their claim: sizes in inches for a two-column paper, one font size, a colour-blind-safe
palette (Okabe & Ito), one sequential and one diverging colour map, axes labelled with
units, limits shared across panels that are compared, and plain tick labels ("0.1",
"1", "10", never "1.125x10^0").

Typical use::

    from mtlreg import _style

    with _style.context():
        fig, axes = _style.subplots(1, 2, sharey=True)
        ax = axes[0, 0]
        ax.plot(x, y, color=_style.color(0), label="network")
        _style.label(ax, "input x", "output f(x)")
        _style.legend_outside(fig, axes)
        _style.save(fig, out, "stem")

:func:`unlabelled_axes` lists the axes of a figure without an x or y label; the
experiment tests use it to check every figure.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.colors import Normalize
    from matplotlib.figure import Figure

#: Okabe & Ito's colour-blind-safe palette (black last; yellow dropped: poor on white).
PALETTE: tuple[str, ...] = (
    "#0072B2",  # blue
    "#D55E00",  # vermillion
    "#009E73",  # bluish green
    "#CC79A7",  # reddish purple
    "#E69F00",  # orange
    "#56B4E9",  # sky blue
    "#000000",  # black
)
#: Sequential colour map (perceptually uniform, colour-blind safe, prints in grey).
SEQUENTIAL = "viridis"
#: Diverging colour map centred on a reference value (colour-blind safe).
DIVERGING = "PuOr_r"
#: Marker cycle matching :data:`PALETTE`, so series differ without colour too.
MARKERS: tuple[str, ...] = ("o", "s", "^", "D", "v", "P", "X")

#: Figure widths in inches: one column and the full page of a two-column paper.
COLUMN_WIDTH = 3.4
PAGE_WIDTH = 7.0
#: Default height of one panel in inches.
PANEL_HEIGHT = 2.4
FONT_SIZE = 8.0

RC: dict[str, Any] = {
    "font.size": FONT_SIZE,
    "axes.titlesize": FONT_SIZE + 1,
    "axes.labelsize": FONT_SIZE,
    "xtick.labelsize": FONT_SIZE - 1,
    "ytick.labelsize": FONT_SIZE - 1,
    "legend.fontsize": FONT_SIZE - 1,
    "legend.frameon": False,
    "figure.titlesize": FONT_SIZE + 2,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.25,
    "grid.linewidth": 0.5,
    "lines.linewidth": 1.4,
    "lines.markersize": 4.0,
    "savefig.dpi": 200,
    "axes.formatter.useoffset": False,
    "axes.formatter.limits": (-4, 5),
    "image.cmap": SEQUENTIAL,
}


@contextmanager
def context() -> Iterator[None]:
    """Use the package style (rc settings, Agg backend) for figures made inside the block."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    with matplotlib.rc_context(dict(RC)):  # type: ignore[arg-type]
        yield


def color(i: int) -> str:
    """The ``i``-th colour of the palette (cycling)."""
    return PALETTE[i % len(PALETTE)]


def marker(i: int) -> str:
    """The ``i``-th marker (cycling), paired with :func:`color`."""
    return MARKERS[i % len(MARKERS)]


def colors(n: int) -> list[str]:
    """``n`` palette colours; beyond the palette, evenly spaced colours of the sequential map."""
    if n <= len(PALETTE):
        return list(PALETTE[:n])
    import matplotlib
    from matplotlib.colors import to_hex

    cmap = matplotlib.colormaps[SEQUENTIAL]
    return [to_hex(cmap(v)) for v in np.linspace(0.0, 0.9, n)]


def subplots(
    nrows: int = 1,
    ncols: int = 1,
    *,
    width: float | None = None,
    panel_height: float = PANEL_HEIGHT,
    sharex: Any = False,
    sharey: Any = False,
    **kwargs: Any,
) -> tuple[Figure, Any]:
    """A figure in the package style and a 2-D array of its axes (``squeeze=False``).

    ``width`` defaults to the page width for several columns, the column width for one.
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    if width is None:
        width = PAGE_WIDTH if ncols > 1 else COLUMN_WIDTH * 1.3
    with matplotlib.rc_context(dict(RC)):  # type: ignore[arg-type]
        fig, axes = plt.subplots(
            nrows,
            ncols,
            figsize=(width, panel_height * nrows),
            sharex=sharex,
            sharey=sharey,
            squeeze=False,
            layout="constrained",
            **kwargs,
        )
    for ax in axes.flat:
        _apply_axes(ax)
    return fig, axes


def _apply_axes(ax: Axes) -> None:
    """Apply the rc settings that matplotlib reads at drawing time to an existing axes."""
    ax.tick_params(labelsize=RC["xtick.labelsize"])
    ax.title.set_fontsize(RC["axes.titlesize"])
    ax.xaxis.label.set_fontsize(RC["axes.labelsize"])
    ax.yaxis.label.set_fontsize(RC["axes.labelsize"])
    ax.spines["top"].set_visible(False)
    ax.spines["right"].set_visible(False)
    ax.grid(True, alpha=RC["grid.alpha"], linewidth=RC["grid.linewidth"])


def with_unit(name: str, unit: str | None) -> str:
    """``"name (unit)"``, or ``name`` for a dimensionless quantity (``unit=None``)."""
    return f"{name} ({unit})" if unit else name


def label(
    ax: Axes,
    xlabel: str,
    ylabel: str,
    *,
    xunit: str | None = None,
    yunit: str | None = None,
    title: str | None = None,
) -> None:
    """Label both axes (with units where the quantity has one) and optionally the title."""
    ax.set_xlabel(with_unit(xlabel, xunit))
    ax.set_ylabel(with_unit(ylabel, yunit))
    if title is not None:
        ax.set_title(title)


def _plain(value: float, _pos: Any = None) -> str:
    if value == 0:
        return "0"
    return f"{value:g}"


def plain_ticks(ax: Axes, axis: str = "both") -> None:
    """Plain decimal tick labels ("0.01", "1", "100") on linear and log axes alike."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    targets: list[Any] = []
    if axis in ("x", "both"):
        targets.append(ax.xaxis)
    if axis in ("y", "both"):
        targets.append(ax.yaxis)
    for target in targets:
        target.set_major_formatter(FuncFormatter(_plain))
        if target.get_scale() == "log":
            target.set_major_locator(LogLocator(base=10, numticks=8))
            target.set_minor_formatter(NullFormatter())


def share_limits(axes: Iterable[Axes], axis: str = "y") -> tuple[float, float]:
    """Give ``axes`` the same limits on ``axis`` ("x" or "y"): the union of their ranges."""
    axes = list(axes)
    get = (lambda a: a.get_ylim()) if axis == "y" else (lambda a: a.get_xlim())
    lims = np.array([get(a) for a in axes], dtype=float)
    lo, hi = float(lims.min()), float(lims.max())
    for a in axes:
        if axis == "y":
            a.set_ylim(lo, hi)
        else:
            a.set_xlim(lo, hi)
    return lo, hi


def shared_norm(
    arrays: Iterable[Any],
    *,
    center: float | None = None,
    log: bool = False,
) -> Normalize:
    """One colour normalisation for several panels: the range of all finite values.

    ``center``: symmetric around this value (for :data:`DIVERGING`); ``log``: logarithmic
    over the positive values.
    """
    from matplotlib.colors import LogNorm, Normalize, TwoSlopeNorm

    values = np.concatenate([np.ravel(np.asarray(a, dtype=float)) for a in arrays])
    values = values[np.isfinite(values)]
    if log:
        values = values[values > 0]
    if values.size == 0:
        return Normalize(0.0, 1.0)
    lo, hi = float(values.min()), float(values.max())
    if log:
        return LogNorm(lo, hi if hi > lo else lo * 10)
    if center is not None:
        half = max(abs(hi - center), abs(center - lo), 1e-12)
        return TwoSlopeNorm(center, center - half, center + half)
    if hi <= lo:
        hi = lo + 1.0
    return Normalize(lo, hi)


def text_color(rgba: Sequence[float]) -> str:
    """Black or white, whichever reads better on a cell of colour ``rgba``."""
    r, g, b = (float(c) for c in rgba[:3])
    luminance = 0.2126 * r + 0.7152 * g + 0.0722 * b
    return "black" if luminance > 0.5 else "white"


def colorbar(fig: Figure, mappable: Any, axes: Any, label_text: str) -> Any:
    """One labelled colour bar for ``axes`` (an axes or an array of them)."""
    cbar = fig.colorbar(mappable, ax=axes, shrink=0.9)
    cbar.set_label(label_text)
    cbar.ax.tick_params(labelsize=RC["ytick.labelsize"])
    return cbar


def legend_outside(
    fig: Figure, axes: Any = None, *, loc: Any = "outside right upper", **kwargs: Any
) -> Any:
    """One legend for the figure, outside the panels (right by default), so it hides no data.

    Entries are collected from every axes (duplicate labels dropped).
    """
    handles: list[Any] = []
    labels: list[str] = []
    source = fig.axes if axes is None else list(np.ravel(axes))
    for ax in source:
        for h, lab in zip(*ax.get_legend_handles_labels()):
            if lab not in labels and not lab.startswith("_"):
                handles.append(h)
                labels.append(lab)
    if not handles:
        return None
    return fig.legend(
        handles,
        labels,
        loc=loc,
        frameon=False,
        **kwargs,
    )


def note(fig: Figure, text: str) -> None:
    """A small caption line under the figure (definitions, conventions)."""
    fig.text(0.5, -0.01, text, ha="center", va="top", fontsize=FONT_SIZE - 1.5, wrap=True)


def unlabelled_axes(fig: Figure) -> list[str]:
    """Describe every axes of ``fig`` that lacks an x or y label (colour bars need one label).

    Returns an empty list for a figure in which every axis is labelled.
    """
    missing = []
    for i, ax in enumerate(fig.axes):
        if not ax.get_visible() or not ax.axison:
            continue
        name = f"axes {i} ({ax.get_title() or ax.get_label() or 'untitled'})"
        if ax.get_label() == "<colorbar>":
            if not (ax.get_xlabel() or ax.get_ylabel()):
                missing.append(f"{name}: colour bar without a label")
            continue
        if not ax.get_xlabel():
            missing.append(f"{name}: no x label")
        if not ax.get_ylabel():
            missing.append(f"{name}: no y label")
    return missing


def save(fig: Figure, out: Path, stem: str) -> list[Path]:
    """Save as PNG (200 dpi) and PDF in ``out``, close the figure, return the paths."""
    from mtlreg._io import save_figure

    return save_figure(fig, out, stem)


__all__ = [
    "COLUMN_WIDTH",
    "DIVERGING",
    "FONT_SIZE",
    "MARKERS",
    "PAGE_WIDTH",
    "PALETTE",
    "PANEL_HEIGHT",
    "RC",
    "SEQUENTIAL",
    "color",
    "colorbar",
    "colors",
    "context",
    "label",
    "legend_outside",
    "marker",
    "note",
    "plain_ticks",
    "save",
    "share_limits",
    "shared_norm",
    "subplots",
    "text_color",
    "unlabelled_axes",
    "with_unit",
]
