"""Pictures for segmentation: coloured masks, overlays, training curves, gate and hidden-state maps.

matplotlib only. Every ``plot_*``/``show_*`` function builds a new Figure and returns it (it never
calls ``plt.show()``): in a notebook the returned figure is displayed, in a script call
``fig.savefig(...)``.

Class ``k`` is always drawn in ``PALETTE[k % len(PALETTE)]``, a fixed qualitative palette
(black for class 0, the background, then the Okabe-Ito colour-blind-safe colours), so the same
class has the same colour in every figure of the book.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from gruseg import _checks

__all__ = ["PALETTE", "colorize_mask", "overlay_mask", "show_samples", "show_segmentations", "plot_class_iou",
           "plot_history", "plot_gate_maps", "save_history_figure", "save_label_png", "save_rgb_png"]

#: RGB colours in [0, 1] for class ids 0, 1, 2, ... (class 0 = background = black).
PALETTE = np.array([
    (0.0, 0.0, 0.0),        # 0 background: black
    (0.902, 0.624, 0.0),    # orange
    (0.337, 0.706, 0.914),  # sky blue
    (0.0, 0.620, 0.451),    # bluish green
    (0.941, 0.894, 0.259),  # yellow
    (0.0, 0.447, 0.698),    # blue
    (0.835, 0.369, 0.0),    # vermillion
    (0.800, 0.475, 0.655),  # reddish purple
    (0.600, 0.600, 0.600),  # grey
    (1.0, 1.0, 1.0),        # white
], dtype=np.float32)


def _labels(mask, name="mask") -> np.ndarray:
    """Integer label map (H, W) from labels (H, W), (H, W, 1) or probabilities (H, W, C>1)."""
    mask = np.asarray(mask)
    if mask.ndim == 3 and mask.shape[-1] == 1:
        mask = mask[..., 0]
    elif mask.ndim == 3:
        mask = mask.argmax(axis=-1)
    if mask.ndim != 2:
        raise ValueError(f"{name} must have shape (H, W), (H, W, 1) or (H, W, num_classes), got {mask.shape}")
    if mask.size and (not np.issubdtype(mask.dtype, np.integer)):
        if not np.all(np.equal(np.mod(mask, 1), 0)):
            raise ValueError(f"{name} must hold integer class ids, got non-integer values of dtype {mask.dtype}")
        mask = mask.astype(np.int64)
    if mask.size and mask.min() < 0:
        raise ValueError(f"{name} must hold class ids >= 0, got minimum {mask.min()}")
    return mask.astype(np.int64, copy=False)


def _image(image, name="image") -> np.ndarray:
    """RGB float image (H, W, 3) in [0, 1] from float [0,1], uint8 [0,255], gray (H, W) or (H, W, 1)."""
    image = np.asarray(image)
    if image.ndim == 2:
        image = image[..., None]
    if image.ndim != 3 or image.shape[-1] not in (1, 3, 4):
        raise ValueError(f"{name} must have shape (H, W), (H, W, 1), (H, W, 3) or (H, W, 4), got {image.shape}")
    if image.shape[-1] == 1:
        image = np.repeat(image, 3, axis=-1)
    image = image[..., :3]
    if np.issubdtype(image.dtype, np.integer):
        image = image.astype(np.float32) / 255.0
    return np.clip(image.astype(np.float32), 0.0, 1.0)


def _palette(colors, needed: int) -> np.ndarray:
    if colors is None:
        reps = -(-max(needed, 1) // len(PALETTE))
        return np.tile(PALETTE, (reps, 1))[:max(needed, 1)]
    colors = np.asarray(colors, dtype=np.float32)
    if colors.ndim != 2 or colors.shape[1] != 3:
        raise ValueError(f"colors must be a sequence of RGB triples, got an array of shape {colors.shape}")
    if colors.max(initial=0) > 1.0:
        colors = colors / 255.0
    if len(colors) < needed:
        raise ValueError(f"colors must have one colour per class ({needed} needed), got {len(colors)}")
    return colors


def colorize_mask(mask, num_classes: int | None = None, colors=None) -> np.ndarray:
    """Map a label mask to an RGB picture: pixel of class ``k`` -> ``colors[k]`` (default ``PALETTE``).

    Args:
        mask: class ids (H, W) (or (H, W, 1), or probabilities (H, W, C), which are arg-maxed).
        num_classes: number of classes; labels must be below it (default: ``mask.max() + 1``).
        colors: optional (K, 3) RGB colours in [0, 1] or [0, 255].

    Returns:
        float32 array (H, W, 3) in [0, 1].

    Example:
        >>> colorize_mask(np.array([[0, 1], [2, 3]]), num_classes=4).shape
        (2, 2, 3)
    """
    labels = _labels(mask)
    top = int(labels.max(initial=0)) + 1
    if num_classes is None:
        num_classes = top
    elif _checks.num_classes("num_classes", num_classes) and top > num_classes:
        raise ValueError(f"mask holds class id {top - 1}, which is not below num_classes={num_classes}")
    palette = _palette(colors, num_classes)
    return palette[labels].astype(np.float32)


def overlay_mask(image, mask, alpha: float = 0.5, colors=None, background: int | None = 0) -> np.ndarray:
    """Blend a coloured mask over an image: ``out = (1 - alpha) * image + alpha * colour[mask]``.

    Pixels of class ``background`` keep the image's colour (pass ``background=None`` to tint
    every class).

    Args:
        image: (H, W, 3) float in [0, 1] or uint8, or grey (H, W).
        mask: class ids (H, W) of the same height and width (or probabilities (H, W, C)).
        alpha: opacity of the mask, in [0, 1].
        colors: optional (K, 3) RGB colours (default ``PALETTE``).
        background: class id left untinted, or None.

    Returns:
        float32 RGB array (H, W, 3) in [0, 1].

    Example:
        >>> overlay_mask(np.zeros((4, 4, 3)), np.ones((4, 4), int)).shape
        (4, 4, 3)
    """
    alpha = _checks.number("alpha", alpha, 0, 1)
    image = _image(image)
    labels = _labels(mask)
    if labels.shape != image.shape[:2]:
        raise ValueError(f"mask must have the image's height and width {image.shape[:2]}, got {labels.shape}")
    tint = colorize_mask(labels, colors=colors)
    out = (1.0 - alpha) * image + alpha * tint
    if background is not None:
        keep = labels == background
        out[keep] = image[keep]
    return np.clip(out, 0.0, 1.0).astype(np.float32)


def _legend(fig, class_names, num_classes, colors=None):
    from matplotlib.patches import Patch

    palette = _palette(colors, num_classes)
    names = list(class_names) if class_names is not None else [f"class {k}" for k in range(num_classes)]
    handles = [Patch(facecolor=palette[k], edgecolor="0.5", label=names[k]) for k in range(num_classes)]
    fig.legend(handles=handles, loc="lower center", ncol=min(num_classes, 6), frameon=False)


def _draw_row(axes, panels, titles=None):
    """One row of a grid figure: each picture without ticks, titled on the first row."""
    for j, panel in enumerate(panels):
        axes[j].imshow(panel, interpolation="nearest")
        axes[j].set_xticks([]), axes[j].set_yticks([])
        if titles is not None:
            axes[j].set_title(titles[j], fontsize=10)


def show_samples(images, masks, preds=None, class_names=None, max_items: int = 4, colors=None):
    """A grid with one row per sample: image | true mask | predicted mask (if ``preds``) | overlay.

    Args:
        images: (N, H, W, 3) images (float [0, 1] or uint8).
        masks: (N, H, W) true class ids.
        preds: optional (N, H, W) predicted ids or (N, H, W, C) probabilities.
        class_names: optional names, one per class (drawn as a legend).
        max_items: at most this many rows.
        colors: optional (K, 3) colours (default ``PALETTE``).

    Returns:
        matplotlib Figure.

    Example:
        >>> from gruseg.data import make_shapes
        >>> images, masks = make_shapes(4, size=32, seed=0)
        >>> fig = show_samples(images, masks, preds=masks, class_names=["bg", "circle", "square", "triangle"])
        >>> len(fig.axes) >= 12
        True
    """
    import matplotlib.pyplot as plt

    images, masks = np.asarray(images), np.asarray(masks)
    max_items = _checks.positive_int("max_items", max_items)
    if images.ndim == 3 and masks.ndim == 2:  # a single sample
        images, masks = images[None], masks[None]
        preds = None if preds is None else np.asarray(preds)[None]
    if len(images) != len(masks):
        raise ValueError(f"images and masks must have the same length, got {len(images)} and {len(masks)}")
    if len(images) == 0:
        raise ValueError("images must hold at least one sample, got 0")
    if preds is not None and len(preds) != len(images):
        raise ValueError(f"preds must have one entry per image ({len(images)}), got {len(preds)}")
    n = min(len(images), max_items)
    true = [_labels(m, "masks[i]") for m in masks[:n]]
    pred = None if preds is None else [_labels(p, "preds[i]") for p in np.asarray(preds)[:n]]
    num_classes = max(int(m.max(initial=0)) + 1 for m in true + (pred or []))
    if class_names is not None:
        if len(class_names) < num_classes:
            raise ValueError(f"class_names must name every class ({num_classes}), got {len(class_names)} names")
        num_classes = len(class_names)
    columns = ["image", "true mask"] + (["prediction", "overlay (prediction)"] if pred else ["overlay"])
    fig, axes = plt.subplots(n, len(columns), figsize=(2.4 * len(columns), 2.4 * n + 0.6), squeeze=False)
    for i in range(n):
        shown = pred[i] if pred else true[i]
        panels = [_image(images[i]), colorize_mask(true[i], num_classes, colors)]
        if pred:
            panels.append(colorize_mask(pred[i], num_classes, colors))
        panels.append(overlay_mask(images[i], shown, colors=colors))
        _draw_row(axes[i], panels, columns if i == 0 else None)
    _legend(fig, class_names, num_classes, colors)
    fig.tight_layout(rect=(0, 0.6 / (2.4 * n + 0.6), 1, 1))
    return fig


def _colorize_with_void(labels, num_classes, colors, void_label, name):
    """colorize_mask, with ``void_label`` pixels (any value) drawn black."""
    labels = _labels(labels, name)
    void = labels == void_label if void_label is not None else np.zeros(labels.shape, bool)
    top = int(labels[~void].max(initial=0))
    if top >= num_classes:
        raise ValueError(f"{name} holds class id {top}, which is not below num_classes={num_classes}"
                         + ("" if void_label is None else f" (void {void_label} excluded)"))
    picture = colorize_mask(np.where(void, 0, labels), num_classes, colors)
    picture[void] = 0.0
    return picture


def show_segmentations(images, masks, predictions=None, class_names=None, colors=None, void_label=None,
                       max_items: int = 4):
    """Photographs beside their ground truth and any number of models' predictions, in the classes' colours.

    One row per image: ``photograph | ground truth | <model 1> | <model 2> | ...``, with a legend of
    every class. Void pixels (``void_label``, e.g. CamVid's 11) are drawn black.

    Args:
        images: (N, H, W, 3) images (float [0, 1] or uint8).
        masks: (N, H, W) true labels (classes and, optionally, ``void_label``).
        predictions: optional mapping ``title -> (N, H, W) labels`` (or ``(N, H, W, C)`` probabilities).
        class_names: the names of the classes ``0 .. C-1`` (their number sets ``C``).
        colors: optional (C, 3) RGB colours (default ``PALETTE``).
        void_label: optional label drawn black and left out of the legend.
        max_items: at most this many rows.

    Returns:
        matplotlib Figure.

    Example:
        >>> masks = np.array([[[0, 1], [2, 9]]])
        >>> fig = show_segmentations(np.zeros((1, 2, 2, 3)), masks, {"model": np.zeros((1, 2, 2), int)},
        ...                          class_names=["a", "b", "c"], void_label=9)
        >>> [ax.get_title() for ax in fig.axes]
        ['photograph', 'ground truth', 'model']
    """
    import matplotlib.pyplot as plt

    images, masks = np.asarray(images), np.asarray(masks)
    max_items = _checks.positive_int("max_items", max_items)
    predictions = dict(predictions or {})
    if len(images) != len(masks) or len(images) == 0:
        raise ValueError(f"images and masks must hold the same number (>= 1) of samples, got {len(images)} and "
                         f"{len(masks)}")
    for title, pred in predictions.items():
        if len(pred) != len(images):
            raise ValueError(f"predictions[{title!r}] must have one entry per image ({len(images)}), got {len(pred)}")
    if class_names is None:
        valid = masks[masks != void_label] if void_label is not None else masks
        class_names = [f"class {k}" for k in range(int(valid.max(initial=0)) + 1)]
    num_classes = len(class_names)
    n = min(len(images), max_items)
    columns = ["photograph", "ground truth", *predictions]
    fig, axes = plt.subplots(n, len(columns), figsize=(2.6 * len(columns), 2.0 * n + 0.8), squeeze=False)
    for i in range(n):
        panels = [_image(images[i]), _colorize_with_void(masks[i], num_classes, colors, void_label, "masks[i]")]
        panels += [_colorize_with_void(p[i], num_classes, colors, void_label, f"predictions[{t!r}][i]")
                   for t, p in predictions.items()]
        _draw_row(axes[i], panels, columns if i == 0 else None)
    _legend(fig, class_names, num_classes, colors)
    rows = -(-num_classes // 6)
    fig.tight_layout(rect=(0, 0.3 * rows / (2.0 * n + 0.8), 1, 1))
    return fig


def plot_class_iou(ious, class_names, colors=None, ax=None):
    """Per-class IoU of several models as grouped bars: one group per class, one bar per model.

    Args:
        ious: mapping ``model name -> per-class IoU`` (C numbers in [0, 1]; None/NaN are drawn as 0).
        class_names: the C class names (the x axis).
        colors: optional one colour per model.
        ax: optional matplotlib Axes to draw into.

    Returns:
        matplotlib Figure.

    Example:
        >>> fig = plot_class_iou({"a": [0.5, 0.2], "b": [0.6, None]}, ["sky", "pole"])
        >>> len(fig.axes[0].patches)
        4
    """
    import matplotlib.pyplot as plt

    class_names = [str(c) for c in class_names]
    if not isinstance(ious, Mapping) or not ious:
        raise ValueError(f"ious must be a non-empty mapping model name -> per-class IoU, got {ious!r}")
    values = {}
    for name, row in ious.items():
        row = np.array([np.nan if v is None else float(v) for v in row], dtype=float)
        if row.shape != (len(class_names),):
            raise ValueError(f"ious[{name!r}] must hold one IoU per class ({len(class_names)}), got {row.size}")
        values[name] = np.nan_to_num(row)
    if ax is None:
        fig, ax = plt.subplots(figsize=(max(6.0, 0.75 * len(class_names) * max(1, len(values)) ** 0.5), 3.4))
    else:
        fig = ax.figure
    width = 0.8 / len(values)
    x = np.arange(len(class_names))
    for k, (name, row) in enumerate(values.items()):
        ax.bar(x + (k - (len(values) - 1) / 2) * width, row, width, label=name,
               color=None if colors is None else colors[k])
    ax.set_xticks(x, class_names, rotation=35, ha="right")
    ax.set_ylabel("test IoU")
    ax.set_ylim(0, 1)
    ax.legend(frameon=False, fontsize=9)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    return fig


def plot_history(history, metrics=("loss", "mean_iou")):
    """Training curves: one panel per metric, the training value and (if present) ``val_<metric>``.

    Args:
        history: a dict ``{name: [value per epoch]}`` (as returned by :func:`gruseg.training.train`) or a
            Keras ``History`` object.
        metrics: names to plot; each must be in ``history`` (with or without the ``val_`` prefix).

    Returns:
        matplotlib Figure.

    Example:
        >>> fig = plot_history({"loss": [1.0, 0.5], "val_loss": [1.1, 0.7]}, metrics=("loss",))
    """
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    history = getattr(history, "history", history)
    if not isinstance(history, Mapping):
        raise ValueError(f"history must be a dict of metric lists or a keras History, got {type(history).__name__}")
    if isinstance(metrics, str):
        metrics = (metrics,)
    metrics = list(metrics)
    if not metrics:
        raise ValueError("metrics must name at least one metric, got an empty sequence")
    for name in metrics:
        if name not in history and f"val_{name}" not in history:
            keys = sorted(k for k in history if k != "epoch")
            raise ValueError(f"metrics: {name!r} is not in history; available: {keys}")
    fig, axes = plt.subplots(1, len(metrics), figsize=(4.2 * len(metrics), 3.2), squeeze=False)
    for ax, name in zip(axes[0], metrics):
        for key, style in ((name, "-"), (f"val_{name}", "--")):
            if key in history and len(history[key]):
                values = np.asarray(history[key], dtype=float)
                epochs = np.asarray(history.get("epoch", range(1, len(values) + 1)))[: len(values)]
                label = "validation" if key.startswith("val_") else "training"
                ax.plot(epochs, values, style, marker="o", markersize=3, label=label)
        ax.set_title(name)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))   # epochs are whole numbers
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    return fig


def save_history_figure(history, path, metrics=("loss", "mean_iou", "pixel_accuracy")) -> None:
    """Draw :func:`plot_history` for the ``metrics`` present in ``history`` and save it to ``path``.

    Uses matplotlib's object-oriented API with the Agg canvas, so it works in a terminal
    without a display and never touches pyplot's global state.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    wanted = [m for m in metrics if m in history] or [k for k in history if k != "epoch"][:1]
    fig = plot_history(history, metrics=wanted)
    try:
        FigureCanvasAgg(fig)
        fig.savefig(path, dpi=100, format="png")
    finally:
        import matplotlib.pyplot as plt

        plt.close(fig)


def plot_gate_maps(maps, titles=None, cmap: str = "viridis", vmin=None, vmax=None, ncols: int | None = None,
                   suptitle: str | None = None):
    """Heat maps of gate values or hidden-state magnitudes, one panel per map.

    A gate map is a (H, W) array, e.g. the update gate ``z`` of a row sweep averaged over units:
    ``z.mean(axis=-1)``. All panels share one colour scale (``vmin``/``vmax``, default the common
    min and max) so they can be compared.

    Args:
        maps: a dict ``{title: (H, W) array}``, a list of (H, W) arrays, one (H, W) array, or an
            (N, H, W) stack.
        titles: titles for a list/stack (ignored for a dict, whose keys are the titles).
        cmap: matplotlib colour map name.
        vmin, vmax: colour scale limits.
        ncols: panels per row (default: all in one row, at most 4).
        suptitle: optional title above all panels.

    Returns:
        matplotlib Figure.

    Example:
        >>> z = np.linspace(0, 1, 64).reshape(8, 8)
        >>> fig = plot_gate_maps({"z (rows)": z, "z (columns)": z.T})
    """
    import matplotlib.pyplot as plt

    if isinstance(maps, Mapping):
        titles, arrays = list(maps.keys()), [np.asarray(v) for v in maps.values()]
    else:
        if isinstance(maps, np.ndarray) and maps.ndim == 2:
            arrays = [maps]
        elif isinstance(maps, np.ndarray) and maps.ndim == 3:
            arrays = list(maps)
        else:
            arrays = [np.asarray(m) for m in maps]
        titles = list(titles) if titles is not None else [f"map {i}" for i in range(len(arrays))]
        if len(titles) != len(arrays):
            raise ValueError(f"titles must have one entry per map ({len(arrays)}), got {len(titles)}")
    if not arrays:
        raise ValueError("maps must hold at least one map, got none")
    for title, arr in zip(titles, arrays):
        if arr.ndim != 2:
            raise ValueError(f"map {title!r} must be 2-D (H, W); average over units first, got shape {arr.shape}")
    lo = min(float(np.nanmin(a)) for a in arrays) if vmin is None else vmin
    hi = max(float(np.nanmax(a)) for a in arrays) if vmax is None else vmax
    if ncols is None:
        ncols = min(len(arrays), 4)
    ncols = _checks.positive_int("ncols", ncols)
    nrows = -(-len(arrays) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.2 * ncols, 3.0 * nrows), squeeze=False, layout="constrained")
    image = None
    for ax, title, arr in zip(axes.flat, titles, arrays):
        image = ax.imshow(arr, cmap=cmap, vmin=lo, vmax=hi, interpolation="nearest")
        ax.set_title(str(title), fontsize=10)
        ax.set_xticks([]), ax.set_yticks([])
    for ax in list(axes.flat)[len(arrays):]:
        ax.axis("off")
    fig.colorbar(image, ax=axes.ravel().tolist(), shrink=0.8)
    if suptitle:
        fig.suptitle(suptitle)
    return fig


def save_label_png(labels, path, num_classes=None, colors=None) -> None:
    """Save a (H, W) label map as a palette PNG: pixel values are the class ids, shown in colour.

    The file holds the class ids themselves (reading it back with PIL or ``gruseg.data.read_mask``
    gives the labels), and its palette maps id ``c`` to class ``c``'s colour, so an image viewer
    shows a coloured mask instead of a nearly black one. More than 256 classes: a 16-bit
    grayscale PNG (no palette is possible).

    Example:
        >>> save_label_png(np.array([[0, 1], [2, 1]]), "/tmp/mask.png", num_classes=3)   # doctest: +SKIP
    """
    from PIL import Image

    labels = _labels(labels)
    top = int(labels.max(initial=0)) + 1
    num_classes = top if num_classes is None else max(_checks.num_classes("num_classes", num_classes), top)
    if num_classes > 256:
        Image.fromarray(labels.astype(np.uint16)).save(path, format="PNG")
        return
    image = Image.fromarray(labels.astype(np.uint8), mode="P")
    palette = np.zeros((256, 3), np.uint8)
    palette[:num_classes] = np.round(_palette(colors, num_classes)[:num_classes] * 255).astype(np.uint8)
    image.putpalette(palette.ravel().tolist())
    image.save(path, format="PNG")


def save_rgb_png(array, path) -> None:
    """Save a float (H, W, 3) image in [0, 1] as an 8-bit RGB PNG."""
    from PIL import Image

    Image.fromarray(np.round(np.clip(np.asarray(array), 0, 1) * 255).astype(np.uint8)).save(path, format="PNG")

