"""gruseg: image segmentation with gated recurrent units (GRU) in Keras.

The public API is listed in ``__all__``. Names are loaded lazily (PEP 562): ``import gruseg``
is instant and imports neither Keras nor TensorFlow; ``gruseg.gru_sequence`` only needs NumPy,
and ``gruseg.build_reseg`` imports Keras the first time it is touched.

Example:
    >>> import gruseg
    >>> model = gruseg.build_reseg(input_shape=(64, 64, 3), num_classes=2)
    >>> model.output_shape
    (None, 64, 64, 2)
"""

from importlib import import_module

__version__ = "0.1.0"

# module -> public names it defines. One table, so `__all__` and the lazy loader cannot drift.
_EXPORTS = {
    "errors": ["GrusegError"],
    "gru": [
        "GRUWeights", "RNNWeights", "gru_step", "gru_sequence", "rnn_sequence",
        "random_gru_weights", "random_rnn_weights", "gru_weights_from_keras", "gru_weights_to_keras",
        "rnn_step", "sigmoid",
    ],
    "analysis": ["gradient_norms_through_time", "make_recurrent_layer"],
    "layers": ["ReNet2D", "MinGRUSweep2D", "RowGRU2D", "mingru_scan", "MERGE_MODES", "SCAN_MODES"],
    "models": ["build_seed_model", "build_reseg", "build_unet", "build_model", "MODEL_BUILDERS"],
    "data": [
        "make_shapes", "make_long_range", "to_dataset", "load_folder", "load_pets",
        "preprocess_pet", "DATASETS", "SHAPES_CLASSES", "LONG_RANGE_CLASSES", "PET_CLASSES",
        "DatasetSpec", "FolderData", "parity_labels", "read_image", "read_mask",
    ],
    "metrics": [
        "confusion_matrix", "iou_per_class", "mean_iou", "dice_per_class", "pixel_accuracy",
        "segmentation_report", "segmentation_metrics", "mean_dice", "MeanDice",
    ],
    "receptive_field": [
        "receptive_field_size", "receptive_field_growth", "unet_receptive_field", "influence_map",
        "influence_bbox",
    ],
    "sweeps": [
        "rows_to_sequences", "sequences_to_rows", "columns_to_sequences", "sequences_to_columns",
        "bidirectional_gru_numpy", "renet2d_weights", "renet2d_numpy", "row_sweep_states",
        "partial_sweep", "change_map", "rows_as_batch", "loop_over_rows", "median_time",
    ],
    "experiments": [
        "time_call", "sequential_steps", "sweep_cost", "layer_step_time", "RunResult",
        "compare_under_budget", "predict_labels",
    ],
    "sgd": ["train_with_gradient_tape"],
    "gates": ["layer_input", "row_sweep_gates", "keras_row_sweep"],
    "training": ["set_seed", "compile_segmenter", "train", "load_checkpoint_state"],
    "plotting": [
        "show_samples", "overlay_mask", "colorize_mask", "plot_history", "plot_gate_maps", "PALETTE",
    ],
    "widgets": ["gru_cell_explorer", "sweep_explorer"],
}

_NAME_TO_MODULE = {name: module for module, names in _EXPORTS.items() for name in names}

__all__ = ["__version__", *_NAME_TO_MODULE]


def __getattr__(name):
    module = _NAME_TO_MODULE.get(name)
    if module is None:
        raise AttributeError(f"module 'gruseg' has no attribute {name!r}")
    value = getattr(import_module(f"gruseg.{module}"), name)
    globals()[name] = value  # cache: later look-ups skip __getattr__
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))
