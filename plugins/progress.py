"""Whole-job progress over tiles, for tiled compress and Zarr writes.

On Dask's local schedulers (threads, synchronous) the tiles run in this
process: a tqdm bar counts them, advanced by each tile's encode
(:func:`tile_done`) rather than by Dask task names, which graph
optimisation fuses and renames. Wrap any computation in
:func:`tile_progress` to see it, including a lazy compressed form composed
into a larger graph::

    with tile_progress(total=form["reflectance"].size):
        dask.compute(form, other)

On a ``distributed`` cluster the tiles run in worker processes:
:func:`compute` then shows distributed's own progress bar (a widget in
Jupyter) and names the dashboard, where every task is visible.
"""

from __future__ import annotations

import sys
import threading
from contextlib import contextmanager

from tqdm.auto import tqdm

_bars: list = []
_lock = threading.Lock()


def tile_done(count: int = 1) -> None:
    """Advance every active bar of this process (called once per tile encoded or Zarr chunk written)."""
    with _lock:
        for bar in _bars:
            bar.update(count)


@contextmanager
def tile_progress(total: int | None = None, desc: str = "tiles", enabled: bool = True):
    """A tqdm bar over the tiles encoded in this process while the block runs."""
    bar = tqdm(total=total, desc=desc, unit="tile", disable=not enabled)
    with _lock:
        _bars.append(bar)
    try:
        yield bar
    finally:
        with _lock:
            _bars.remove(bar)
        bar.close()


def distributed_client():
    """The ``distributed.Client`` that ``dask.compute`` would run on now, or None."""
    if "distributed" not in sys.modules:
        return None
    import dask.base
    from distributed import default_client

    try:
        client = default_client()
    except ValueError:
        return None
    return client if dask.base.get_scheduler() == client.get else None


def _say_dashboard(client, total, desc: str) -> None:
    if "dashboard" in client.scheduler_info().get("services", {}):
        print(f"{desc}: {total} tiles on the Dask cluster; dashboard: {client.dashboard_link}", file=sys.stderr)


@contextmanager
def job_progress(total: int | None, desc: str, enabled: bool = True):
    """Progress of work that computes itself (``Dataset.to_zarr``): a tile bar here, the dashboard on a cluster."""
    client = distributed_client() if enabled else None
    if client is not None:
        _say_dashboard(client, total, desc)
        yield None
        return
    with tile_progress(total, desc, enabled) as bar:
        yield bar


def compute(*collections, total: int | None, desc: str, progress: bool = True) -> tuple:
    """``dask.compute(*collections)``, with a bar over ``total`` tiles when ``progress``."""
    import dask

    if not progress:
        return dask.compute(*collections)
    client = distributed_client()
    if client is None:
        with tile_progress(total, desc):
            return dask.compute(*collections)
    import distributed

    _say_dashboard(client, total, desc)
    futures = client.compute(list(collections))
    distributed.progress(futures)  # a text bar in a terminal (returns when done), a widget in Jupyter
    return tuple(client.gather(futures))
