"""The diagrams draw what they claim: the shapes ReNet2D really computes, two gates and three products,
one class per blob vs one id per object, the real model's layers and output shapes."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from gruseg.book.diagrams import (  # noqa: E402
    ArticleLayer,
    article_layers,
    diagram_texts,
    draw_gru_cell,
    draw_model_comparison,
    draw_segmentation_kinds,
    draw_sweeps,
    segmentation_kinds_scene,
    sweep_shapes,
)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _patches(fig, gid):
    return [p for ax in fig.axes for p in ax.patches if p.get_gid() == gid]


def _count(fig, gid):
    return sum(t.get_gid() == gid for ax in fig.axes for t in ax.texts)


# ---------------------------------------------------------------- 1. kinds of segmentation

def test_scene_has_touching_objects_of_one_class():
    scene = segmentation_kinds_scene(64)
    semantic, instance = scene["semantic"], scene["instance"]
    assert scene["image"].shape == (64, 64, 3) and scene["image"].dtype == np.float32
    assert 0 <= scene["image"].min() and scene["image"].max() <= 1
    assert scene["instance_names"] == {1: "circle 1", 2: "circle 2", 3: "square 1", 4: "triangle 1"}
    # the two circles touch: some pixel of circle 1 has a 4-neighbour in circle 2
    one, two = instance == 1, instance == 2
    assert (one[:, :-1] & two[:, 1:]).any() or (one[:-1] & two[1:]).any()
    # ... and the semantic mask cannot tell them apart
    assert set(np.unique(semantic[one | two])) == {1}
    assert np.array_equal(semantic > 0, instance > 0)          # objects are exactly the non-background
    for k, cls in scene["instance_class"].items():
        assert set(np.unique(semantic[instance == k])) == {cls}


def _colours(ax):
    rgb = np.asarray(ax.images[0].get_array()).reshape(-1, 3)
    return {tuple(np.round(c, 4)) for c in rgb}


def test_segmentation_kinds_draws_one_blob_per_class_and_one_id_per_object():
    fig = draw_segmentation_kinds(48)
    image, semantic, instance, panoptic = fig.axes
    assert [ax.get_title().split(":")[0] for ax in fig.axes] == ["image", "semantic", "instance", "panoptic"]
    scene = segmentation_kinds_scene(48)
    one, two = scene["instance"] == 1, scene["instance"] == 2
    assert len(_colours(semantic)) == 4                            # background + 3 classes
    assert len(_colours(instance)) == 5                            # "no instance" + 4 objects
    assert len(_colours(panoptic)) == 5                            # background + 4 objects
    for ax, same in [(semantic, True), (instance, False), (panoptic, False)]:
        arr = np.asarray(ax.images[0].get_array())
        assert np.array_equal(arr[one][0], arr[two][0]) == same
    region = lambda ax: sorted(t.get_text() for t in ax.texts if t.get_gid() == "region")   # noqa: E731
    assert region(semantic) == ["background", "circle", "square", "triangle"]
    assert region(instance) == ["circle 1", "circle 2", "no instance", "square 1", "triangle 1"]
    assert region(panoptic) == ["background", "circle 1", "circle 2", "square 1", "triangle 1"]


def test_scene_refuses_tiny_size():
    with pytest.raises(ValueError, match="size must be an integer"):
        segmentation_kinds_scene(8)


# ---------------------------------------------------------------- 2. the GRU cell

@pytest.mark.parametrize("convention", ["book", "keras"])
def test_gru_cell_has_two_gates_a_candidate_three_products(convention):
    fig = draw_gru_cell(convention)
    assert diagram_texts(fig, "gate") == ["reset gate $r_t$", "update gate $z_t$"]
    assert len(_patches(fig, "gate")) == 2 and len(_patches(fig, "candidate")) == 1
    assert "(not a gate)" in diagram_texts(fig, "candidate")
    assert len(_patches(fig, "product")) == 3 and _count(fig, "product_symbol") == 3
    assert len(_patches(fig, "sum")) == 1 and len(_patches(fig, "one_minus")) == 1
    labels = diagram_texts(fig, "product_label")
    assert labels[0] == r"$r_t \odot h_{t-1}$"
    (equation,) = diagram_texts(fig, "equation")
    if convention == "book":
        assert labels[1:] == [r"$(1 - z_t) \odot h_{t-1}$", r"$z_t \odot \tilde h_t$"]
        assert equation == r"$h_t = (1 - z_t) \odot h_{t-1} + z_t \odot \tilde h_t$"
    else:
        assert labels[1:] == [r"$z_t \odot h_{t-1}$", r"$(1 - z_t) \odot \tilde h_t$"]
        assert equation == r"$h_t = z_t \odot h_{t-1} + (1 - z_t) \odot \tilde h_t$"


def test_gru_cell_one_minus_feeds_the_product_its_equation_names():
    """Book: the 1 - z node sits under the product on the state line; Keras: beside the candidate's product."""
    for convention, axis, product in [("book", 0, 1), ("keras", 1, 2)]:
        fig = draw_gru_cell(convention)
        (one_minus,) = _patches(fig, "one_minus")
        products = _patches(fig, "product")            # drawn in the order r*h, state line, candidate
        assert one_minus.center[axis] == pytest.approx(products[product].center[axis])
        assert one_minus.center[1 - axis] != pytest.approx(products[product].center[1 - axis])


def test_gru_cell_refuses_unknown_convention():
    with pytest.raises(ValueError, match="convention must be one of 'book', 'keras'; got 'pytorch'"):
        draw_gru_cell("pytorch")


# ---------------------------------------------------------------- 3. the sweeps

SWEEP_CASES = [
    dict(input_shape=(2, 6, 10, 3), units=4),
    dict(input_shape=(2, 8, 12, 3), units=4, order="columns_first", patch_size=2),
    dict(input_shape=(1, 4, 6, 5), units=3, merge_mode="sum"),
    dict(input_shape=(3, 9, 6, 2), units=2, order="columns_first", patch_size=3, merge_mode="ave"),
]


@pytest.mark.parametrize("kwargs", SWEEP_CASES)
def test_sweep_shapes_are_what_renet2d_computes(kwargs):
    keras = pytest.importorskip("keras")
    import gruseg

    steps = sweep_shapes(**kwargs)
    shapes = [shape for _, _, shape in steps]
    b, h, w, c = kwargs["input_shape"]
    layer = gruseg.ReNet2D(kwargs["units"], **{k: v for k, v in kwargs.items() if k not in ("input_shape", "units")})
    out = layer(np.zeros((b, h, w, c), "float32"))
    assert shapes[0] == (b, h, w, c) and shapes[-1] == tuple(out.shape)
    # each pass reads what the step before it says: (sequences, time steps, channels)
    first, second = (layer.row_gru, layer.col_gru) if layer.order == "rows_first" else (layer.col_gru, layer.row_gru)
    for gru, step in [(first, steps[-5]), (second, steps[-3])]:
        assert gru.forward_layer.cell.kernel.shape[0] == step[2][2]
    assert ("rows" in steps[-5][0]) == (layer.order == "rows_first")
    p = kwargs.get("patch_size", 1)
    assert steps[-5][2][0] == b * ((w if layer.order == "columns_first" else h) // p)
    keras.backend.clear_session()


def test_sweep_shapes_by_hand_rows_first():
    assert sweep_shapes((2, 6, 10, 3), units=4) == [
        ("input", "(B, H, W, C)", (2, 6, 10, 3)),
        ("rows as the batch", "(B·H, W, C)", (12, 10, 3)),
        ("row sweep, both ways", "(B·H, W, 2u)", (12, 10, 8)),
        ("columns as the batch", "(B·W, H, 2u)", (20, 6, 8)),
        ("column sweep, both ways", "(B·W, H, 2u)", (20, 6, 8)),
        ("back to an image", "(B, H, W, 2u)", (2, 6, 10, 8)),
    ]


@pytest.mark.parametrize("kwargs, match", [
    (dict(input_shape=(2, 6, 10, 3), units=4, patch_size=4), "divisible by patch_size=4, got 6x10"),
    (dict(input_shape=(2, 6, 10), units=4), "input_shape must"),
    (dict(input_shape=(2, 6, 10, 3), units=0), "units must be a positive integer, got 0"),
    (dict(input_shape=(2, 6, 10, 3), units=4, order="diagonal"), "order must be one of"),
    (dict(input_shape=(2, 6, 10, 3), units=4, merge_mode="max"), "merge_mode must be one of"),
])
def test_sweep_shapes_refuses(kwargs, match):
    with pytest.raises(ValueError, match=match):
        sweep_shapes(**kwargs)


@pytest.mark.parametrize("kwargs", SWEEP_CASES)
def test_draw_sweeps_prints_the_shapes_and_one_arrow_pair_per_sequence(kwargs):
    fig = draw_sweeps(**kwargs)
    steps = sweep_shapes(**kwargs)
    printed = " → ".join(diagram_texts(fig, "shape"))
    assert printed == " → ".join(str(shape) for _, _, shape in steps)
    assert " → ".join(diagram_texts(fig, "symbols")) == " → ".join(symbols for _, symbols, _ in steps)
    _, hp, wp, _ = steps[-1][2]                 # these maps are small: every row and column is drawn
    assert _count(fig, "arrow_right") == _count(fig, "arrow_left") == hp
    assert _count(fig, "arrow_down") == _count(fig, "arrow_up") == wp
    titles = diagram_texts(fig, "step")
    first_rows = kwargs.get("order", "rows_first") == "rows_first"
    assert ("each row" in titles[1]) == first_rows and ("each column" in titles[2]) == first_rows
    (note,) = diagram_texts(fig, "note")
    assert 'order="columns_first"' in note and "patch_size" in note


@pytest.mark.parametrize("input_shape, rows, cols", [((2, 32, 32, 16), 8, 8), ((1, 64, 16, 3), 8, 2),
                                                    ((1, 12, 40, 3), 3, 10)])
def test_draw_sweeps_keeps_the_proportions_of_a_large_map(input_shape, rows, cols):
    fig = draw_sweeps(input_shape, units=4)
    assert _count(fig, "arrow_right") == rows and _count(fig, "arrow_down") == cols
    assert diagram_texts(fig, "shape")[-1] == str((*input_shape[:3], 8))


# ---------------------------------------------------------------- 4. the article's model beside the corrected one

def test_article_layers_shapes_and_the_size_mismatch():
    layers = article_layers()
    assert all(isinstance(layer, ArticleLayer) for layer in layers)
    assert [layer.output_shape for layer in layers] == [
        (256, 256, 3), (64, 64, 32), None, (64, 64, 64), (128, 128, 2), (128, 128, 2), None]
    assert next(layer for layer in layers if layer.breaks).code.startswith("conv_block")
    assert "256 → 64 → 128" in layers[4].problem and "32 typed in (the map is 64)" in layers[2].problem
    assert "recurrent_dropout" in layers[2].problem
    small = article_layers((96, 128, 1), num_classes=5)
    assert small[4].output_shape == (48, 64, 5) and "128 → 32 → 64" in small[4].problem


def test_model_comparison_reads_the_real_model():
    pytest.importorskip("keras")
    import gruseg

    model = gruseg.build_article_model(input_shape=(64, 64, 3), num_classes=3, units=16, seed=0)
    fig = draw_model_comparison(corrected_model=model)
    shapes = diagram_texts(fig, "corrected_shape")
    kept = [layer for layer in model.layers if type(layer).__name__ != "BatchNormalization"
            and not (type(layer).__name__ == "Activation" and layer.get_config()["activation"] == "relu")]
    assert shapes == ["×".join(map(str, tuple(layer.output.shape)[1:])) for layer in kept]
    assert shapes[-1] == "64×64×3"
    texts = diagram_texts(fig, "corrected")
    assert texts[0] == "Input" and "RowGRU2D(16)" in texts and texts[-1] == "softmax"
    assert "Conv2DTranspose(3, 8x8, stride 4)" in texts
    assert texts[1] == "Conv2D(32, 3x3, stride 2) + BN + ReLU"
    # the article's side is drawn for the same input: 64 -> 16 -> 32
    article = diagram_texts(fig, "article")
    assert len(article) == 7 and article[0].startswith("inputs = Input")
    assert any("64 → 16 → 32" in e for e in diagram_texts(fig, "error"))
    assert diagram_texts(fig, "verdict") == ["output 32×32 ≠ input 64×64", "output 64×64 = input 64×64"]
    assert diagram_texts(fig, "stops_here") == ["stops\nhere ▸"]
    stop = next(t for t in fig.axes[0].texts if t.get_gid() == "stops_here")
    conv_block = next(t for t in fig.axes[0].texts
                      if t.get_gid() == "article" and t.get_text().startswith("conv_block"))
    assert stop.get_position()[1] == conv_block.get_position()[1]     # the arrow points at the first line that raises


def test_model_comparison_with_a_renet_sweep_and_custom_article_rows():
    pytest.importorskip("keras")
    import gruseg

    model = gruseg.build_article_model(input_shape=(32, 32, 3), units=8, sweep="renet", seed=0)
    rows = [ArticleLayer("a", (32, 32, 3), None), ArticleLayer("b", (32, 32, 2), "wrong", True)]
    fig = draw_model_comparison(rows, model)
    assert "ReNet2D(4)" in diagram_texts(fig, "corrected")
    assert diagram_texts(fig, "article") == ["a", "b"] and diagram_texts(fig, "error") == ["wrong"]
    assert diagram_texts(fig, "verdict")[0] == "output 32×32 = input 32×32"
