"""Measure what the user actually sees: painted frames of a chart, not DOM presence.

From the research behind issue 11 (/work/scratch/live); used by tests/test_e2e.py.

    from painted import sample_painted, start_dom_probe, stop_dom_probe
    res = sample_painted(page, page.locator("[data-testid=stPlotlyChart]").first, seconds=8)
    frames, blank, flips, first = res
    assert blank / max(frames, 1) < 0.05

Definitions
-----------
* The clip is the locator's bounding box at the moment it first has a size
  (the chart may be unmounted later: we keep sampling the same screen area).
* ink(frame) = fraction of pixels differing from the background colour
  (the most common colour of the clip's border ring) by > `tol` in any channel.
* A frame is *blank* if ink < max(min_ink, ref_frac * ref_ink), ref_ink = ink of
  the first painted frame (a chart whose traces vanished but axes remain counts
  as blank when ref_frac is high enough; default 0.5).
* flips = number of painted<->blank transitions after the first painted frame.
* first_draw_time = seconds from the call until the first painted frame (None if never).
"""
from __future__ import annotations

import hashlib
import io
import time
from typing import NamedTuple

from PIL import Image


class Painted(NamedTuple):
    frames: int            # frames sampled after (and including) the first painted frame
    blank_frames: int      # of those, how many were blank
    flips: int             # painted<->blank transitions
    first_draw_time: float | None


def _ink(png: bytes, tol: int = 24) -> tuple[float, str]:
    im = Image.open(io.BytesIO(png)).convert("RGB")
    w, h = im.size
    small = im.resize((max(1, w // 2), max(1, h // 2)), Image.NEAREST)
    px = small.load()
    sw, sh = small.size
    ring = [px[x, 0] for x in range(sw)] + [px[x, sh - 1] for x in range(sw)] + \
           [px[0, y] for y in range(sh)] + [px[sw - 1, y] for y in range(sh)]
    bg = max(set(ring), key=ring.count)
    data = (small.get_flattened_data() if hasattr(small, "get_flattened_data")
            else small.getdata())
    n = sum(1 for p in data
            if abs(p[0] - bg[0]) > tol or abs(p[1] - bg[1]) > tol or abs(p[2] - bg[2]) > tol)
    return n / float(sw * sh), hashlib.md5(small.tobytes()).hexdigest()


def sample_painted(page, locator, seconds: float, interval: float = 0.05, *,
                   min_ink: float = 0.003, ref_frac: float = 0.5, min_height: int = 40,
                   wait_timeout: float = 30.0, trace: list | None = None) -> Painted:
    """Screenshot `locator`'s screen area every `interval` s for `seconds` s after it appears.

    `trace` (optional list) receives dicts {t, ink, blank, hash} per frame.
    Returns Painted(frames, blank_frames, flips, first_draw_time).
    """
    t_call = time.monotonic()
    box = None
    while time.monotonic() - t_call < wait_timeout:
        try:
            b = locator.bounding_box(timeout=500)
        except Exception:
            b = None
        if b and b["height"] >= min_height and b["width"] >= min_height:
            box = b
            break
        time.sleep(interval)
    if box is None:
        return Painted(0, 0, 0, None)
    clip = {k: box[k] for k in ("x", "y", "width", "height")}
    frames = blank = flips = 0
    first = None
    ref = None
    prev_blank = None
    t_end = time.monotonic() + seconds
    while time.monotonic() < t_end or (first is None and time.monotonic() - t_call < wait_timeout):
        t0 = time.monotonic()
        png = page.screenshot(clip=clip, animations="allow", caret="initial", timeout=5000)
        ink, h = _ink(png)
        if first is None:
            if ink >= min_ink:
                first, ref = t0 - t_call, ink
                t_end = max(t_end, time.monotonic() + seconds)  # sample `seconds` after first paint
            else:
                time.sleep(max(0.0, interval - (time.monotonic() - t0)))
                continue
        is_blank = ink < max(min_ink, ref_frac * ref)
        frames += 1
        blank += is_blank
        if prev_blank is not None and is_blank != prev_blank:
            flips += 1
        prev_blank = is_blank
        if trace is not None:
            trace.append({"t": round(t0 - t_call, 3), "ink": round(ink, 4), "blank": is_blank,
                          "hash": h})
        time.sleep(max(0.0, interval - (time.monotonic() - t0)))
    return Painted(frames, blank, flips, first)


# ---- in-page probe: checks every animation frame (catches blanks shorter than a screenshot)
_PROBE_JS = r"""
(sel) => {
  // Only the first chart slot painted is followed (its top edge is remembered).
  const P = window.__paintProbe = {frames: 0, blank: 0, flips: 0, first: null, prev: null,
                                   titles: new Set(), t0: performance.now(), run: true};
  // [document, y-offset]: iframe contents are offset by the iframe's top
  const docs = () => {
    const out = [[document, 0]];
    document.querySelectorAll('iframe').forEach(f => {
      try {
        if (f.contentDocument) out.push([f.contentDocument, f.getBoundingClientRect().top]);
      } catch (e) {}
    });
    return out;
  };
  function painted() {
    for (const [d, off] of docs()) {
      for (const root of d.querySelectorAll(sel)) {
        const r = root.getBoundingClientRect();
        if (r.height < 40 || r.width < 40) continue;
        const top = r.top + off;
        if (P.top !== undefined && Math.abs(top - P.top) > 30) continue;   // same chart slot only
        // plotly: a non-empty trace path, heatmap image or bar, or echarts/vega canvas/svg mark
        const line = [...root.querySelectorAll('path.js-line')].some(
          p => (p.getAttribute('d') || '').length > 10);
        const img = root.querySelector(
          '.heatmaplayer image, .barlayer .point path, canvas, svg .mark-line path');
        if (line || img) {
          if (P.top === undefined) P.top = top;
          const t = root.querySelector('.gtitle'); if (t) P.titles.add(t.textContent);
          return true;
        }
      }
    }
    return false;
  }
  function tick() {
    if (!P.run) return;
    const p = painted();
    if (P.first === null && p) P.first = (performance.now() - P.t0) / 1000;
    if (P.first !== null) {
      P.frames++; if (!p) P.blank++;
      if (P.prev !== null && p !== P.prev) P.flips++;
      P.prev = p;
    }
    requestAnimationFrame(tick);
  }
  requestAnimationFrame(tick);
}
"""


def start_dom_probe(page, selector: str = "[data-testid=stPlotlyChart], .js-plotly-plot") -> None:
    """Start a requestAnimationFrame probe: per frame, is a chart with drawn traces in the DOM?"""
    page.evaluate(_PROBE_JS, selector)


def stop_dom_probe(page) -> dict:
    return page.evaluate("""() => { const P = window.__paintProbe; P.run = false;
        return {frames: P.frames, blank: P.blank, flips: P.flips, first: P.first,
                updates_seen: P.titles.size}; }""")
