"""The book's instruments: what the chapters use to teach and to measure, apart from the library.

A user segmenting their own images needs none of this (see :mod:`gruseg`); the chapters import it
as ``from gruseg.book import name``. The library never imports ``gruseg.book``.

* :mod:`~gruseg.book.sweeps`: rows and columns as sequences, NumPy references of the ReNet and
  minGRU sweeps, per-pixel states of a sweep, partial sweeps, change maps, rows-as-batch vs a
  row loop (chapters 3, 4, 5).
* :mod:`~gruseg.book.gates`: the gates of a trained sweep at every pixel (chapter 4).
* :mod:`~gruseg.book.receptive_field`: nominal, exact and measured receptive fields (chapter 1).
* :mod:`~gruseg.book.analysis`: gradient norms through time, seeded recurrent layers (chapters 2, 6).
* :mod:`~gruseg.book.experiments`: timings, sweep cost, fixed-step training runs, equal-budget
  comparisons (chapters 3, 5, 6).
* :mod:`~gruseg.book.faq`: chapter 6's row model and row-memory task.
* :mod:`~gruseg.book.sgd`: mini-batch SGD written out with ``GradientTape`` (chapter 6).
* ``gruseg.book.glue``: ``glue``, myst-nb's when the book is built, a no-op in Colab.
* :mod:`~gruseg.book.widgets`: the interactive GRU cell and sweep explorers (chapters 2, 3).
* :mod:`~gruseg.book.diagrams`: diagrams drawn by code: the kinds of segmentation, the GRU cell,
  a ReNet layer's sweeps with their shapes, the article's model beside the corrected one
  (chapters 1-4).

The NumPy GRU and minGRU the instruments build on are the library's :mod:`gruseg.gru`.

Names load lazily, as in :mod:`gruseg`: importing ``gruseg.book`` imports no Keras (the modules
that need it import it when a name from them is first used).
"""

from gruseg._lazy import lazy_exports

_EXPORTS = {
    "sweeps": [
        "MERGE_MODES", "SWEEP_ORDERS", "rows_to_sequences", "sequences_to_rows", "columns_to_sequences", "sequences_to_columns",
        "bidirectional_gru_numpy", "row_sweep_numpy", "renet2d_weights", "renet2d_numpy",
        "mingru_sweep2d_weights", "mingru_sweep2d_numpy", "row_sweep_states", "partial_sweep", "change_map",
        "rows_as_batch", "loop_over_rows",
    ],
    "gates": ["DIRECTIONS", "layer_input", "row_sweep_gates", "keras_row_sweep"],
    "receptive_field": [
        "receptive_field_size", "receptive_field_growth", "unet_receptive_field", "unet_window",
        "unet_max_receptive_field", "influence_map",
        "influence_bbox",
    ],
    "analysis": ["gradient_norms_through_time", "make_recurrent_layer"],
    "experiments": [
        "median_time", "sequential_steps", "sweep_cost", "layer_step_time", "StepTimer", "fit_steps", "RunResult",
        "compare_under_budget",
    ],
    "faq": ["VOID", "row_model", "make_row_memory", "RowRun", "train_row_model", "row_update_gate", "overfit_run",
            "inference_losses"],
    "sgd": ["train_with_gradient_tape", "max_weight_difference"],
    "widgets": ["gru_cell_explorer", "sweep_explorer"],
    "glue": ["glue"],
    "diagrams": [
        "diagram_texts", "segmentation_kinds_scene", "draw_segmentation_kinds", "draw_gru_cell", "sweep_shapes",
        "draw_sweeps", "ArticleLayer", "article_layers", "draw_model_comparison",
    ],
}

__all__, __getattr__, __dir__ = lazy_exports(__name__, globals(), _EXPORTS)
