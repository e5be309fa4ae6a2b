"""Procedural 3D shapes (chairs, tables, lamps, mugs, airplanes) and a ShapeNet-style loader.

ShapeNet is not available offline, so the reproduction builds its own data set from
parametrised ``trimesh`` primitives. Every shape is normalised the same way (bounding box
centred at the origin, longest side :data:`EXTENT`), z is up, and point clouds are sampled
area-uniformly with an explicit ``numpy`` generator so a seed fixes everything.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import trimesh

__all__ = [
    "CATEGORIES",
    "EXTENT",
    "make_shape",
    "generate_shapes",
    "normalize_mesh",
    "sample_points",
    "load_mesh_folder",
    "split_indices",
]

EXTENT = 0.9
"""Longest side of a normalised shape's bounding box (it fits in ``[-0.45, 0.45]^3``)."""

_SECTIONS = 12  # facets of a cylinder: keeps meshes small for the CPU rasterizer


def _box(extents: Sequence[float], center: Sequence[float]) -> trimesh.Trimesh:
    return trimesh.creation.box(extents=extents,
                                transform=trimesh.transformations.translation_matrix(center))


def _cyl(radius: float, height: float, center: Sequence[float],
         axis: str = "z") -> trimesh.Trimesh:
    m = trimesh.creation.cylinder(radius=radius, height=height, sections=_SECTIONS)
    if axis == "x":
        m.apply_transform(trimesh.transformations.rotation_matrix(np.pi / 2, [0, 1, 0]))
    elif axis == "y":
        m.apply_transform(trimesh.transformations.rotation_matrix(np.pi / 2, [1, 0, 0]))
    m.apply_translation(center)
    return m


def _chair(rng: np.random.Generator) -> list[trimesh.Trimesh]:
    w, d = rng.uniform(0.4, 0.6), rng.uniform(0.4, 0.6)
    t = rng.uniform(0.04, 0.08)  # seat thickness
    h = rng.uniform(0.35, 0.5)  # leg height
    lt = rng.uniform(0.03, 0.06)  # leg thickness
    back_h = rng.uniform(0.35, 0.6)
    parts = [_box([w, d, t], [0, 0, h + t / 2])]
    for sx in (-1, 1):
        for sy in (-1, 1):
            parts.append(_box([lt, lt, h], [sx * (w - lt) / 2, sy * (d - lt) / 2, h / 2]))
    parts.append(_box([w, t, back_h], [0, -(d - t) / 2, h + t + back_h / 2]))
    if rng.uniform() < 0.5:  # arm rests
        for sx in (-1, 1):
            parts.append(_box([lt, d, lt], [sx * (w - lt) / 2, 0, h + t + 0.2]))
    return parts


def _table(rng: np.random.Generator) -> list[trimesh.Trimesh]:
    w, d = rng.uniform(0.6, 1.0), rng.uniform(0.4, 0.8)
    t = rng.uniform(0.03, 0.07)
    h = rng.uniform(0.4, 0.7)
    if rng.uniform() < 0.3:  # round top on a pedestal
        r = min(w, d) / 2
        return [_cyl(r, t, [0, 0, h + t / 2]), _cyl(rng.uniform(0.03, 0.06), h, [0, 0, h / 2]),
                _cyl(r * 0.6, 0.03, [0, 0, 0.015])]
    lt = rng.uniform(0.04, 0.08)
    parts = [_box([w, d, t], [0, 0, h + t / 2])]
    inset = rng.uniform(0.0, 0.08)
    for sx in (-1, 1):
        for sy in (-1, 1):
            parts.append(_box([lt, lt, h], [sx * (w / 2 - lt / 2 - inset),
                                            sy * (d / 2 - lt / 2 - inset), h / 2]))
    return parts


def _lamp(rng: np.random.Generator) -> list[trimesh.Trimesh]:
    base_r, base_h = rng.uniform(0.12, 0.25), rng.uniform(0.02, 0.06)
    pole_h = rng.uniform(0.5, 1.0)
    shade_r, shade_h = rng.uniform(0.15, 0.3), rng.uniform(0.15, 0.3)
    shade = trimesh.creation.cone(radius=shade_r, height=shade_h, sections=_SECTIONS)
    shade.apply_translation([0, 0, base_h + pole_h - shade_h * 0.3])
    return [_cyl(base_r, base_h, [0, 0, base_h / 2]),
            _cyl(rng.uniform(0.015, 0.03), pole_h, [0, 0, base_h + pole_h / 2]), shade]


def _mug(rng: np.random.Generator) -> list[trimesh.Trimesh]:
    r, h = rng.uniform(0.2, 0.3), rng.uniform(0.35, 0.6)
    handle_r = rng.uniform(0.1, 0.16)
    handle = trimesh.creation.torus(major_radius=handle_r, minor_radius=rng.uniform(0.02, 0.04),
                                    major_sections=12, minor_sections=6)
    handle.apply_transform(trimesh.transformations.rotation_matrix(np.pi / 2, [1, 0, 0]))
    handle.apply_translation([r, 0, h / 2])
    return [_cyl(r, h, [0, 0, h / 2]), handle]


def _airplane(rng: np.random.Generator) -> list[trimesh.Trimesh]:
    length, fr = rng.uniform(0.8, 1.0), rng.uniform(0.04, 0.07)
    span, chord = rng.uniform(0.7, 1.0), rng.uniform(0.12, 0.22)
    wing_x = rng.uniform(-0.05, 0.1)
    tail_span = rng.uniform(0.25, 0.4)
    parts = [_cyl(fr, length, [0, 0, 0], axis="x"),
             _box([chord, span, 0.02], [wing_x, 0, 0]),
             _box([0.1, tail_span, 0.015], [-length / 2 + 0.06, 0, 0]),
             _box([0.12, 0.015, rng.uniform(0.12, 0.2)], [-length / 2 + 0.06, 0, 0.1])]
    if rng.uniform() < 0.6:  # engines under the wings
        for sy in (-1, 1):
            parts.append(_cyl(0.035, 0.15, [wing_x + 0.03, sy * span * 0.25, -0.05], axis="x"))
    return parts


CATEGORIES: dict[str, Callable[[np.random.Generator], list[trimesh.Trimesh]]] = {
    "chair": _chair, "table": _table, "lamp": _lamp, "mug": _mug, "airplane": _airplane,
}
"""Category name -> generator of the shape's primitive parts."""


def normalize_mesh(mesh: trimesh.Trimesh, *, extent: float = EXTENT) -> trimesh.Trimesh:
    """Centre the bounding box at the origin and scale its longest side to ``extent``."""
    if len(mesh.faces) == 0:
        raise ValueError("mesh has no faces; cannot normalise an empty mesh")
    mesh = mesh.copy()
    lo, hi = mesh.bounds
    mesh.apply_translation(-(lo + hi) / 2)
    mesh.apply_scale(extent / float(np.max(hi - lo)))
    return mesh


def make_shape(category: str, rng: np.random.Generator) -> trimesh.Trimesh:
    """One random normalised shape of ``category`` (a key of :data:`CATEGORIES`).

    The parts are concatenated, not unioned: the renderer and the point sampler only need
    triangles, and hidden inner faces are removed by the z-buffer.
    """
    if category not in CATEGORIES:
        raise ValueError(f"category must be one of {sorted(CATEGORIES)}, got {category!r}")
    mesh = trimesh.util.concatenate(CATEGORIES[category](rng))
    # a random non-uniform stretch adds intra-class variety beyond the part parameters
    mesh.apply_scale(rng.uniform(0.85, 1.15, size=3))
    return normalize_mesh(mesh)


def generate_shapes(n_per_category: int, *, categories: Sequence[str] | None = None,
                    seed: int = 0) -> tuple[list[trimesh.Trimesh], list[str]]:
    """``n_per_category`` shapes of each category, interleaved, with their labels."""
    if n_per_category < 1:
        raise ValueError(f"n_per_category must be >= 1, got {n_per_category}")
    cats = list(categories) if categories is not None else list(CATEGORIES)
    rng = np.random.default_rng(seed)
    meshes, labels = [], []
    for _ in range(n_per_category):
        for c in cats:
            meshes.append(make_shape(c, rng))
            labels.append(c)
    return meshes, labels


def sample_points(mesh: trimesh.Trimesh, n: int, *, rng: np.random.Generator) -> np.ndarray:
    """``n`` points drawn uniformly over the surface area, shape (n, 3), float32."""
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    tri = mesh.triangles  # (F, 3, 3)
    area = mesh.area_faces
    if area.sum() <= 0:
        raise ValueError("mesh has zero surface area")
    face = rng.choice(len(tri), size=n, p=area / area.sum())
    u, v = rng.uniform(size=(2, n))
    flip = u + v > 1
    u[flip], v[flip] = 1 - u[flip], 1 - v[flip]
    t = tri[face]
    pts = t[:, 0] + u[:, None] * (t[:, 1] - t[:, 0]) + v[:, None] * (t[:, 2] - t[:, 0])
    return pts.astype(np.float32)


_MESH_SUFFIXES = (".obj", ".off", ".ply", ".stl", ".glb")


def load_mesh_folder(root: str | Path, *, categories: Sequence[str] | None = None,
                     max_per_category: int | None = None,
                     z_up: bool = False) -> tuple[list[trimesh.Trimesh], list[str]]:
    """Load a ShapeNet-style folder ``root/<category>/**/<mesh file>``.

    ShapeNetCore's layout (``<synset>/<model id>/models/model_normalized.obj``) works as is;
    the category is the first folder under ``root``. Meshes are normalised like the
    procedural ones. ShapeNet is y-up: ``z_up=False`` (default) rotates y-up meshes to z-up.

    Raises
    ------
    FileNotFoundError
        When ``root`` does not exist or holds no mesh file.
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(
            f"mesh folder {root} not found; pass a folder laid out as "
            "<root>/<category>/**/model.obj (e.g. an unpacked ShapeNetCore)")
    meshes, labels = [], []
    for cat_dir in sorted(p for p in root.iterdir() if p.is_dir()):
        if categories is not None and cat_dir.name not in categories:
            continue
        files = sorted(p for p in cat_dir.rglob("*") if p.suffix.lower() in _MESH_SUFFIXES)
        for path in files[:max_per_category]:
            mesh = trimesh.load(path, force="mesh", process=False)
            if len(mesh.faces) == 0:
                continue
            if not z_up:
                mesh.apply_transform(trimesh.transformations.rotation_matrix(np.pi / 2,
                                                                             [1, 0, 0]))
            meshes.append(normalize_mesh(mesh))
            labels.append(cat_dir.name)
    if not meshes:
        raise FileNotFoundError(f"no mesh files ({', '.join(_MESH_SUFFIXES)}) under {root}")
    return meshes, labels


def split_indices(n: int, *, fractions: tuple[float, float, float] = (0.8, 0.1, 0.1),
                  seed: int = 0) -> dict[str, np.ndarray]:
    """A seeded random train/val/test split of ``range(n)``."""
    if abs(sum(fractions) - 1.0) > 1e-6 or min(fractions) < 0:
        raise ValueError(f"fractions must be >= 0 and sum to 1, got {fractions}")
    perm = np.random.default_rng(seed).permutation(n)
    n_train = int(round(fractions[0] * n))
    n_val = int(round(fractions[1] * n))
    return {"train": np.sort(perm[:n_train]), "val": np.sort(perm[n_train:n_train + n_val]),
            "test": np.sort(perm[n_train + n_val:])}
