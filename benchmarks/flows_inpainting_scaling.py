"""Wall time per inpainting step for a fixed 4x4 hole as the image grows: local vs whole flow.

Run: ``OMP_NUM_THREADS=1 PYTHONPATH=src python benchmarks/flows_inpainting_scaling.py``
(``--hidden 512 --batch 4 --steps 5`` are the defaults, as ``reprlab reproduce flows``).
Same randomly perturbed RG-Flow for both paths at each L; the anchor is L = 32: the pre-
registered spec is local ≤ 3x from L = 32 to 128 (O(log L)), whole flow ~16x (O(L²)).
"""

from __future__ import annotations

import argparse

from reprlab.flows.inpainting import scaling_benchmark


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[16, 32, 64, 128])
    parser.add_argument("--hidden", type=int, default=512)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--steps", type=int, default=5)
    args = parser.parse_args()
    rows = scaling_benchmark(tuple(args.sizes), hidden=args.hidden, batch=args.batch,
                             steps=args.steps)
    anchor = next((r for r in rows if r["size"] == 32), rows[0])
    print(f"fixed 4x4 hole, width {args.hidden}, batch {args.batch}; ratios vs L = "
          f"{anchor['size']}")
    print("    L   local ms  (x)    whole ms  (x)    speed-up  blocks local/whole  setup s")
    for r in rows:
        lx = r["local_step"] / anchor["local_step"]
        wx = r["whole_step"] / anchor["whole_step"]
        print(f"{r['size']:>5}  {1e3 * r['local_step']:>8.1f} {lx:>5.2f}"
              f"  {1e3 * r['whole_step']:>9.1f} {wx:>5.2f}"
              f"  {r['whole_step'] / r['local_step']:>8.2f}  {int(r['local_blocks']):>7}/"
              f"{int(r['whole_blocks']):<7}  {r['local_setup']:>7.2f}")


if __name__ == "__main__":
    main()
