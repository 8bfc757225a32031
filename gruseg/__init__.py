"""gruseg: image segmentation with gated recurrent units (GRU) in Keras.

``gruseg.__all__`` is what a user builds with: model builders and layers, data loaders, training,
prediction, metrics, plotting and the error type. The book's teaching and measuring instruments
live apart, in :mod:`gruseg.book`; the NumPy GRU reference is :mod:`gruseg.gru`.

Names are loaded lazily (PEP 562): ``import gruseg`` is instant and imports neither Keras nor
TensorFlow; ``gruseg.build_reseg`` imports Keras the first time it is touched.

Example:
    >>> import gruseg
    >>> model = gruseg.build_reseg(input_shape=(64, 64, 3), num_classes=2)
    >>> model.output_shape
    (None, 64, 64, 2)
"""

from gruseg._lazy import lazy_exports

__version__ = "0.2.0"

# module -> public names it defines. One table, so `__all__` and the lazy loader cannot drift.
_EXPORTS = {
    "errors": ["GrusegError"],
    "layers": ["ReNet2D", "MinGRUSweep2D", "RowGRU2D"],
    "models": ["build_article_model", "build_reseg", "build_unet", "build_renet_unet", "build_model", "MODEL_BUILDERS"],
    "data": [
        "make_shapes", "make_long_range", "load_folder", "load_camvid", "load_pets", "batches", "to_dataset",
        "split_indices", "SHAPES_CLASSES", "LONG_RANGE_CLASSES", "CAMVID_CLASSES", "PET_CLASSES",
    ],
    "losses": ["SegmentationLoss", "median_frequency_weights"],
    "metrics": ["segmentation_report", "mean_iou", "iou_per_class", "confusion_matrix", "segmentation_metrics"],
    "training": ["set_seed", "compile_segmenter", "train"],
    "inference": ["load_model", "predict_labels", "predict_probabilities"],
    "plotting": ["show_samples", "overlay_mask", "colorize_mask", "plot_history", "PALETTE"],
}

_names, __getattr__, __dir__ = lazy_exports(__name__, globals(), _EXPORTS)
__all__ = ["__version__", *_names]
