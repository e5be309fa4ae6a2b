"""The paper's reconstruction net (SketchPSGN) against the conv-encoder + MLP baseline.

Both nets are trained on the quick config's edge maps (same shapes, steps, batch and
learning rate) over three seeds and evaluated on the test edge maps: Chamfer distance
(squared, x1000), voxel IoU and CPU seconds of training. This is the measurement behind
"the MLP baseline earns its place" in ``docs/sketch3d.md``.

Run: ``OMP_NUM_THREADS=1 PYTHONPATH=src python benchmarks/sketch3d_networks.py``
"""

from __future__ import annotations

import time
from dataclasses import replace

import numpy as np
import torch

from reprlab.sketch3d import build_shapes, evaluate, make_reconstructor, train_reconstructor
from reprlab.sketch3d.reproduce import QUICK


def main() -> None:
    data = build_shapes(QUICK)
    tr, te = data.split["train"], data.split["test"]
    x = torch.from_numpy(data.clean[tr]).unsqueeze(1)
    pts = torch.from_numpy(data.points[tr])
    xt = torch.from_numpy(data.clean[te]).unsqueeze(1)
    ptt = torch.from_numpy(data.points[te])
    print(f"{len(tr)} train / {len(te)} test shapes, {QUICK.image_size}px, "
          f"{QUICK.n_points} points, {QUICK.rec_epochs} epochs, lr {QUICK.rec_lr}")
    for arch in ("psgn", "mlp"):
        cfg = replace(QUICK, arch=arch)
        cds, ious, cpus = [], [], []
        for seed in range(3):
            torch.manual_seed(seed)
            net = make_reconstructor(cfg)
            t = time.process_time()
            train_reconstructor(net, x, pts, epochs=cfg.rec_epochs, batch_size=cfg.rec_batch,
                                lr=cfg.rec_lr, seed=seed)
            cpus.append(time.process_time() - t)
            ev = evaluate(net, xt, ptt, data.labels[te], data.categories)
            cds.append(ev["chamfer"]["mean"])
            ious.append(ev["iou"]["mean"])
        n_par = sum(p.numel() for p in net.parameters())
        print(f"{arch:5s} params {n_par:8d}  CD x1000 {np.mean(cds):6.2f} ± "
              f"{np.std(cds, ddof=1):.2f}  IoU {np.mean(ious):.3f} ± {np.std(ious, ddof=1):.3f}"
              f"  train CPU s {np.mean(cpus):5.1f}")


if __name__ == "__main__":
    main()
