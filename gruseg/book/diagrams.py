"""Diagrams drawn by code: the kinds of segmentation, the GRU cell, a ReNet layer's sweeps, two models side by side.

Each ``draw_*`` function builds a new matplotlib Figure and returns it (it never calls
``plt.show()``): in a notebook the returned figure is displayed, in a script call
``fig.savefig(...)``. The drawings are deterministic (no random numbers, no network) and use only
glyphs of the DejaVu fonts that ship with matplotlib, so they draw the same everywhere.

The shapes, labels and equations a diagram prints are computed, not typed: :func:`sweep_shapes`
gives the tensor shapes of :class:`~gruseg.layers.ReNet2D`'s steps, :func:`article_layers` the article's
model as written (with the shapes it would have had), and :func:`draw_model_comparison` reads the
corrected model's layers and output shapes from the real ``keras.Model``.

Texts and patches that carry meaning have a ``gid`` (``"gate"``, ``"candidate"``, ``"product"``,
``"shape"``, ``"error"``, ...), so a test, or a reader, can find what a figure says with
:func:`diagram_texts` (``diagram_texts(fig, "shape")``).

Example:
    >>> [shape for _, _, shape in sweep_shapes((2, 6, 10, 3), units=4)]
    [(2, 6, 10, 3), (12, 10, 3), (12, 10, 8), (20, 6, 8), (20, 6, 8), (2, 6, 10, 8)]
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from gruseg import _checks
from gruseg.book.sweeps import MERGE_MODES, SWEEP_ORDERS

__all__ = [
    "diagram_texts",
    "segmentation_kinds_scene",
    "draw_segmentation_kinds",
    "draw_gru_cell",
    "sweep_shapes",
    "draw_sweeps",
    "ArticleLayer",
    "article_layers",
    "draw_model_comparison",
]

GRU_CONVENTIONS = ("book", "keras")

_ERROR = "#c0392b"      # red: where the article's code breaks
_FIX = "#1e7b3c"        # green: the corrected model
_GATE = "#fde3c0"       # orange-ish fill: a gate (sigmoid)
_CAND = "#d6e9f8"       # blue-ish fill: the candidate (tanh), not a gate


def diagram_texts(fig, gid):
    """What a diagram prints under one gid: the non-empty texts of ``fig`` whose gid is ``gid``, in drawing order.

    Example:
        >>> diagram_texts(draw_sweeps((1, 4, 4, 2), units=3), "shape")[-1]
        '(1, 4, 4, 6)'
    """
    from matplotlib.text import Text

    return [t.get_text() for t in fig.findobj(Text) if t.get_gid() == gid and t.get_text()]


# --------------------------------------------------------------------------------------------
# 1. semantic, instance and panoptic segmentation
# --------------------------------------------------------------------------------------------
_SCENE_CLASSES = ("background", "circle", "square", "triangle")


def segmentation_kinds_scene(size=64):
    """A small synthetic scene with touching objects of one class, and its three kinds of label.

    Four objects on a textured background: two overlapping circles, a square and a triangle. Class
    ids follow ``gruseg.SHAPES_CLASSES`` (0 background, 1 circle, 2 square, 3 triangle).

    Args:
        size: side of the square image in pixels (>= 16).

    Returns:
        dict with ``image`` (size, size, 3) float32 in [0, 1]; ``semantic`` (size, size) int class
        ids; ``instance`` (size, size) int object ids (0 = no object, 1..4 the objects);
        ``class_names``; ``instance_names`` (id -> "circle 1", ...) and ``instance_class``
        (id -> class id). The panoptic label of a pixel is the pair (semantic, instance).

    Example:
        >>> scene = segmentation_kinds_scene(32)
        >>> sorted(scene["instance_names"].values())
        ['circle 1', 'circle 2', 'square 1', 'triangle 1']
        >>> int(scene["semantic"].max()), int(scene["instance"].max())
        (3, 4)
    """
    size = _checks.integer("size", size, 16)
    rows, cols = np.mgrid[0:size, 0:size] / size          # coordinates in [0, 1)
    objects = [  # (class id, mask, colour): drawn in this order, later ones on top
        (1, (rows - 0.40) ** 2 + (cols - 0.30) ** 2 < 0.17 ** 2, (0.85, 0.45, 0.20)),
        (1, (rows - 0.55) ** 2 + (cols - 0.50) ** 2 < 0.16 ** 2, (0.85, 0.45, 0.20)),
        (2, (np.abs(rows - 0.24) < 0.12) & (np.abs(cols - 0.78) < 0.12), (0.25, 0.45, 0.80)),
        (3, (rows < 0.90) & (rows > 0.62) & (np.abs(cols - 0.80) < (rows - 0.62) * 0.6), (0.30, 0.65, 0.35)),
    ]
    texture = 0.5 + 0.08 * np.sin(2 * np.pi * 5 * rows) * np.cos(2 * np.pi * 4 * cols)
    image = np.stack([texture * 0.9, texture * 0.9, texture], axis=-1)
    semantic = np.zeros((size, size), np.int64)
    instance = np.zeros((size, size), np.int64)
    names, classes, counts = {}, {}, {}
    for k, (cls, mask, colour) in enumerate(objects, start=1):
        shade = 1.0 - 0.12 * rows                          # a little shading: not a flat colour
        image[mask] = np.asarray(colour) * shade[mask][:, None]
        semantic[mask], instance[mask] = cls, k
        counts[cls] = counts.get(cls, 0) + 1
        names[k], classes[k] = f"{_SCENE_CLASSES[cls]} {counts[cls]}", cls
    return {"image": np.clip(image, 0, 1).astype(np.float32), "semantic": semantic, "instance": instance,
            "class_names": _SCENE_CLASSES, "instance_names": names, "instance_class": classes}


def _centroid(mask):
    r, c = np.nonzero(mask)
    return float(c.mean()), float(r.mean())


def draw_segmentation_kinds(size=64):
    """Semantic, instance and panoptic segmentation of one small scene, side by side.

    Four panels: the image; **semantic** (a class per pixel: the two touching circles become one
    blob labelled "circle"); **instance** (an id per countable object, nothing for the
    background); **panoptic** (every pixel gets a class, and every object pixel an id too). The
    scene is :func:`segmentation_kinds_scene`.

    Args:
        size: side of the scene in pixels (>= 16).

    Returns:
        matplotlib Figure with four axes; the texts naming regions have gid ``"region"``.

    Example:
        >>> fig = draw_segmentation_kinds(32)
        >>> [ax.get_title().split(":")[0] for ax in fig.axes]
        ['image', 'semantic', 'instance', 'panoptic']
        >>> sorted(set(diagram_texts(fig, "region")))[:3]
        ['background', 'circle', 'circle 1']
    """
    import matplotlib.pyplot as plt

    from gruseg.plotting import PALETTE

    scene = segmentation_kinds_scene(size)
    semantic, instance = scene["semantic"], scene["instance"]
    names, classes = scene["instance_names"], scene["instance_class"]
    sem_rgb = PALETTE[semantic]
    # instance: one colour per object, the background (no instance) light grey
    inst_colours = np.array([(0.92, 0.92, 0.92), (0.80, 0.10, 0.45), (0.95, 0.70, 0.10), (0.10, 0.55, 0.85),
                             (0.45, 0.25, 0.75)])
    inst_rgb = inst_colours[instance % len(inst_colours)]
    # panoptic: the class colour, darker for the second, third, ... object of a class
    pan_rgb = sem_rgb.copy()
    for k, cls in classes.items():
        nth = int(names[k].split()[-1])
        pan_rgb[instance == k] = PALETTE[cls] * (1.0 - 0.35 * (nth - 1))
    fig, axes = plt.subplots(1, 4, figsize=(10, 3.2))
    panels = [
        (scene["image"], "image: what the network sees"),
        (sem_rgb, "semantic: a class per pixel"),
        (inst_rgb, "instance: an id per object"),
        (pan_rgb, "panoptic: a class per pixel,\nan id per object"),
    ]
    for ax, (rgb, title) in zip(axes, panels, strict=True):
        ax.imshow(rgb, interpolation="nearest")
        ax.set_title(title, fontsize=10)
        ax.set_xticks([]), ax.set_yticks([])
    label = dict(ha="center", va="center", fontsize=8, gid="region",
                 bbox=dict(boxstyle="round,pad=0.15", fc="white", ec="none", alpha=0.8))
    corner = (1.5, size - 2.5)
    for cls in np.unique(semantic):
        name = _SCENE_CLASSES[cls]
        xy = corner if cls == 0 else _centroid(semantic == cls)
        axes[1].text(*xy, name, **{**label, "ha": "left" if cls == 0 else "center"})
    axes[2].text(*corner, "no instance", **{**label, "ha": "left"})
    for k, name in names.items():
        xy = _centroid(instance == k)
        axes[2].text(*xy, name, **label)
        axes[3].text(*xy, name, **label)
    axes[3].text(*corner, "background", **{**label, "ha": "left"})
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------------------------
# 2. the GRU cell
# --------------------------------------------------------------------------------------------
def draw_gru_cell(convention="book"):
    """The GRU cell: two gates, the candidate (not a gate), three element-wise products, one sum.

    Drawn for one step: the old state :math:`h_{t-1}` runs along the top to the new state
    :math:`h_t`; the input :math:`x_t` comes in at the bottom. The reset gate
    :math:`r_t = \\sigma(\\cdot)` scales the old state before the candidate
    :math:`\\tilde h_t = \\tanh(\\cdot)` reads it (``reset_after=False``); the update gate
    :math:`z_t` weighs old state against candidate::

        convention="book"  (Chung et al. 2014):  h_t = (1 - z_t) * h_{t-1} + z_t * h_tilde_t
        convention="keras" (Cho et al. 2014, eq. 7; Keras, PyTorch):
                                                 h_t = z_t * h_{t-1} + (1 - z_t) * h_tilde_t

    Args:
        convention: ``"book"`` or ``"keras"``: which product the ``1 -`` node feeds.

    Returns:
        The matplotlib Figure, with gids ``"gate"`` (the two sigmoid boxes and their labels),
        ``"candidate"``, ``"product"`` (the three element-wise product nodes), ``"one_minus"``,
        ``"sum"``, ``"equation"``.

    Example:
        >>> fig = draw_gru_cell()
        >>> diagram_texts(fig, "gate")
        ['reset gate $r_t$', 'update gate $z_t$']
        >>> len([p for p in fig.axes[0].patches if p.get_gid() == "product"])
        3
    """
    import matplotlib.pyplot as plt
    from matplotlib.patches import Circle, FancyBboxPatch

    convention = _checks.choice("convention", convention, GRU_CONVENTIONS)
    fig, ax = plt.subplots(figsize=(9, 5.6))
    ax.set_xlim(0, 10), ax.set_ylim(-0.2, 6.6), ax.set_aspect("equal"), ax.axis("off")
    line = dict(color="0.25", lw=1.4, zorder=1)

    def arrow(p, q, **kw):
        ax.annotate("", xy=q, xytext=p, arrowprops=dict(arrowstyle="-|>", color="0.25", lw=1.4,
                                                        shrinkA=0, shrinkB=0, **kw), zorder=1)

    def path(*points):
        xs, ys = zip(*points, strict=True)
        ax.plot(xs, ys, **line)

    def node(xy, text, gid, label=None, label_xy=None, ha="center"):
        ax.add_patch(Circle(xy, 0.24, fc="white", ec="0.2", lw=1.4, zorder=3, gid=gid))
        ax.text(*xy, text, ha="center", va="center", fontsize=13, zorder=4, gid=f"{gid}_symbol")
        if label:
            ax.text(*label_xy, label, ha=ha, va="center", fontsize=10, color="0.15", gid=f"{gid}_label")

    def box(x, y, w, symbol, text, fc, gid):
        ax.add_patch(FancyBboxPatch((x - w / 2, y - 0.45), w, 0.9, boxstyle="round,pad=0.05", fc=fc, ec="0.2",
                                    lw=1.4, zorder=3, gid=gid))
        ax.text(x, y + 0.16, symbol, ha="center", va="center", fontsize=14, zorder=4)
        ax.text(x, y - 0.22, text, ha="center", va="center", fontsize=9, zorder=4, gid=gid)

    top, xr, xz, xc = 5.0, 2.0, 4.6, 7.4          # the state line; x of the r, z and candidate boxes
    # inputs: the old state along the top, x_t along the bottom; both feed the two gates
    ax.text(0.45, top, "$h_{t-1}$", ha="right", va="center", fontsize=13)
    ax.text(0.45, 0.8, "$x_t$", ha="right", va="center", fontsize=13)
    path((0.5, top), (xz - 0.24, top))
    path((0.5, 0.8), (xc - 0.2, 0.8))
    path((1.0, top), (1.0, 1.4), (xz + 0.2, 1.4))
    for x in (xr, xz):
        arrow((x - 0.2, 0.8), (x - 0.2, 1.7))
        arrow((x + 0.2, 1.4), (x + 0.2, 1.7))
    arrow((xc - 0.2, 0.8), (xc - 0.2, 1.7))
    box(xr, 2.2, 1.5, r"$\sigma$", "reset gate $r_t$", _GATE, "gate")
    box(xz, 2.2, 1.5, r"$\sigma$", "update gate $z_t$", _GATE, "gate")
    box(xc, 2.2, 1.7, "tanh", r"candidate $\tilde h_t$", _CAND, "candidate")
    ax.text(xc + 0.95, 2.2, "(not a gate)", ha="left", va="center", fontsize=9, style="italic", gid="candidate")
    # the reset gate scales the old state before the candidate reads it
    xrh, yrh = 3.2, 3.4
    path((xr, 2.7), (xr, yrh), (xrh - 0.24, yrh))
    arrow((xrh, top), (xrh, yrh + 0.24))
    node((xrh, yrh), r"$\odot$", "product", r"$r_t \odot h_{t-1}$", (xrh + 0.3, 3.05), ha="left")
    path((xrh + 0.24, yrh), (6.2, yrh), (6.2, 2.2))
    arrow((6.2, 2.2), (xc - 0.9, 2.2))
    # the update gate: one product on the state line, one with the candidate, and the sum
    ybranch = 3.95
    keep = "$(1 - z_t) \\odot h_{t-1}$" if convention == "book" else "$z_t \\odot h_{t-1}$"
    take = "$z_t \\odot \\tilde h_t$" if convention == "book" else "$(1 - z_t) \\odot \\tilde h_t$"
    if convention == "book":
        path((xz, 2.7), (xz, 4.18))
        node((xz, 4.42), "1$-$", "one_minus")
        arrow((xz, 4.66), (xz, top - 0.24))
        path((xz, ybranch), (xc - 0.24, ybranch))
    else:
        arrow((xz, 2.7), (xz, top - 0.24))
        path((xz, ybranch), (5.86, ybranch))
        node((6.1, ybranch), "1$-$", "one_minus")
        path((6.34, ybranch), (xc - 0.24, ybranch))
    node((xz, top), r"$\odot$", "product", keep, (xz, top + 0.5))
    arrow((xc, 2.7), (xc, ybranch - 0.24))
    node((xc, ybranch), r"$\odot$", "product", take, (xc + 0.32, ybranch), ha="left")
    arrow((xc, ybranch + 0.24), (xc, top - 0.24))
    path((xz + 0.24, top), (xc - 0.24, top))
    node((xc, top), "+", "sum")
    arrow((xc + 0.24, top), (9.5, top))
    ax.text(9.55, top, "$h_t$", ha="left", va="center", fontsize=13)
    if convention == "book":
        eq, who = r"$h_t = (1 - z_t) \odot h_{t-1} + z_t \odot \tilde h_t$", "the book's convention (Chung et al. 2014)"
    else:
        eq, who = r"$h_t = z_t \odot h_{t-1} + (1 - z_t) \odot \tilde h_t$", "Cho et al. 2014 (eq. 7), Keras, PyTorch"
    ax.text(5.0, 6.35, eq, ha="center", va="center", fontsize=13, gid="equation")
    ax.text(5.0, 5.95, f"{who}:  two gates, $r_t$ and $z_t$ (sigmoids); the candidate is a proposal, "
            "not a gate", ha="center", va="center", fontsize=9, color="0.3")
    ax.text(5.0, 0.1, r"$r_t = \sigma(x_t W_{xr} + h_{t-1} W_{hr} + b_r)$,   "
            r"$z_t = \sigma(x_t W_{xz} + h_{t-1} W_{hz} + b_z)$,   "
            r"$\tilde h_t = \tanh(x_t W_{xh} + (r_t \odot h_{t-1}) W_{hh} + b_h)$",
            ha="center", va="center", fontsize=8.5, color="0.3", gid="gate_equations")
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------------------------
# 3. the sweeps of a ReNet layer
# --------------------------------------------------------------------------------------------
def sweep_shapes(input_shape, units, order="rows_first", patch_size=1, merge_mode="concat"):
    """The tensor shapes of :class:`~gruseg.layers.ReNet2D`'s steps, symbol by symbol and in numbers.

    With ``p = patch_size``, ``H' = H/p``, ``W' = W/p``, ``C' = p*p*C`` and ``D`` the channels
    of one merged pass (``2u`` for ``merge_mode="concat"``, else ``u``), rows first::

        (B, H, W, C) -> patches (B, H', W', C') -> rows as the batch (B*H', W', C')
        -> row sweep, both directions (B*H', W', D) -> columns as the batch (B*W', H', D)
        -> column sweep (B*W', H', D) -> back to an image (B, H', W', D)

    and with ``order="columns_first"`` the columns are read first (the papers' vertical-first
    order). The patch step is listed only when ``p > 1``.

    Args:
        input_shape: ``(B, H, W, C)`` positive integers, H and W divisible by ``patch_size``.
        units: hidden units of each of the four GRUs.
        order: ``"rows_first"`` or ``"columns_first"``.
        patch_size: side of the non-overlapping patches.
        merge_mode: ``"concat"``, ``"sum"``, ``"ave"`` or ``"mul"``.

    Returns:
        list of ``(step, symbols, shape)``: a description, the shape in symbols (a string) and
        the shape in numbers (a tuple).

    Example:
        >>> for step, symbols, shape in sweep_shapes((2, 8, 12, 3), 4, order="columns_first", patch_size=2):
        ...     print(f"{step:28s} {symbols:16s} {shape}")
        input                        (B, H, W, C)     (2, 8, 12, 3)
        2x2 patches                  (B, H/p, W/p, p²C) (2, 4, 6, 12)
        columns as the batch         (B·W/p, H/p, p²C) (12, 4, 12)
        column sweep, both ways      (B·W/p, H/p, 2u) (12, 4, 8)
        rows as the batch            (B·H/p, W/p, 2u) (8, 6, 8)
        row sweep, both ways         (B·H/p, W/p, 2u) (8, 6, 8)
        back to an image             (B, H/p, W/p, 2u) (2, 4, 6, 8)
    """
    b, h, w, c = _checks.int_tuple("input_shape", input_shape, minimum=1, length=4)
    units = _checks.positive_int("units", units)
    order = _checks.choice("order", order, SWEEP_ORDERS)
    p = _checks.positive_int("patch_size", patch_size)
    merge_mode = _checks.choice("merge_mode", merge_mode, MERGE_MODES)
    if h % p or w % p:
        raise ValueError(f"input_shape height and width must be divisible by patch_size={p}, got {h}x{w}")
    hp, wp, cp = h // p, w // p, c * p * p
    d, sd = (2 * units, "2u") if merge_mode == "concat" else (units, "u")
    sh, sw, sc = ("H", "W", "C") if p == 1 else ("H/p", "W/p", "p²C")
    steps = [("input", "(B, H, W, C)", (b, h, w, c))]
    if p > 1:
        steps.append((f"{p}x{p} patches", f"(B, {sh}, {sw}, {sc})", (b, hp, wp, cp)))
    rows = lambda ch, sch: ("rows as the batch", f"(B·{sh}, {sw}, {sch})", (b * hp, wp, ch))   # noqa: E731
    cols = lambda ch, sch: ("columns as the batch", f"(B·{sw}, {sh}, {sch})", (b * wp, hp, ch))  # noqa: E731
    if order == "rows_first":
        steps += [rows(cp, sc), ("row sweep, both ways", f"(B·{sh}, {sw}, {sd})", (b * hp, wp, d)),
                  cols(d, sd), ("column sweep, both ways", f"(B·{sw}, {sh}, {sd})", (b * wp, hp, d))]
    else:
        steps += [cols(cp, sc), ("column sweep, both ways", f"(B·{sw}, {sh}, {sd})", (b * wp, hp, d)),
                  rows(d, sd), ("row sweep, both ways", f"(B·{sh}, {sw}, {sd})", (b * hp, wp, d))]
    steps.append(("back to an image", f"(B, {sh}, {sw}, {sd})", (b, hp, wp, d)))
    return steps


def _grid(ax, x0, y0, n_rows, n_cols, cell, fc="white", patch=1):
    from matplotlib.patches import Rectangle

    for i in range(n_rows):
        for j in range(n_cols):
            ax.add_patch(Rectangle((x0 + j * cell, y0 - (i + 1) * cell), cell, cell, fc=fc, ec="0.55", lw=0.6))
    if patch > 1:   # thicker lines around the p x p patches
        for i in range(0, n_rows, patch):
            for j in range(0, n_cols, patch):
                ax.add_patch(Rectangle((x0 + j * cell, y0 - (i + patch) * cell), patch * cell, patch * cell,
                                       fill=False, ec="0.15", lw=1.5))


def draw_sweeps(input_shape=(2, 8, 8, 3), units=4, order="rows_first", patch_size=1, merge_mode="concat"):
    """The four sweeps of a ReNet layer, with the tensor shape at every step.

    Left to right: the input map; the first pass (for ``order="rows_first"``, every row read left
    to right by one GRU and right to left by another, all rows of all images as one batch); the
    second pass (every column read top to bottom and bottom to top); the output map. Under each
    panel, the shape in symbols and in numbers, from :func:`sweep_shapes` (so it is what
    :class:`~gruseg.layers.ReNet2D` computes with the same arguments).

    gruseg's default is rows first over single pixels; ReNet (Visin et al. 2015) and ReSeg's code
    sweep vertically first over non-overlapping patches: ``ReNet2D(units, order="columns_first",
    patch_size=p)``, drawn by the same arguments here.

    Args:
        input_shape: ``(B, H, W, C)``; the grids show every row and column of a map of up to 8 x 10
            sequence elements, and a map in the same proportions otherwise (one arrow per drawn row
            or column and direction).
        units, order, patch_size, merge_mode: as for :class:`~gruseg.layers.ReNet2D`.

    Returns:
        The matplotlib Figure, with gids ``"shape"`` (each step's numeric shape), ``"symbols"``,
        ``"step"``, ``"arrow_right"``, ``"arrow_left"``, ``"arrow_down"``, ``"arrow_up"`` (one
        per row or column drawn), ``"note"``.

    Example:
        >>> fig = draw_sweeps((2, 6, 10, 3), units=4)
        >>> diagram_texts(fig, "shape")
        ['(2, 6, 10, 3)', '(12, 10, 3) → (12, 10, 8)', '(20, 6, 8) → (20, 6, 8)', '(2, 6, 10, 8)']
        >>> [sum(t.get_gid() == gid for t in fig.axes[0].texts) for gid in ("arrow_right", "arrow_down")]
        [6, 10]
    """
    import matplotlib.pyplot as plt

    steps = sweep_shapes(input_shape, units, order, patch_size, merge_mode)
    p = patch_size
    _, hp, wp, _ = steps[-1][2]
    first_is_rows = order == "rows_first"
    scale = min(1.0, 8 / hp, 10 / wp)               # at most 8 x 10 cells drawn, in the map's proportions
    nr, nc = max(1, round(hp * scale)), max(1, round(wp * scale))
    cell = 4.0 / max(nr, nc, 6)
    fig, ax = plt.subplots(figsize=(10, 3.9))
    ax.set_xlim(0, 26.4), ax.set_ylim(-2.0, 7.7), ax.set_aspect("equal"), ax.axis("off")
    x_panels = [0.6, 7.4, 14.2, 21.0]
    top = 5.4
    i_first = len(steps) - 5                        # steps[i_first:]: two passes of two steps, then the output
    rows_title = "each row a sequence\none GRU reads →, another ←"
    cols_title = "each column a sequence\none GRU reads ↓, another ↑"
    panel_steps = [
        (steps[:i_first], "input map" + (f", {p}x{p} patches" if p > 1 else "")),
        (steps[i_first:i_first + 2], "1st pass: " + (rows_title if first_is_rows else cols_title)),
        (steps[i_first + 2:i_first + 4], "2nd pass: " + (cols_title if first_is_rows else rows_title)),
        (steps[-1:], "output map" + (": both directions\nconcatenated" if merge_mode == "concat" else "")),
    ]
    between = ["reshape" if p == 1 else "patches,\nreshape", "reshape,\ntranspose", "reshape,\ntranspose"]
    fills = ["#f2f2f2", "#fde3c0", "#d6e9f8", "#e3f1dc"]
    for k, ((group, title), x0, fc) in enumerate(zip(panel_steps, x_panels, fills, strict=True)):
        q = p if k == 0 else 1                     # the input is drawn in pixels, with the patches outlined
        _grid(ax, x0, top, nr * q, nc * q, cell / q, fc, patch=q)
        xc = x0 + nc * cell / 2
        ax.text(xc, top + 0.3, title, ha="center", va="bottom", fontsize=9.5, gid="step")
        symbols, shapes = " → ".join(s[1] for s in group), " → ".join(str(s[2]) for s in group)
        size = 8.5 if max(len(symbols), len(shapes)) <= 28 else 7.5     # long shapes: smaller, not overlapping
        ax.text(xc, top - nr * cell - 0.4, symbols, ha="center", va="top", fontsize=size, gid="symbols")
        ax.text(xc, top - nr * cell - 1.15, shapes, ha="center", va="top", fontsize=size, family="DejaVu Sans Mono",
                gid="shape")
        if k in (1, 2):
            arrow_kw = dict(arrowstyle="-|>", lw=1.1, shrinkA=0, shrinkB=0)
            off = cell * 0.17
            if (k == 1) == first_is_rows:
                for i in range(nr):
                    y, x1 = top - (i + 0.5) * cell, x0 + nc * cell - 0.08
                    ax.annotate("", xy=(x1, y + off), xytext=(x0 + 0.08, y + off),
                                arrowprops=dict(color="C3", **arrow_kw), gid="arrow_right")
                    ax.annotate("", xy=(x0 + 0.08, y - off), xytext=(x1, y - off),
                                arrowprops=dict(color="C0", **arrow_kw), gid="arrow_left")
            else:
                for j in range(nc):
                    x, y1 = x0 + (j + 0.5) * cell, top - nr * cell + 0.08
                    ax.annotate("", xy=(x - off, y1), xytext=(x - off, top - 0.08),
                                arrowprops=dict(color="C2", **arrow_kw), gid="arrow_down")
                    ax.annotate("", xy=(x + off, top - 0.08), xytext=(x + off, y1),
                                arrowprops=dict(color="C4", **arrow_kw), gid="arrow_up")
        if k < 3:
            y = top - nr * cell / 2
            x_from, x_to = x0 + nc * cell + 0.3, x_panels[k + 1] - 0.3
            ax.annotate("", xy=(x_to, y), xytext=(x_from, y), arrowprops=dict(arrowstyle="-|>", color="0.3", lw=1.6))
            ax.text((x_from + x_to) / 2, y + 0.2, between[k], ha="center", va="bottom", fontsize=8, color="0.35")
    what = "rows first, single pixels (gruseg's default)" if first_is_rows and p == 1 else \
        f"{'rows' if first_is_rows else 'columns'} first, {p}x{p} patches"
    ax.text(13.2, -1.3, f"ReNet2D(units={units}, order={order!r}, patch_size={p}): {what}.\n"
            "ReNet and ReSeg sweep vertically first, over patches: order=\"columns_first\", patch_size=p.",
            ha="center", va="center", fontsize=9, color="0.3", gid="note")
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------------------------
# 4. the article's model beside the corrected one
# --------------------------------------------------------------------------------------------
class ArticleLayer(NamedTuple):
    """One line of the article's model: its code (paraphrased), the output shape it would have had
    (None where the line cannot produce one), and what goes wrong there (None if nothing does)."""

    code: str
    output_shape: tuple | None
    problem: str | None
    breaks: bool = False       # True: this line raises (the first one is where building stops)


def article_layers(input_shape=(256, 256, 3), num_classes=2):
    """The article's segmentation model as written (its section 4), one :class:`ArticleLayer` a line.

    Shapes are those the layers would have produced had each line run (two stride-2 convolutions,
    one stride-2 transposed convolution), without the batch axis; the problems are the errors
    chapter 4 reproduces.

    Args:
        input_shape: ``(H, W, C)``, the article's ``(256, 256, 3)`` by default.
        num_classes: the article's 2 by default.

    Returns:
        list of :class:`ArticleLayer`.

    Example:
        >>> [layer.output_shape for layer in article_layers()]
        [(256, 256, 3), (64, 64, 32), None, (64, 64, 64), (128, 128, 2), (128, 128, 2), None]
    """
    h, w, c = _checks.int_tuple("input_shape", input_shape, minimum=1, length=3)
    k = _checks.num_classes("num_classes", num_classes)
    h4, w4 = -(-h // 4), -(-w // 4)          # 'same' padding: ceil(side / stride), twice
    return [
        ArticleLayer("inputs = Input(input_shape)", (h, w, c),
                     "the model's Input: no layer below reads it"),
        ArticleLayer("conv_block(input_shape, 32, stride 2)", (h4, w4, 32),
                     "UnboundLocalError: `inputs` used before it is set\n"
                     "(the block takes a shape, not a tensor)", True),
        ArticleLayer("gru_layer((None, 32, 32, 32), 128)(x)", None,
                     "its own Input: graph disconnected; GRU needs 3-D, gets 5-D;\n"
                     f"32 typed in (the map is {w4}); a tensor called: TypeError;\n"
                     "recurrent_dropout: no cuDNN kernel", True),
        ArticleLayer("conv_block(x.shape[1:], 64, stride 1)", (h4, w4, 64), "the same UnboundLocalError", True),
        ArticleLayer(f"Conv2DTranspose({k}, 4x4, stride 2)", (2 * h4, 2 * w4, k),
                     f"{2 * h4}x{2 * w4} for a {h}x{w} image: {w} → {w4} → {2 * w4}"),
        ArticleLayer("Activation('softmax')", (2 * h4, 2 * w4, k), None),
        ArticleLayer("layers.Model(inputs, outputs)", None, "AttributeError: keras.layers has no Model", True),
    ]


_default_article_layers = article_layers     # draw_model_comparison's argument of the same name hides it


def _shape_text(shape):
    return "×".join("?" if s is None else str(s) for s in shape)


def _describe(layer):
    """A short description of a Keras layer: its class and the arguments that set its shape."""
    name = type(layer).__name__
    cfg = layer.get_config()
    if name == "InputLayer":
        return "Input"
    if name in ("Conv2D", "Conv2DTranspose"):
        k, s = cfg["kernel_size"], cfg["strides"]
        return f"{name}({cfg['filters']}, {k[0]}x{k[1]}, stride {s[0]})"
    if name == "Activation":
        return str(cfg["activation"])
    if "units" in cfg:
        return f"{name}({cfg['units']})"
    return name


def _model_rows(model):
    """(description, output shape) per layer, BatchNormalization and ReLU folded into the layer before."""
    rows = []
    for layer in model.layers:
        shape = tuple(layer.output.shape)[1:]
        name = type(layer).__name__
        folds = name == "BatchNormalization" or (name == "Activation" and layer.get_config()["activation"] == "relu")
        if folds and rows:
            rows[-1] = (rows[-1][0] + (" + BN" if name == "BatchNormalization" else " + ReLU"), shape)
        else:
            rows.append((_describe(layer), shape))
    return rows


def draw_model_comparison(article_layers=None, corrected_model=None):
    """The article's model as written (left) beside the corrected ``gruseg.build_article_model`` (right).

    Left: one box per line of the article's model (:func:`article_layers`), with the output shape
    it would have had; red boxes are lines that raise (the first one, marked "stops here", is where
    building the model stops), red notes what is wrong, including the 256 → 64 → 128 size mismatch.
    Right: the layers of ``corrected_model`` and their output shapes, read from the model itself
    (BatchNormalization and ReLU folded into the convolution before them).

    Args:
        article_layers: list of :class:`ArticleLayer`; default ``article_layers(input size of the
            corrected model)``.
        corrected_model: a built ``keras.Model``; default ``gruseg.build_article_model()`` (the
            article's 256x256x3 input and 2 classes; needs Keras).

    Returns:
        The matplotlib Figure, with gids ``"article"`` and ``"corrected"`` (each box's text),
        ``"article_shape"``, ``"corrected_shape"``, ``"error"`` (the notes), ``"stops_here"``,
        ``"verdict"``.

    Example:
        >>> fig = draw_model_comparison()                         # doctest: +SKIP
        >>> diagram_texts(fig, "corrected_shape")[-1]                 # doctest: +SKIP
        '256×256×2'
    """
    import matplotlib.pyplot as plt
    from matplotlib.patches import FancyBboxPatch

    if corrected_model is None:
        from gruseg.models import build_article_model

        corrected_model = build_article_model()
    in_shape = tuple(corrected_model.input_shape)[1:]
    if article_layers is None:
        article_layers = _default_article_layers(in_shape if None not in in_shape else (256, 256, 3))
    article = list(article_layers)
    right = _model_rows(corrected_model)
    # left: a box per line, its problem in red under it; right: a box per layer. Units are inches.
    box_h, gap, note_line = 0.36, 0.22, 0.17
    left_y, y = [], 0.0
    for layer in article:
        left_y.append(y)
        y -= box_h + gap + (note_line * (layer.problem.count("\n") + 1) if layer.problem else 0)
    right_y = [-(box_h + gap) * i for i in range(len(right))]
    bottom = min(y, right_y[-1] - box_h - gap)
    width, height = 10.0, -bottom + 1.3
    fig = plt.figure(figsize=(width, height))
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(0, width), ax.set_ylim(bottom - 0.45, 0.85), ax.axis("off")

    def column(x, w, rows, ys, title, colour, gid, x_arrow):
        ax.text(x + w / 2, 0.62, title, ha="center", va="center", fontsize=10.5, weight="bold", color=colour)
        for i, ((text, shape, fc, ec), y) in enumerate(zip(rows, ys, strict=True)):
            ax.add_patch(FancyBboxPatch((x, y - box_h / 2), w, box_h, boxstyle="round,pad=0.03", fc=fc, ec=ec, lw=1.2))
            ax.text(x + 0.08, y, text, ha="left", va="center", fontsize=8.5, family="DejaVu Sans Mono", gid=gid)
            ax.text(x + w - 0.08, y, "—" if shape is None else _shape_text(shape), ha="right", va="center",
                    fontsize=8.5, family="DejaVu Sans Mono", gid=f"{gid}_shape")
            if i + 1 < len(rows):
                ax.annotate("", xy=(x_arrow, ys[i + 1] + box_h / 2 + 0.03), xytext=(x_arrow, y - box_h / 2 - 0.03),
                            arrowprops=dict(arrowstyle="-|>", color="0.45", lw=1.0, shrinkA=0, shrinkB=0))

    rows = [(layer.code, layer.output_shape, "#fbe3e0" if layer.breaks else "white",
             _ERROR if layer.problem else "0.5") for layer in article]
    xl, wl, xr, wr = 0.75, 4.45, 5.45, 4.45
    column(xl, wl, rows, left_y, "the article's model, as written", _ERROR, "article", xl + 0.25)
    stopped = False
    for layer, y in zip(article, left_y, strict=True):
        if layer.problem:
            ax.text(xl + 0.45, y - box_h / 2 - 0.04, layer.problem, ha="left", va="top", fontsize=8, color=_ERROR,
                    gid="error")
        if layer.breaks and not stopped:
            ax.text(xl - 0.05, y, "stops\nhere ▸", ha="right", va="center", fontsize=8, weight="bold",
                    color=_ERROR, gid="stops_here")
            stopped = True
    column(xr, wr, [(text, shape, "#e3f1dc", _FIX) for text, shape in right], right_y,
           "corrected: gruseg.build_article_model", _FIX, "corrected", xr + wr / 2)
    ax.text(xr + wr / 2, 0.38, f"{corrected_model.count_params():,} parameters, layers and shapes read from the model",
            ha="center", va="center", fontsize=8, color=_FIX)
    out_a = next((layer.output_shape for layer in reversed(article) if layer.output_shape), None)
    out_c = right[-1][1]
    y = bottom - 0.15
    if out_a is not None:
        verdict = "≠" if tuple(out_a[:2]) != tuple(in_shape[:2]) else "="
        ax.text(xl + wl / 2, y, f"output {_shape_text(out_a[:2])} {verdict} input {_shape_text(in_shape[:2])}",
                ha="center", va="center", fontsize=10, weight="bold", color=_ERROR, gid="verdict")
    verdict = "=" if tuple(out_c[:2]) == tuple(in_shape[:2]) else "≠"
    ax.text(xr + wr / 2, y, f"output {_shape_text(out_c[:2])} {verdict} input {_shape_text(in_shape[:2])}",
            ha="center", va="center", fontsize=10, weight="bold", color=_FIX, gid="verdict")
    return fig
