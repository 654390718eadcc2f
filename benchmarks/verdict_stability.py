"""Do the claim verdicts hold still? Every claim at its defaults on seeds 0-4 and on 5-9.

    PYTHONPATH=$PWD python benchmarks/verdict_stability.py [--claims ID,...]

Prints one row per (claim, seed set): the verdict, the headline effect and its 95% interval,
and the wall and CPU seconds each took; under it each condition's decision, effect and
interval. Then whether the two sets agree and the checker's total time per set (the issue's
budget: all claims at the defaults within 30 s on 2 cores; on a shared machine the CPU time is
the figure to compare). Timings have no seeds: the second set is a second, independent measurement.
"""

from __future__ import annotations

import argparse
import os
import time

from normlab.lessons.claims import CLAIMS, check_claim

SEED_SETS = ((0, 1, 2, 3, 4), (5, 6, 7, 8, 9))


def number(value) -> str:
    return "-" if value is None else f"{value:.3g}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--claims", default=",".join(c.id for c in CLAIMS))
    ids = parser.parse_args().claims.split(",")
    totals = {seeds: [0.0, 0.0] for seeds in SEED_SETS}
    verdicts = {}
    print(f"load average at start: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print(f"{'claim':30} {'seeds':5} {'verdict':62} {'effect':>8} {'interval':>20} "
          f"{'wall':>6} {'cpu':>6}")
    for claim_id in ids:
        for seeds in SEED_SETS:
            wall, cpu = time.perf_counter(), time.process_time()
            verdict = check_claim(claim_id, seeds=seeds)
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            totals[seeds][0] += wall
            totals[seeds][1] += cpu
            verdicts[claim_id, seeds] = verdict.verdict
            interval = ("-" if verdict.interval is None else
                        f"[{number(verdict.interval[0])}, {number(verdict.interval[1])}]")
            print(f"{claim_id:30} {seeds[0]}-{seeds[-1]:<3} {verdict.verdict[:62]:62} "
                  f"{number(verdict.effect):>8} {interval:>20} {wall:6.1f} {cpu:6.1f}",
                  flush=True)
            for part in verdict.parts:  # every condition the verdict combines
                d = part.decision
                print(f"{'':30} {'':5}   {part.condition[:48]:48} {d.verdict:13} "
                      f"{number(d.effect):>8} [{number(d.low)}, {number(d.high)}]")
    same = [c for c in ids if verdicts[c, SEED_SETS[0]] == verdicts[c, SEED_SETS[1]]]
    print(f"\nsame verdict on both seed sets: {len(same)} of {len(ids)}"
          + "".join(f"\n  differs: {c}" for c in ids if c not in same))
    for seeds, (wall, cpu) in totals.items():
        print(f"claim checker, seeds {seeds[0]}-{seeds[-1]}: {wall:.1f} s wall, {cpu:.1f} s CPU")
    print(f"load average at the end: {os.getloadavg()[0]:.1f}")
    return 0 if len(same) == len(ids) else 1


if __name__ == "__main__":
    raise SystemExit(main())
