"""One-call model builders: the article's model (corrected), ReSeg, a U-Net, and a U-Net with a ReNet bottleneck.

Every builder returns a ``keras.Model`` that maps images ``(B, H, W, C)`` to per-pixel class
**probabilities** ``(B, H, W, num_classes)`` (softmax, float32) at the input resolution. Masks are
sparse integer labels ``(B, H, W)``; train with ``SparseCategoricalCrossentropy`` (see
:func:`gruseg.training.compile_segmenter`).

``MODEL_BUILDERS`` maps the names the command line accepts to the builders, and
:func:`build_model` looks a name up in it. ``SWEEPS`` is the one vocabulary of recurrent sweeps
across builders: ``"row"`` (:class:`~gruseg.layers.RowGRU2D`, one GRU along each row),
``"renet"`` (:class:`~gruseg.layers.ReNet2D`, bidirectional GRUs over rows and columns) and
``"mingru"`` (:class:`~gruseg.layers.MinGRUSweep2D`, the same with minGRU cells).

Matched sizes (about 180-200k parameters for 3 input channels and 2 classes)::

    build_reseg()                                # 2 stride-2 convs, ReNet2D(48) x 2, 2 transposed convs
    build_unet(base_filters=10, depth=3)         # 10-20-40 filters, bottleneck 80, 3 poolings
    build_renet_unet()                           # a U-Net with a ReNet2D sweep as its bottleneck

A U-Net's size is set almost entirely by its deepest level: keeping ``base_filters * 2**depth``
at 80 keeps it at ~180-195k parameters whatever the depth (20/2, 10/3, 5/4), so depth (receptive
field) can be varied at a fixed budget.

Batch normalisation: every builder takes ``bn_momentum`` (default 0.9). Keras' default of 0.99
averages the batch statistics over ~100 steps; a run of a few hundred steps then predicts with
statistics from its first, untrained epochs (chapter 4 measures the difference).
"""

from __future__ import annotations

import keras
from keras import layers

from gruseg import _checks
from gruseg.errors import GrusegError
from gruseg.layers import MinGRUSweep2D, ReNet2D, RowGRU2D

__all__ = ["build_article_model", "build_seed_model", "build_reseg", "build_unet", "build_renet_unet",
           "build_model", "MODEL_BUILDERS", "SWEEPS", "size_multiple"]

SWEEPS = ("row", "renet", "mingru")
"""The recurrent sweeps a builder can use (see the module docstring)."""


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------
class _Seeds:
    """Hands out a fresh initializer seed per layer (None when the model is unseeded)."""

    def __init__(self, seed):
        self.seed = _checks.seed("seed", seed)
        self.k = 0

    def __call__(self):
        self.k += 1
        return None if self.seed is None else self.seed * 1000 + self.k

    def glorot(self):
        return keras.initializers.GlorotUniform(seed=self())

    def he(self):
        return keras.initializers.HeNormal(seed=self())


class _Blocks:
    """The conv blocks of one model: shared seeds and batch-norm settings."""

    def __init__(self, seed, batch_norm, bn_momentum):
        self.seeds = _Seeds(seed)
        self.batch_norm = _checks.boolean("batch_norm", batch_norm)
        self.bn_momentum = _checks.number("bn_momentum", bn_momentum, 0, 1, open_min=True, open_max=True)

    def norm_relu(self, x, name):
        if self.batch_norm:
            x = layers.BatchNormalization(momentum=self.bn_momentum, name=f"{name}_bn")(x)
        return layers.Activation("relu", name=f"{name}_relu")(x)

    def conv(self, x, filters, strides, name, kernel_size=3):
        """Conv -> (BN) -> ReLU."""
        x = layers.Conv2D(filters, kernel_size, strides=strides, padding="same", use_bias=not self.batch_norm,
                          kernel_initializer=self.seeds.he(), name=f"{name}_conv")(x)
        return self.norm_relu(x, name)

    def double_conv(self, x, filters, name):
        return self.conv(self.conv(x, filters, 1, f"{name}a"), filters, 1, f"{name}b")

    def softmax_head(self, x, num_classes, name="classifier"):
        """1x1 conv to class scores, then a float32 softmax (safe under mixed precision)."""
        x = layers.Conv2D(num_classes, 1, kernel_initializer=self.seeds.glorot(), name=name)(x)
        return layers.Activation("softmax", dtype="float32", name="probabilities")(x)

    def sweep(self, x, kind, units, name, dropout=0.0, reset_after=True, patch_size=1, order="rows_first"):
        """A recurrent sweep layer of one of :data:`SWEEPS`."""
        if kind == "row":
            return RowGRU2D(units, dropout=dropout, reset_after=reset_after, seed=self.seeds(), name=name)(x)
        if kind == "renet":
            return ReNet2D(units, dropout=dropout, reset_after=reset_after, seed=self.seeds(), patch_size=patch_size,
                           order=order, name=name)(x)
        return MinGRUSweep2D(units, dropout=dropout, seed=self.seeds(), patch_size=patch_size, order=order,
                             name=name)(x)


def _check_input_shape(input_shape, multiple):
    """(H, W, C) with H, W None or divisible by ``multiple`` and C a positive int."""
    if not isinstance(input_shape, (tuple, list)) or len(input_shape) != 3:
        raise ValueError(f"input_shape must be (height, width, channels), got {input_shape!r}")
    h, w, c = input_shape
    _checks.positive_int(f"input_shape channels (in {tuple(input_shape)})", c)
    for name, v in (("height", h), ("width", w)):
        if v is None:
            continue
        _checks.positive_int(f"input_shape {name}", v)
        if v % multiple:
            fix = max(multiple, round(v / multiple) * multiple)
            raise GrusegError(
                f"input_shape {name} {v} is not divisible by {multiple} (this model downsamples "
                f"{multiple}x and must upsample back to the same size); resize images to a multiple "
                f"of {multiple}, e.g. {fix}"
            )
    return tuple(int(v) if v is not None else None for v in input_shape)


def size_multiple(model) -> int:
    """The number an input side must be divisible by for ``model`` (1 when any size works).

    Read from the model's downsampling layers (strided convs, poolings, patches), so it also
    holds for models built with ``input_shape=(None, None, C)``.

    Example:
        >>> size_multiple(build_unet((None, None, 3), 2, depth=3))
        8
    """
    factor = 1
    for layer in _all_layers(model):
        strides = getattr(layer, "strides", None)
        if isinstance(layer, (layers.Conv2D, layers.MaxPooling2D, layers.AveragePooling2D)) and \
                not isinstance(layer, layers.Conv2DTranspose) and strides:
            factor *= int(strides[0])
        factor *= int(getattr(layer, "patch_size", 1) or 1)
    return factor


def _all_layers(model):
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            yield from _all_layers(layer)
        else:
            yield layer


# --------------------------------------------------------------------------------------------
# the article's model, corrected
# --------------------------------------------------------------------------------------------
def build_article_model(input_shape=(256, 256, 3), num_classes=2, units=128, filters=(32, 64), sweep="row",
                        dropout=0.0, batch_norm=True, bn_momentum=0.9, seed=None, name="article_model"):
    """The article's segmentation model (section 4), with every error fixed so that it runs.

    Same intent as the article: conv block (downsamples 4x) -> a GRU over the feature map ->
    conv block -> transposed conv back to the input size -> per-pixel softmax::

        (B, H, W, C) -> conv_block(32, stride 2, 2 convs)  -> (B, H/4, W/4, 32)
                     -> RowGRU2D(units) over every row     -> (B, H/4, W/4, units)
                     -> conv_block(64, stride 1, 2 convs)  -> (B, H/4, W/4, 64)
                     -> Conv2DTranspose(num_classes, 8, stride 4) -> softmax -> (B, H, W, num_classes)

    What was fixed, and how:

    1. ``conv_block`` used ``inputs`` before defining it (``NameError``): it now takes the tensor
       to transform.
    2. ``gru_layer`` built a second ``Input`` that nothing fed, so the graph was disconnected: the
       GRU is now a layer applied to the conv block's output.
    3. A ``GRU`` was fed a 4-D feature map (it needs ``(batch, time, features)``): each row of
       the feature map is now one sequence, all rows as one batch (:class:`~gruseg.layers.RowGRU2D`;
       ``sweep="renet"`` uses the bidirectional row+column :class:`~gruseg.layers.ReNet2D` and
       ``sweep="mingru"`` :class:`~gruseg.layers.MinGRUSweep2D`, with ``units // 2`` per direction
       so that the channel count stays ``units``).
    4. ``layers.Model`` does not exist: ``keras.Model``.
    5. The output was half the input size: two stride-2 convs make 256 -> 64, and one stride-2
       transposed conv only gets back to 128. The transposed conv now has stride 4 (kernel 8,
       a multiple of the stride, which avoids checkerboard artefacts): 64 -> 256.
    6. The GRU's hard-coded ``(None, 32, 32, 32)`` shape (wrong for a 256 input, whose map is
       64x64) is gone: shapes come from the tensors.
    7. ``recurrent_dropout`` is dropped (it disables the cuDNN kernel); ``dropout`` on the GRU's
       input is kept as an option.
    8. Not in the model but in its use: the article compiles with ``categorical_crossentropy``
       while masks are integer labels; use ``SparseCategoricalCrossentropy`` (as
       :func:`gruseg.training.compile_segmenter` does).

    Args:
        input_shape: (H, W, C); H and W None or divisible by 4. Default (256, 256, 3) as in the article.
        num_classes: int >= 2.
        units: GRU hidden units (the article: 128).
        filters: (first block, second block) conv filters, the article's (32, 64).
        sweep: one of :data:`SWEEPS`: ``"row"`` (one GRU along each row, the article's intent),
            ``"renet"`` or ``"mingru"``.
        dropout: input dropout of the GRU, in [0, 1).
        batch_norm: batch normalisation after each conv.
        bn_momentum: BatchNormalization momentum in (0, 1).
        seed: None or int; same seed -> identical initial weights.
        name: model name.

    Returns:
        ``keras.Model`` (B, H, W, C) -> (B, H, W, num_classes) probabilities.

    Example:
        >>> model = build_article_model()
        >>> model.output_shape
        (None, 256, 256, 2)
    """
    input_shape = _check_input_shape(input_shape, 4)
    num_classes = _checks.num_classes("num_classes", num_classes)
    units = _checks.positive_int("units", units)
    filters = _checks.int_tuple("filters", filters, length=2)
    sweep = _checks.choice("sweep", sweep, SWEEPS)
    if sweep != "row" and units < 2:
        raise ValueError(f"units must be >= 2 with sweep={sweep!r} (units // 2 per direction), got {units!r}")
    dropout = _checks.fraction("dropout", dropout)
    blocks = _Blocks(seed, batch_norm, bn_momentum)

    inputs = keras.Input(shape=input_shape, name="image")
    x = blocks.conv(inputs, filters[0], 2, "block1a")
    x = blocks.conv(x, filters[0], 2, "block1b")
    if sweep == "row":
        x = blocks.sweep(x, "row", units, "row_gru", dropout=dropout)
    else:
        x = blocks.sweep(x, sweep, units // 2, "renet" if sweep == "renet" else "mingru", dropout=dropout)
    x = blocks.conv(x, filters[1], 1, "block2a")
    x = blocks.conv(x, filters[1], 1, "block2b")
    x = layers.Conv2DTranspose(num_classes, 8, strides=4, padding="same", kernel_initializer=blocks.seeds.glorot(),
                               name="upsample")(x)
    outputs = layers.Activation("softmax", dtype="float32", name="probabilities")(x)
    return keras.Model(inputs, outputs, name=name)


build_seed_model = build_article_model
"""The name :func:`build_article_model` had before 0.2 ("seed" as in the article's seed model)."""


# --------------------------------------------------------------------------------------------
# ReSeg-style GRU segmenter
# --------------------------------------------------------------------------------------------
def build_reseg(input_shape=(None, None, 3), num_classes=2, filters=(16, 32), renet_units=(48, 48),
                reset_after=True, dropout=0.0, sweep="renet", patch_size=1, order="rows_first", batch_norm=True,
                bn_momentum=0.9, seed=None, name="reseg"):
    """A ReSeg-style segmenter (Visin et al. 2016): conv encoder, ReNet sweeps, transposed-conv decoder.

    ::

        (B, H, W, C) -> [Conv 3x3 stride 2 -> BN -> ReLU] per entry of filters -> (B, H/2^n, W/2^n, filters[-1])
                     -> ReNet2D(u) per entry of renet_units (2u channels each) -> (B, H/2^n, W/2^n, 2u)
                     -> [Conv2DTranspose 3x3 stride 2 -> BN -> ReLU], filters reversed   -> (B, H, W, filters[0])
                     -> Conv 1x1 -> softmax                                              -> (B, H, W, num_classes)

    After the encoder every ReNet output pixel depends on the whole image, whatever its size:
    the receptive field is global, which a CNN of the same size only reaches by pooling deeper.
    The defaults (about 187k parameters with 3 input channels and 2 classes) match
    ``build_unet(base_filters=10, depth=3)``. Unlike the published ReSeg, which stood on an
    ImageNet-pretrained VGG-16, this one is trained from scratch on shallow features.

    Args:
        input_shape: (H, W, C); H and W None (any size at call time, which must then be divisible
            by ``2**len(filters) * patch_size``) or divisible by it.
        num_classes: int >= 2.
        filters: encoder conv filters, one stride-2 conv per entry (decoder mirrors them).
        renet_units: units of each sweep layer, one layer per entry.
        reset_after: GRU candidate form (True: cuDNN-compatible; False: faster on CPU).
        dropout: GRU input dropout in [0, 1).
        sweep: ``"renet"`` (:class:`~gruseg.layers.ReNet2D`) or ``"mingru"``
            (:class:`~gruseg.layers.MinGRUSweep2D`, sequential scan).
        patch_size: patch size of the first sweep layer (ReNet's non-overlapping patches); with
            ``p > 1`` the decoder gets one extra 2x transposed conv per factor 2 (``p`` a power of 2).
        order: ``"rows_first"`` or ``"columns_first"`` (ReNet/ReSeg's order) for every sweep.
        batch_norm: batch normalisation after each conv.
        bn_momentum: BatchNormalization momentum in (0, 1).
        seed: None or int; same seed -> identical initial weights.
        name: model name.

    Returns:
        ``keras.Model`` (B, H, W, C) -> (B, H, W, num_classes) probabilities.

    Example:
        >>> model = build_reseg(input_shape=(64, 64, 3), num_classes=2, seed=0)
        >>> model.output_shape
        (None, 64, 64, 2)
    """
    filters = _checks.int_tuple("filters", filters)
    renet_units = _checks.int_tuple("renet_units", renet_units)
    patch_size = _checks.positive_int("patch_size", patch_size)
    if patch_size & (patch_size - 1):
        raise ValueError(f"patch_size must be a power of 2 in build_reseg (the decoder upsamples 2x per "
                         f"step), got {patch_size}")
    input_shape = _check_input_shape(input_shape, 2 ** len(filters) * patch_size)
    num_classes = _checks.num_classes("num_classes", num_classes)
    reset_after = _checks.boolean("reset_after", reset_after)
    dropout = _checks.fraction("dropout", dropout)
    sweep = _checks.choice("sweep", sweep, ("renet", "mingru"))
    blocks = _Blocks(seed, batch_norm, bn_momentum)

    inputs = keras.Input(shape=input_shape, name="image")
    x = inputs
    for i, f in enumerate(filters, start=1):
        x = blocks.conv(x, f, 2, f"enc{i}")
    for i, u in enumerate(renet_units, start=1):
        x = blocks.sweep(x, sweep, u, f"{sweep}{i}", dropout=dropout, reset_after=reset_after,
                         patch_size=patch_size if i == 1 else 1, order=order)
    ups = [filters[0]] * (patch_size.bit_length() - 1) + list(reversed(filters))
    for i, f in enumerate(ups, start=1):
        x = layers.Conv2DTranspose(f, 3, strides=2, padding="same", use_bias=not blocks.batch_norm,
                                   kernel_initializer=blocks.seeds.he(), name=f"dec{i}_upconv")(x)
        x = blocks.norm_relu(x, f"dec{i}")
    outputs = blocks.softmax_head(x, num_classes)
    return keras.Model(inputs, outputs, name=name)


# --------------------------------------------------------------------------------------------
# U-Net baseline, and the U-Net with a ReNet bottleneck
# --------------------------------------------------------------------------------------------
def _unet(input_shape, num_classes, base_filters, depth, blocks, bottleneck, name):
    """Encoder levels, ``bottleneck(x, filters)``, decoder levels with skips, softmax head."""
    inputs = keras.Input(shape=input_shape, name="image")
    x, skips = inputs, []
    for level in range(depth):
        x = blocks.double_conv(x, base_filters * 2 ** level, f"down{level + 1}")
        skips.append(x)
        x = layers.MaxPooling2D(2, name=f"pool{level + 1}")(x)
    x = bottleneck(x, base_filters * 2 ** depth)
    for level in reversed(range(depth)):
        f = base_filters * 2 ** level
        x = layers.Conv2DTranspose(f, 2, strides=2, kernel_initializer=blocks.seeds.he(),
                                   name=f"up{level + 1}_upconv")(x)
        x = layers.Concatenate(name=f"up{level + 1}_skip")([x, skips[level]])
        x = blocks.double_conv(x, f, f"up{level + 1}")
    return keras.Model(inputs, blocks.softmax_head(x, num_classes), name=name)


def build_unet(input_shape=(None, None, 3), num_classes=2, base_filters=10, depth=3, batch_norm=True,
               bn_momentum=0.9, seed=None, name="unet"):
    """A U-Net (Ronneberger et al. 2015), the CNN baseline.

    ::

        level l = 0..depth-1:  2 x [Conv 3x3 -> BN -> ReLU] with base_filters * 2**l filters, MaxPool 2
        bottleneck:            2 x [Conv 3x3 -> BN -> ReLU] with base_filters * 2**depth filters
        back up each level:    Conv2DTranspose 2x2 stride 2, concatenate the skip, 2 x [Conv 3x3 -> BN -> ReLU]
        head:                  Conv 1x1 -> softmax

    Shapes: (B, H, W, C) -> (B, H/2**depth, W/2**depth, base_filters*2**depth) at the bottleneck ->
    (B, H, W, num_classes). The receptive field grows with ``depth`` (nominally
    ``gruseg.book.unet_receptive_field(depth)`` pixels: 44, 96, 200 for depth 2, 3, 4).

    Matching parameters: the deepest level dominates, so ``base_filters * 2**depth = 80`` gives
    ~180-195k parameters at any depth (20/2, 10/3, 5/4), comparable to :func:`build_reseg`'s
    defaults.

    Args:
        input_shape: (H, W, C); H and W None or divisible by ``2**depth`` (others are refused with
            :class:`~gruseg.errors.GrusegError`, a ``ValueError``).
        num_classes: int >= 2.
        base_filters: filters of the first level (doubled per level).
        depth: number of poolings.
        batch_norm: batch normalisation after each conv.
        bn_momentum: BatchNormalization momentum in (0, 1).
        seed: None or int; same seed -> identical initial weights.
        name: model name.

    Returns:
        ``keras.Model`` (B, H, W, C) -> (B, H, W, num_classes) probabilities.

    Example:
        >>> build_unet(input_shape=(64, 64, 3), num_classes=4, base_filters=10, depth=3).output_shape
        (None, 64, 64, 4)
    """
    base_filters = _checks.positive_int("base_filters", base_filters)
    depth = _checks.positive_int("depth", depth)
    input_shape = _check_input_shape(input_shape, 2 ** depth)
    num_classes = _checks.num_classes("num_classes", num_classes)
    blocks = _Blocks(seed, batch_norm, bn_momentum)
    return _unet(input_shape, num_classes, base_filters, depth, blocks,
                 lambda x, f: blocks.double_conv(x, f, "bottleneck"), name)


def build_renet_unet(input_shape=(None, None, 3), num_classes=2, base_filters=12, depth=3, renet_units=32,
                     bottleneck_filters=None, reset_after=True, dropout=0.0, patch_size=1, order="rows_first",
                     batch_norm=True, bn_momentum=0.9, seed=None, name="renet_unet"):
    """A U-Net whose bottleneck is a ReNet sweep: global context where the map is small, skips for detail.

    The hybrid of Yan et al. 2016 ("Combining the best of convolutional layers and recurrent layers:
    a hybrid network for semantic segmentation"), from scratch. Encoder, decoder and skips are
    :func:`build_unet`'s; the bottleneck's double conv is replaced by::

        Conv 3x3 (F) -> BN -> ReLU -> ReNet2D(renet_units) (2u channels) -> Conv 1x1 (F) -> BN -> ReLU

    with ``F = bottleneck_filters`` (None: ``base_filters * 2**(depth - 1)``, the deepest encoder
    level's width, half the U-Net's ``base_filters * 2**depth``). At the
    bottleneck the map is ``H/2**depth x W/2**depth`` (15 x 20 for a 120 x 160 CamVid image at
    depth 3), so the four sweeps are short and cheap, and every bottleneck position, hence every
    output pixel, depends on the whole image.

    The defaults spend the parameters the sweep saves where the detail is: wider encoder and
    decoder levels (12/24/48 filters against the U-Net's 10/20/40) and a narrower bottleneck
    (48 filters against 80). They have about 197k parameters with 3 input channels and 11 classes,
    within 4 % of ``build_unet()``'s 190k; on CamVid this allocation scored better than the
    U-Net-width one (``base_filters=10, bottleneck_filters=80``: 178k), see ``benchmarks/README.md``
    ("Real images").

    Args:
        input_shape: (H, W, C); H and W None or divisible by ``2**depth * patch_size``.
        num_classes: int >= 2.
        base_filters: filters of the first level (doubled per level).
        depth: number of poolings.
        renet_units: units of each of the bottleneck sweep's four GRUs.
        bottleneck_filters: F, the filters of the convs around the sweep; None: ``base_filters * 2**(depth - 1)``.
        reset_after: GRU candidate form (True: cuDNN-compatible; False: faster on CPU).
        dropout: GRU input dropout in [0, 1).
        patch_size: ReNet patch size at the bottleneck (1: every position is a sequence element).
        order: ``"rows_first"`` or ``"columns_first"``.
        batch_norm: batch normalisation after each conv.
        bn_momentum: BatchNormalization momentum in (0, 1).
        seed: None or int; same seed -> identical initial weights.
        name: model name.

    Returns:
        ``keras.Model`` (B, H, W, C) -> (B, H, W, num_classes) probabilities.

    Example:
        >>> model = build_renet_unet(input_shape=(120, 160, 3), num_classes=11)
        >>> model.output_shape, model.count_params()
        ((None, 120, 160, 11), 197447)
    """
    base_filters = _checks.positive_int("base_filters", base_filters)
    depth = _checks.positive_int("depth", depth)
    renet_units = _checks.positive_int("renet_units", renet_units)
    if bottleneck_filters is not None:
        bottleneck_filters = _checks.positive_int("bottleneck_filters", bottleneck_filters)
    patch_size = _checks.positive_int("patch_size", patch_size)
    input_shape = _check_input_shape(input_shape, 2 ** depth * patch_size)
    num_classes = _checks.num_classes("num_classes", num_classes)
    dropout = _checks.fraction("dropout", dropout)
    blocks = _Blocks(seed, batch_norm, bn_momentum)

    def bottleneck(x, filters):
        filters = bottleneck_filters or filters // 2
        x = blocks.conv(x, filters, 1, "bottleneck_in")
        x = blocks.sweep(x, "renet", renet_units, "renet", dropout=dropout, reset_after=reset_after,
                         patch_size=patch_size, order=order)
        if patch_size > 1:
            x = layers.UpSampling2D(patch_size, name="renet_unpatch")(x)
        return blocks.conv(x, filters, 1, "bottleneck_out", kernel_size=1)

    return _unet(input_shape, num_classes, base_filters, depth, blocks, bottleneck, name)


# --------------------------------------------------------------------------------------------
# name -> builder
# --------------------------------------------------------------------------------------------
MODEL_BUILDERS = {
    "reseg": build_reseg,
    "unet": build_unet,
    "renet-unet": build_renet_unet,
    "article": build_article_model,
}
"""Model names the command line accepts, mapped to their builders."""

MODEL_ALIASES = {"seed": "article"}
"""Old names still accepted (``"seed"`` was the article's "seed" model before 0.2)."""


def build_model(name, input_shape=None, num_classes=2, **kwargs):
    """Build a model by name: ``MODEL_BUILDERS[name](input_shape=..., num_classes=..., **kwargs)``.

    Args:
        name: one of ``MODEL_BUILDERS`` (``"reseg"``, ``"unet"``, ``"renet-unet"``, ``"article"``).
        input_shape: (H, W, C), or None for the builder's default.
        num_classes: int >= 2.
        **kwargs: passed to the builder.

    Returns:
        A ``keras.Model`` producing (B, H, W, num_classes) probabilities.

    Raises:
        GrusegError: unknown ``name`` (the message lists the known names).

    Example:
        >>> build_model("unet", (32, 32, 3), 3, base_filters=8, depth=2).output_shape
        (None, 32, 32, 3)
    """
    builder = MODEL_BUILDERS.get(MODEL_ALIASES.get(name, name))
    if builder is None:
        raise GrusegError(f"unknown model {name!r}; choose one of: {', '.join(sorted(MODEL_BUILDERS))}")
    if input_shape is not None:
        kwargs["input_shape"] = tuple(input_shape)
    return builder(num_classes=num_classes, **kwargs)
