"""The nodata value an xarray variable declares, in the attributes rioxarray and CF use.

NaN needs no declaration: float NaN is always treated as nodata. A declared
value (``_FillValue``, ``nodata`` or ``missing_value`` in ``attrs``) marks
the elements equal to it as nodata too; they are masked before coding (the
codec spends no bits on them) and written back as that same value. Only
``attrs`` count: when xarray decoded a file with ``mask_and_scale``, the
``_FillValue`` in ``encoding`` was already turned into NaN.
"""

from __future__ import annotations

import math

import numpy as np

from torchgeo_inr.errors import SceneError

NODATA_ATTRS = ("_FillValue", "nodata", "missing_value")


def nodata_of(array) -> float | None:
    """The declared nodata value of a DataArray, or None (NaN counts as none: it is always masked)."""
    for key in NODATA_ATTRS:
        value = array.attrs.get(key)
        if value is None:
            continue
        flat = np.asarray(value).reshape(-1)
        if flat.size != 1 or not np.issubdtype(flat.dtype, np.number):
            raise SceneError(f"attribute {key}={value!r} is not one number; fix or drop it")
        number = float(flat[0])
        return None if math.isnan(number) else number
    return None
