"""3D shape reconstruction from free-hand sketches (Wang et al., arXiv:2006.09694).

The public API: procedural shapes and their renders, the free-hand sketch simulator and its
style presets, the networks (the paper's :class:`SketchPSGN`, the pix2pix standardizer), the
Chamfer / IoU metrics, the training and evaluation functions, and loading / prediction::

    from reprlab.sketch3d import load_model, predict_points
    model = load_model("out/sketch3d/work/quick")   # written by `reprlab reproduce sketch3d`
    points = predict_points(model, sketch)           # (n_points, 3)

The reproduction itself (:mod:`reprlab.sketch3d.reproduce`) is not imported here.
"""

from reprlab.sketch3d.freehand import (
    FREEHAND_TEST,
    STANDARDIZER_TRAIN,
    SYNTHESIZED,
    FreehandConfig,
    mls_rigid,
    simulate_freehand,
)
from reprlab.sketch3d.functional import (
    chamfer_distance,
    chamfer_distance_chunked,
    pix2pix_discriminator_loss,
    pix2pix_generator_loss,
    voxel_iou,
    voxelize_points,
)
from reprlab.sketch3d.io import (
    export_points,
    normalize_sketch,
    read_sketch_image,
    write_obj,
    write_ply,
)
from reprlab.sketch3d.modules import (
    PatchDiscriminator,
    PointCloudNet,
    SketchPSGN,
    UNetGenerator,
    psgn_point_split,
)
from reprlab.sketch3d.pipeline import (
    MODEL_FILE,
    ShapeData,
    Sketch3DConfig,
    Sketch3DModel,
    build_shapes,
    draw_sketches,
    evaluate,
    load_model,
    make_reconstructor,
    predict_file,
    predict_points,
    save_model,
    train_reconstructor,
    train_standardizer,
)
from reprlab.sketch3d.render import render_contours
from reprlab.sketch3d.shapes import (
    CATEGORIES,
    generate_shapes,
    load_mesh_folder,
    make_shape,
    sample_points,
)

__all__ = [
    "CATEGORIES", "FREEHAND_TEST", "MODEL_FILE", "STANDARDIZER_TRAIN", "SYNTHESIZED",
    "FreehandConfig", "PatchDiscriminator", "PointCloudNet", "ShapeData", "Sketch3DConfig",
    "Sketch3DModel", "SketchPSGN", "UNetGenerator", "build_shapes", "chamfer_distance",
    "chamfer_distance_chunked", "draw_sketches", "evaluate", "export_points",
    "generate_shapes", "load_mesh_folder", "load_model", "make_reconstructor", "make_shape",
    "mls_rigid", "normalize_sketch", "pix2pix_discriminator_loss", "pix2pix_generator_loss",
    "predict_file", "predict_points", "psgn_point_split", "read_sketch_image",
    "render_contours", "sample_points", "save_model", "simulate_freehand",
    "train_reconstructor", "train_standardizer", "voxel_iou", "voxelize_points", "write_obj",
    "write_ply",
]
