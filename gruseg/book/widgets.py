"""Interactive explorers for the book's chapters (ipywidgets).

Each explorer precomputes everything it shows, so moving a slider only selects what to display:
the widgets work in Jupyter and Colab with a live kernel and, where they are linked in the browser
(``jslink``), also in the built book, whose pages keep the saved widget state but have no kernel.
"""

from __future__ import annotations

import io

import numpy as np

from gruseg import _checks

__all__ = ["gru_cell_explorer", "sweep_explorer"]


# --------------------------------------------------------------------------------------------
# sweep_explorer (chapter 3)
# --------------------------------------------------------------------------------------------
def _to_rgb_uint8(image):
    image = np.asarray(image)
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=-1)
    if image.ndim != 3 or image.shape[-1] not in (1, 3):
        raise ValueError(f"image must be (height, width), (height, width, 1) or (height, width, 3), got shape {image.shape}")
    if image.shape[-1] == 1:
        image = np.repeat(image, 3, axis=-1)
    if image.dtype != np.uint8:
        image = (np.clip(image, 0.0, 1.0) * 255).round().astype(np.uint8)
    return image


def _sweep_frames(values, go_backwards, cmap, pixel_size):
    """RGB frames (uint8) of a row sweep's heat map so far, a marker at the current column."""
    import matplotlib

    from gruseg.book.sweeps import partial_sweep

    H, W = values.shape
    lo, hi = float(np.nanmin(values)), float(np.nanmax(values))
    colours = matplotlib.colormaps[cmap]
    s = pixel_size
    marker = np.array([0, 220, 255], np.uint8)  # cyan: where the sweep is now
    frames = []
    for t in range(W):
        part = partial_sweep(values, t, go_backwards)
        rgb = (colours((part - lo) / (hi - lo + 1e-12))[..., :3] * 255).round().astype(np.uint8)
        rgb[np.isnan(part)] = 215  # light grey: not reached yet
        rgb = np.repeat(np.repeat(rgb, s, axis=0), s, axis=1)
        col = W - 1 - t if go_backwards else t
        rgb[:, col * s if go_backwards else (col + 1) * s - 1] = marker
        frames.append(rgb)
    return frames, (lo, hi)


def _image_panel(image, height):
    from PIL import Image as PILImage

    img = PILImage.fromarray(_to_rgb_uint8(image))
    width = max(1, round(img.width * height / img.height))
    return np.asarray(img.resize((width, height), PILImage.NEAREST))


def _png(rgb):
    from PIL import Image as PILImage

    buffer = io.BytesIO()
    PILImage.fromarray(rgb).save(buffer, format="png")
    return buffer.getvalue()


def sweep_explorer(values, image=None, *, go_backwards=False, cmap="magma", pixel_size=None,
                   description="step t"):
    """A slider over the steps of a row sweep, showing the heat map the sweep has produced so far.

    At step ``t`` a left-to-right GRU has read columns ``0..t`` of every row; the frame shows
    ``values`` (e.g. the hidden-state magnitude ``‖h_t‖`` of each pixel) for those columns and grey
    for the columns still ahead, with a cyan line where the sweep is; ``image`` is shown beside it.
    All frames are rendered up front as PNGs; the slider only picks one, through a browser-side
    link (``ipywidgets.jslink``) so it also works on a static page with saved widget state, and a
    kernel-side observer as a fallback (e.g. for Colab).

    Args:
        values: (H, W) per-pixel values of the full sweep, or (H, W, U) hidden states (their
            Euclidean norm over ``U`` is shown). Colours span the min..max of all of it.
        image: optional (H', W', 3) image (floats in [0, 1] or uint8) shown on the left at the same
            height, e.g. the input the feature map came from.
        go_backwards: the sweep runs right-to-left (step ``t`` has read columns ``W-1-t..W-1``).
        cmap: a Matplotlib colormap name.
        pixel_size: screen pixels per feature-map pixel; default makes the map about 256 px high.
        description: the slider's label.

    Returns:
        an ``ipywidgets.VBox``: play button and slider; the image (if given) and the frames; a
        caption. Its ``frames`` attribute is the list of (H*pixel_size, W*pixel_size, 3) uint8
        heat-map frames, one per step.

    Example:
        >>> from gruseg.book.sweeps import row_sweep_states
        >>> from gruseg.gru import random_gru_weights
        >>> features = np.random.default_rng(0).normal(size=(1, 8, 12, 3))
        >>> states = row_sweep_states(features, random_gru_weights(3, 4, seed=0))[0]   # (H, W, U)
        >>> box = sweep_explorer(states, pixel_size=4)
        >>> len(box.frames), box.frames[0].shape                  # one frame per step (column)
        (12, (32, 48, 3))
    """
    import ipywidgets as widgets

    values = np.asarray(values, dtype=np.float64)
    if values.ndim == 3:
        values = np.linalg.norm(values, axis=-1)
    if values.ndim != 2 or min(values.shape) < 1:
        raise ValueError(f"values must be (height, width) or (height, width, units), got shape {np.shape(values)}")
    if not np.isfinite(values).all():
        raise ValueError("values must be finite (no NaN or inf)")
    H, W = values.shape
    pixel_size = max(1, 256 // H) if pixel_size is None else _checks.positive_int("pixel_size", pixel_size)
    frames, (lo, hi) = _sweep_frames(values, _checks.boolean("go_backwards", go_backwards), cmap, pixel_size)

    pictures = [widgets.Image(value=_png(f), format="png") for f in frames]
    slider = widgets.IntSlider(value=0, min=0, max=W - 1, step=1, description=description,
                               continuous_update=True)
    play = widgets.Play(value=0, min=0, max=W - 1, step=1, interval=200, description="play")
    widgets.jslink((play, "value"), (slider, "value"))
    caption = widgets.HTML(
        f"<small>colour: {cmap}, {lo:.3g} (dark) to {hi:.3g} (bright); grey: not reached yet; "
        f"cyan line: the sweep's current column</small>")
    if hasattr(widgets, "Stack"):  # ipywidgets >= 8: all frames in the page, one shown at a time
        view = widgets.Stack(pictures, selected_index=0)
        widgets.jslink((slider, "value"), (view, "selected_index"))

        def show(change):
            view.selected_index = change["new"]
    else:  # ipywidgets 7: one Image widget, updated by the kernel
        view = widgets.Image(value=pictures[0].value, format="png")

        def show(change):
            view.value = pictures[change["new"]].value
    slider.observe(show, names="value")
    row = [view]
    if image is not None:  # shown once, at the heat map's height (PNG frames stay small)
        picture = widgets.Image(value=_png(_image_panel(image, H * pixel_size)), format="png")
        row = [picture, view]
    box = widgets.VBox([widgets.HBox([play, slider]), widgets.HBox(row), caption])
    box.frames = frames
    return box


# --------------------------------------------------------------------------------------------
# gru_cell_explorer (chapter 2)
# --------------------------------------------------------------------------------------------
_GATE_COLOUR, _STATE_COLOUR = "#e69f00", "#0072b2"


def _bar(value, signed):
    """A small inline-HTML bar: gates fill from the left over [0, 1], states grow from a centre line over [-1, 1]."""
    width = 120
    v = float(np.clip(value, -1.0, 1.0))
    if signed:
        length = abs(v) * width / 2
        left = width / 2 - (length if v < 0 else 0)
        colour = _STATE_COLOUR
        mid = (f'<div style="position:absolute;left:{width / 2 - 0.5}px;top:0;width:1px;height:14px;'
               'background:#555"></div>')
    else:
        length, left, colour, mid = v * width, 0, _GATE_COLOUR, ""
    return (f'<div style="position:relative;display:inline-block;width:{width}px;height:14px;background:#eee;'
            f'vertical-align:middle">{mid}<div style="position:absolute;left:{left:.1f}px;top:2px;'
            f'width:{length:.1f}px;height:10px;background:{colour}"></div></div>'
            f'<code style="margin-left:6px">{value:+.3f}</code>')


def _cell_readout(weights, x, h, update_shift=0.0, reset_shift=0.0):
    """Values and an HTML table of one GRU step (book convention) for the explorer."""
    from dataclasses import replace

    from gruseg.gru import gru_step

    w = replace(weights, b_z=weights.b_z + update_shift, b_r=weights.b_r + reset_shift)
    x = np.asarray(x, dtype=np.float64).reshape(1, -1)
    h = np.asarray(h, dtype=np.float64).reshape(1, -1)
    h_new, gates = gru_step(x, h, w)
    values = {"h": h[0], "r": gates["r"][0], "z": gates["z"][0], "h_tilde": gates["h_tilde"][0], "h_new": h_new[0]}
    rows = [("h<sub>t-1</sub>", "h", True, "old state"),
            ("r", "r", False, "reset gate: how much of h<sub>t-1</sub> the candidate sees"),
            ("h&#771;", "h_tilde", True, "candidate state (a proposal, not a gate)"),
            ("z", "z", False, "update gate: how much of the candidate is taken"),
            ("h<sub>t</sub>", "h_new", True, "new state = (1 &minus; z) h<sub>t-1</sub> + z h&#771;")]
    units = h.shape[1]
    head = "".join(f"<th style='text-align:left'>unit {u + 1}</th>" for u in range(units))
    body = ""
    for label, key, signed, note in rows:
        cells = "".join(f"<td>{_bar(values[key][u], signed)}</td>" for u in range(units))
        body += f"<tr><td><b>{label}</b></td>{cells}<td><small>{note}</small></td></tr>"
    sums = "<br>".join(
        f"unit {u + 1}: h<sub>t</sub> = (1 &minus; {values['z'][u]:.3f}) &times; {values['h'][u]:+.3f} "
        f"+ {values['z'][u]:.3f} &times; {values['h_tilde'][u]:+.3f} = {values['h_new'][u]:+.3f}"
        for u in range(units))
    html = (f"<table><tr><th></th>{head}<th></th></tr>{body}</table>"
            f"<div style='font-family:monospace;font-size:90%'>{sums}</div>")
    return values, html


def gru_cell_explorer(weights=None, *, units=2, reset_after=True, seed=0):
    """Sliders for one GRU step: move the input and the old state, watch ``r``, ``z``, ``h~`` and ``h'``.

    One step in the book's convention (:mod:`gruseg.gru`)::

        z = sigmoid(x W_xz + h W_hz + b_z)      r = sigmoid(x W_xr + h W_hr + b_r)
        h_tilde = tanh(x W_xh + r * (h W_hh + b_hh) + b_h)     (reset_after=True)
        h_new = (1 - z) * h + z * h_tilde

    Sliders set the scalar input ``x``, each unit of the old state ``h`` and two shifts added to
    the gate biases ``b_z`` and ``b_r`` (a large negative shift closes a gate: ``z -> 0`` keeps the
    old state, ``r -> 0`` hides it from the candidate). The readout is an HTML table of bars
    (gates in orange over [0, 1], states in blue over [-1, 1]) and the update written out with
    numbers. It is recomputed by the kernel (Jupyter, Colab) when a slider moves; on a static
    page (the built book) it shows the values at the sliders' starting positions.

    Args:
        weights: a :class:`gruseg.gru.GRUWeights` with ``input_dim == 1`` and 1 or 2 units; by
            default ``random_gru_weights(1, units, seed, reset_after, scale=1.0)`` (weights of
            order 1, so every slider visibly matters).
        units: 1 or 2 (only when ``weights`` is None).
        reset_after: the candidate's reset convention (only when ``weights`` is None).
        seed: seed of the default weights.

    Returns:
        an ``ipywidgets.VBox`` of the sliders and the readout. Its ``sliders`` attribute maps
        ``"x"``, ``"h1"`` (``"h2"``), ``"update_shift"``, ``"reset_shift"`` to the slider widgets,
        and ``values`` holds the current ``h``, ``r``, ``z``, ``h_tilde``, ``h_new`` arrays (U,).

    Example:
        >>> box = gru_cell_explorer(units=2, seed=0)
        >>> box.sliders["update_shift"].value = -6.0      # (nearly) close the update gate
        >>> bool(np.abs(box.values["h_new"] - box.values["h"]).max() < 0.01)   # the old state is kept
        True
    """
    import ipywidgets as widgets

    from gruseg.gru import GRUWeights, random_gru_weights

    if weights is None:
        units = _checks.integer("units", units, 1, 2)
        weights = random_gru_weights(1, units, seed=seed, reset_after=_checks.boolean("reset_after", reset_after),
                                     scale=1.0)
    elif not isinstance(weights, GRUWeights):
        raise ValueError(f"weights must be a gruseg.gru.GRUWeights or None, got {type(weights).__name__}")
    elif weights.input_dim != 1 or weights.units not in (1, 2):
        raise ValueError("weights must have input_dim=1 and 1 or 2 units (one slider each), "
                         f"got input_dim={weights.input_dim}, units={weights.units}")
    style = {"description_width": "150px"}
    layout = widgets.Layout(width="420px")

    def slider(description, value, lo, hi):
        return widgets.FloatSlider(value=value, min=lo, max=hi, step=0.05, description=description,
                                   continuous_update=True, style=style, layout=layout)

    sliders = {"x": slider("input x", 1.0, -3.0, 3.0)}
    for u, start in enumerate((0.5, -0.5)[:weights.units]):
        sliders[f"h{u + 1}"] = slider(f"old state h[{u + 1}]", start, -1.0, 1.0)
    sliders["update_shift"] = slider("update-gate bias shift", 0.0, -6.0, 6.0)
    sliders["reset_shift"] = slider("reset-gate bias shift", 0.0, -6.0, 6.0)
    readout = widgets.HTML()
    box = widgets.VBox([*sliders.values(), readout])
    box.sliders, box.readout = sliders, readout

    def refresh(_change=None):
        h = [sliders[f"h{u + 1}"].value for u in range(weights.units)]
        box.values, readout.value = _cell_readout(weights, [sliders["x"].value], h,
                                                  sliders["update_shift"].value, sliders["reset_shift"].value)

    for s in sliders.values():
        s.observe(refresh, names="value")
    refresh()
    return box
