"""One-call model builders: the article's model (corrected), a ReSeg-style GRU segmenter, a U-Net.

Every builder returns a ``keras.Model`` that maps images ``(B, H, W, C)`` to per-pixel class
**probabilities** ``(B, H, W, num_classes)`` (softmax, float32) at the input resolution. Masks are
sparse integer labels ``(B, H, W)``; train with ``SparseCategoricalCrossentropy``.

``MODEL_BUILDERS`` maps the names the command line accepts to the builders, and
:func:`build_model` looks a name up in it.

Matched sizes (about 185-200k parameters, see ``FINDINGS.md``)::

    build_reseg()                                # 2 stride-2 convs, ReNet2D(48) x 2, 2 transposed convs
    build_unet(base_filters=10, depth=3)         # 10-20-40 filters, bottleneck 80, 3 poolings

A U-Net's size is set almost entirely by its deepest level: keeping ``base_filters * 2**depth``
at 80 keeps it at ~180-195k parameters whatever the depth (20/2, 10/3, 5/4), so depth (receptive
field) can be varied at a fixed budget.
"""

from __future__ import annotations

import keras
from keras import layers

from gruseg.errors import GrusegError
from gruseg.layers import MinGRUSweep2D, ReNet2D, RowGRU2D, _check_bool, _check_dropout, _check_seed

__all__ = ["build_seed_model", "build_reseg", "build_unet", "build_model", "MODEL_BUILDERS"]


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------
class _Seeds:
    """Hands out a fresh initializer seed per layer (None when the model is unseeded)."""

    def __init__(self, seed):
        self.seed = _check_seed(seed)
        self.k = 0

    def __call__(self):
        self.k += 1
        return None if self.seed is None else self.seed * 1000 + self.k

    def glorot(self):
        return keras.initializers.GlorotUniform(seed=self())

    def he(self):
        return keras.initializers.HeNormal(seed=self())


def _positive_int(name, value):
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return value


def _int_tuple(name, value):
    if isinstance(value, int) and not isinstance(value, bool):
        value = (value,)
    if not isinstance(value, (tuple, list)) or not value:
        raise ValueError(f"{name} must be a non-empty tuple of positive integers, got {value!r}")
    for v in value:
        if isinstance(v, bool) or not isinstance(v, int) or v <= 0:
            raise ValueError(f"{name} must be a non-empty tuple of positive integers, got {value!r}")
    return tuple(value)


def _check_num_classes(num_classes):
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 2:
        raise ValueError(f"num_classes must be an integer >= 2, got {num_classes!r}")
    return num_classes


def _check_input_shape(input_shape, multiple):
    """(H, W, C) with H, W None or divisible by ``multiple`` and C a positive int."""
    if not isinstance(input_shape, (tuple, list)) or len(input_shape) != 3:
        raise ValueError(f"input_shape must be (height, width, channels), got {input_shape!r}")
    h, w, c = input_shape
    if isinstance(c, bool) or not isinstance(c, int) or c <= 0:
        raise ValueError(f"input_shape channels must be a positive integer, got {c!r} in {tuple(input_shape)}")
    for name, v in (("height", h), ("width", w)):
        if v is None:
            continue
        if isinstance(v, bool) or not isinstance(v, int) or v <= 0:
            raise ValueError(f"input_shape {name} must be None or a positive integer, got {v!r}")
        if v % multiple:
            fix = max(multiple, round(v / multiple) * multiple)
            raise GrusegError(
                f"input_shape {name} {v} is not divisible by {multiple} (this model downsamples "
                f"{multiple}x and must upsample back to the same size); resize images to a multiple "
                f"of {multiple}, e.g. {fix}"
            )
    return tuple(input_shape)


def _softmax_head(x, num_classes, seeds, name="classifier"):
    """1x1 conv to class scores, then a float32 softmax (safe under mixed precision)."""
    x = layers.Conv2D(num_classes, 1, kernel_initializer=seeds.glorot(), name=name)(x)
    return layers.Activation("softmax", dtype="float32", name="probabilities")(x)


def _conv_bn_relu(x, filters, strides, seeds, name, batch_norm=True, kernel_size=3):
    x = layers.Conv2D(filters, kernel_size, strides=strides, padding="same", use_bias=not batch_norm,
                      kernel_initializer=seeds.he(), name=f"{name}_conv")(x)
    if batch_norm:
        x = layers.BatchNormalization(name=f"{name}_bn")(x)
    return layers.Activation("relu", name=f"{name}_relu")(x)


# --------------------------------------------------------------------------------------------
# the article's model, corrected
# --------------------------------------------------------------------------------------------
def build_seed_model(input_shape=(256, 256, 3), num_classes=2, units=128, filters=(32, 64),
                     sweep="row", dropout=0.0, seed=None, name="seed_model"):
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
       ``sweep="renet"`` uses the bidirectional row+column :class:`~gruseg.layers.ReNet2D` instead,
       with ``units // 2`` per direction so that the channel count stays ``units``).
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
        sweep: ``"row"`` (one GRU along each row, the article's intent) or ``"renet"``.
        dropout: input dropout of the GRU, in [0, 1).
        seed: None or int; same seed -> identical initial weights.
        name: model name.

    Returns:
        ``keras.Model`` (B, H, W, C) -> (B, H, W, num_classes) probabilities.

    Example:
        >>> model = build_seed_model()
        >>> model.output_shape
        (None, 256, 256, 2)
    """
    input_shape = _check_input_shape(input_shape, 4)
    num_classes = _check_num_classes(num_classes)
    units = _positive_int("units", units)
    filters = _int_tuple("filters", filters)
    if len(filters) != 2:
        raise ValueError(f"filters must be two integers (first block, second block), got {filters!r}")
    if sweep not in ("row", "renet"):
        raise ValueError(f"sweep must be 'row' or 'renet', got {sweep!r}")
    if sweep == "renet" and units < 2:
        raise ValueError(f"units must be >= 2 with sweep='renet' (units // 2 per direction), got {units!r}")
    dropout = _check_dropout(dropout)
    seeds = _Seeds(seed)

    inputs = keras.Input(shape=input_shape, name="image")
    x = _conv_bn_relu(inputs, filters[0], 2, seeds, "block1a")
    x = _conv_bn_relu(x, filters[0], 2, seeds, "block1b")
    if sweep == "row":
        x = RowGRU2D(units, dropout=dropout, seed=seeds(), name="row_gru")(x)
    else:
        x = ReNet2D(units // 2, dropout=dropout, seed=seeds(), name="renet")(x)
    x = _conv_bn_relu(x, filters[1], 1, seeds, "block2a")
    x = _conv_bn_relu(x, filters[1], 1, seeds, "block2b")
    x = layers.Conv2DTranspose(num_classes, 8, strides=4, padding="same", kernel_initializer=seeds.glorot(),
                               name="upsample")(x)
    outputs = layers.Activation("softmax", dtype="float32", name="probabilities")(x)
    return keras.Model(inputs, outputs, name=name)


# --------------------------------------------------------------------------------------------
# ReSeg-style GRU segmenter
# --------------------------------------------------------------------------------------------
def build_reseg(input_shape=(None, None, 3), num_classes=2, filters=(16, 32), renet_units=(48, 48),
                reset_after=True, dropout=0.0, sweep="gru", batch_norm=True, seed=None, name="reseg"):
    """A ReSeg-style segmenter (Visin et al. 2016): conv encoder, ReNet sweeps, transposed-conv decoder.

    ::

        (B, H, W, C) -> [Conv 3x3 stride 2 -> BN -> ReLU] per entry of filters -> (B, H/2^n, W/2^n, filters[-1])
                     -> ReNet2D(u) per entry of renet_units (2u channels each) -> (B, H/2^n, W/2^n, 2u)
                     -> [Conv2DTranspose 3x3 stride 2 -> BN -> ReLU], filters reversed   -> (B, H, W, filters[0])
                     -> Conv 1x1 -> softmax                                              -> (B, H, W, num_classes)

    After the encoder every ReNet output pixel depends on the whole image, whatever its size:
    the receptive field is global, which a CNN of the same size only reaches by pooling deeper.
    The defaults (about 187k parameters with 3 input channels and 2 classes) match
    ``build_unet(base_filters=10, depth=3)``.

    Args:
        input_shape: (H, W, C); H and W None (any size at call time, which must then be divisible
            by ``2**len(filters)``) or divisible by ``2**len(filters)``.
        num_classes: int >= 2.
        filters: encoder conv filters, one stride-2 conv per entry (decoder mirrors them).
        renet_units: units of each ReNet layer, one layer per entry.
        reset_after: GRU candidate form (True: cuDNN-compatible; False: ~12% faster on CPU).
        dropout: GRU input dropout in [0, 1).
        sweep: ``"gru"`` (:class:`~gruseg.layers.ReNet2D`) or ``"mingru"``
            (:class:`~gruseg.layers.MinGRUSweep2D`, sequential scan).
        batch_norm: batch normalisation after each conv.
        seed: None or int; same seed -> identical initial weights.
        name: model name.

    Returns:
        ``keras.Model`` (B, H, W, C) -> (B, H, W, num_classes) probabilities.

    Example:
        >>> model = build_reseg(input_shape=(64, 64, 3), num_classes=2, seed=0)
        >>> model.output_shape
        (None, 64, 64, 2)
    """
    filters = _int_tuple("filters", filters)
    renet_units = _int_tuple("renet_units", renet_units)
    input_shape = _check_input_shape(input_shape, 2 ** len(filters))
    num_classes = _check_num_classes(num_classes)
    reset_after = _check_bool("reset_after", reset_after)
    batch_norm = _check_bool("batch_norm", batch_norm)
    dropout = _check_dropout(dropout)
    if sweep not in ("gru", "mingru"):
        raise ValueError(f"sweep must be 'gru' or 'mingru', got {sweep!r}")
    seeds = _Seeds(seed)

    inputs = keras.Input(shape=input_shape, name="image")
    x = inputs
    for i, f in enumerate(filters, start=1):
        x = _conv_bn_relu(x, f, 2, seeds, f"enc{i}", batch_norm=batch_norm)
    for i, u in enumerate(renet_units, start=1):
        if sweep == "gru":
            x = ReNet2D(u, dropout=dropout, reset_after=reset_after, seed=seeds(), name=f"renet{i}")(x)
        else:
            x = MinGRUSweep2D(u, dropout=dropout, seed=seeds(), name=f"mingru{i}")(x)
    for i, f in enumerate(reversed(filters), start=1):
        x = layers.Conv2DTranspose(f, 3, strides=2, padding="same", use_bias=not batch_norm,
                                   kernel_initializer=seeds.he(), name=f"dec{i}_upconv")(x)
        if batch_norm:
            x = layers.BatchNormalization(name=f"dec{i}_bn")(x)
        x = layers.Activation("relu", name=f"dec{i}_relu")(x)
    outputs = _softmax_head(x, num_classes, seeds)
    return keras.Model(inputs, outputs, name=name)


# --------------------------------------------------------------------------------------------
# U-Net baseline
# --------------------------------------------------------------------------------------------
def build_unet(input_shape=(None, None, 3), num_classes=2, base_filters=10, depth=3, batch_norm=True,
               seed=None, name="unet"):
    """A U-Net (Ronneberger et al. 2015), the CNN baseline.

    ::

        level l = 0..depth-1:  2 x [Conv 3x3 -> BN -> ReLU] with base_filters * 2**l filters, MaxPool 2
        bottleneck:            2 x [Conv 3x3 -> BN -> ReLU] with base_filters * 2**depth filters
        back up each level:    Conv2DTranspose 2x2 stride 2, concatenate the skip, 2 x [Conv 3x3 -> BN -> ReLU]
        head:                  Conv 1x1 -> softmax

    Shapes: (B, H, W, C) -> (B, H/2**depth, W/2**depth, base_filters*2**depth) at the bottleneck ->
    (B, H, W, num_classes). The receptive field grows with ``depth`` (about 2**(depth+2) * 3 pixels).

    Matching parameters: the deepest level dominates, so ``base_filters * 2**depth = 80`` gives
    ~180-195k parameters at any depth (20/2, 10/3, 5/4), comparable to :func:`build_reseg`'s
    defaults. ``FINDINGS.md`` found 10/3 the fairest baseline at 128x128 and 5/4 at 64x64.

    Args:
        input_shape: (H, W, C); H and W None or divisible by ``2**depth`` (others are refused with
            :class:`~gruseg.errors.GrusegError`, a ``ValueError``).
        num_classes: int >= 2.
        base_filters: filters of the first level (doubled per level).
        depth: number of poolings.
        batch_norm: batch normalisation after each conv.
        seed: None or int; same seed -> identical initial weights.
        name: model name.

    Returns:
        ``keras.Model`` (B, H, W, C) -> (B, H, W, num_classes) probabilities.

    Example:
        >>> build_unet(input_shape=(64, 64, 3), num_classes=4, base_filters=10, depth=3).output_shape
        (None, 64, 64, 4)
    """
    base_filters = _positive_int("base_filters", base_filters)
    depth = _positive_int("depth", depth)
    input_shape = _check_input_shape(input_shape, 2 ** depth)
    num_classes = _check_num_classes(num_classes)
    batch_norm = _check_bool("batch_norm", batch_norm)
    seeds = _Seeds(seed)

    def double_conv(x, filters, label):
        x = _conv_bn_relu(x, filters, 1, seeds, f"{label}a", batch_norm=batch_norm)
        return _conv_bn_relu(x, filters, 1, seeds, f"{label}b", batch_norm=batch_norm)

    inputs = keras.Input(shape=input_shape, name="image")
    x, skips = inputs, []
    for level in range(depth):
        x = double_conv(x, base_filters * 2 ** level, f"down{level + 1}")
        skips.append(x)
        x = layers.MaxPooling2D(2, name=f"pool{level + 1}")(x)
    x = double_conv(x, base_filters * 2 ** depth, "bottleneck")
    for level in reversed(range(depth)):
        f = base_filters * 2 ** level
        x = layers.Conv2DTranspose(f, 2, strides=2, kernel_initializer=seeds.he(), name=f"up{level + 1}_upconv")(x)
        x = layers.Concatenate(name=f"up{level + 1}_skip")([x, skips[level]])
        x = double_conv(x, f, f"up{level + 1}")
    outputs = _softmax_head(x, num_classes, seeds)
    return keras.Model(inputs, outputs, name=name)


# --------------------------------------------------------------------------------------------
# name -> builder
# --------------------------------------------------------------------------------------------
MODEL_BUILDERS = {
    "reseg": build_reseg,
    "unet": build_unet,
    "seed": build_seed_model,
}
"""Model names the command line accepts, mapped to their builders."""


def build_model(name, input_shape=None, num_classes=2, **kwargs):
    """Build a model by name: ``MODEL_BUILDERS[name](input_shape=..., num_classes=..., **kwargs)``.

    Args:
        name: one of ``MODEL_BUILDERS`` (``"reseg"``, ``"unet"``, ``"seed"``).
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
    builder = MODEL_BUILDERS.get(name)
    if builder is None:
        raise GrusegError(f"unknown model {name!r}; choose one of: {', '.join(sorted(MODEL_BUILDERS))}")
    if input_shape is not None:
        kwargs["input_shape"] = tuple(input_shape)
    return builder(num_classes=num_classes, **kwargs)
