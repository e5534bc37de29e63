"""Band-centre wavelengths (nm) of the benchmark scenes, which the .mat files do not carry.

Sensor metadata only: a few hundred numbers, shipped so that every sample
can say which wavelength each band measures.
"""

from __future__ import annotations

import numpy as np

# Centre wavelengths of the 220 AVIRIS bands of the Indian Pines scene (1992),
# generated once from 92AV3C.spc (column 1, rounded to 0.01 nm: the file holds
# float32 copies of two-decimal values). That file has no canonical download
# URL, hence the table. AVIRIS has four spectrometers whose ranges overlap, so
# the sequence steps back slightly at bands 32, 95 and 158 (1-based).
INDIAN_PINES_220_WAVELENGTHS = (
    400.02, 409.82, 419.62, 429.43, 439.25, 449.07, 458.90, 468.73, 478.57, 488.41,
    498.26, 508.12, 517.98, 527.85, 537.72, 547.60, 557.49, 567.38, 577.28, 587.18,
    597.09, 607.01, 616.93, 626.85, 636.78, 646.72, 656.67, 666.61, 676.57, 686.53,
    696.50, 686.91, 696.55, 706.19, 715.83, 725.47, 735.11, 744.74, 754.38, 764.01,
    773.64, 783.27, 792.91, 802.53, 812.16, 821.79, 831.41, 841.04, 850.66, 860.28,
    869.91, 879.53, 889.14, 898.76, 908.38, 917.99, 927.61, 937.22, 946.83, 956.45,
    966.06, 975.66, 985.27, 994.88, 1004.48, 1014.09, 1023.69, 1033.29, 1042.89, 1052.49,
    1062.09, 1071.69, 1081.29, 1090.88, 1100.48, 1110.07, 1119.66, 1129.25, 1138.84, 1148.43,
    1158.02, 1167.61, 1177.19, 1186.77, 1196.36, 1205.94, 1215.52, 1225.10, 1234.68, 1244.26,
    1253.83, 1263.41, 1272.98, 1282.55, 1273.00, 1282.96, 1292.93, 1302.89, 1312.85, 1322.81,
    1332.77, 1342.73, 1352.68, 1362.64, 1372.59, 1382.54, 1392.49, 1402.44, 1412.39, 1422.34,
    1432.28, 1442.23, 1452.17, 1462.11, 1472.05, 1481.99, 1491.92, 1501.86, 1511.79, 1521.73,
    1531.66, 1541.59, 1551.52, 1561.44, 1571.37, 1581.30, 1591.22, 1601.14, 1611.06, 1620.98,
    1630.90, 1640.81, 1650.73, 1660.64, 1670.56, 1680.47, 1690.38, 1700.28, 1710.19, 1720.10,
    1730.00, 1739.90, 1749.81, 1759.71, 1769.60, 1779.50, 1789.40, 1799.29, 1809.19, 1819.08,
    1828.97, 1838.86, 1848.75, 1858.63, 1868.52, 1878.40, 1888.28, 1883.24, 1893.25, 1903.26,
    1913.26, 1923.27, 1933.27, 1943.27, 1953.26, 1963.25, 1973.24, 1983.23, 1993.22, 2003.20,
    2013.18, 2023.16, 2033.13, 2043.10, 2053.07, 2063.04, 2073.00, 2082.97, 2092.92, 2102.88,
    2112.83, 2122.78, 2132.73, 2142.68, 2152.62, 2162.56, 2172.50, 2182.43, 2192.37, 2202.30,
    2212.22, 2222.15, 2232.07, 2241.99, 2251.90, 2261.82, 2271.73, 2281.64, 2291.54, 2301.45,
    2311.35, 2321.25, 2331.14, 2341.03, 2350.92, 2360.81, 2370.70, 2380.58, 2390.46, 2400.33,
    2410.21, 2420.08, 2429.95, 2439.81, 2449.68, 2459.54, 2469.40, 2479.25, 2489.11, 2498.96,
)  # fmt: skip

# Water-absorption bands (1-based, of the 220) that Indian_pines_corrected.mat leaves out.
INDIAN_PINES_REMOVED_BANDS = (*range(104, 109), *range(150, 164), 220)

# AVIRIS records 224 bands; without a calibration file we use its nominal range.
AVIRIS_BANDS = 224
AVIRIS_RANGE_NM = (400.0, 2500.0)

# ROSIS: nominal 430-860 nm range of the sensor, bands assumed evenly spaced.
ROSIS_RANGE_NM = (430.0, 860.0)


# The 200 AVIRIS bands (1-based, of the 220) that Indian_pines_corrected.mat keeps.
INDIAN_PINES_KEPT_BANDS = tuple(b for b in range(1, 221) if b not in INDIAN_PINES_REMOVED_BANDS)


def indian_pines_wavelengths() -> np.ndarray:
    """The 200 band centres of the corrected Indian Pines cube (the 220 minus the removed bands)."""
    return np.asarray(INDIAN_PINES_220_WAVELENGTHS, dtype=np.float32)[np.asarray(INDIAN_PINES_KEPT_BANDS) - 1]


def rosis_wavelengths(bands: int) -> np.ndarray:
    """``bands`` centres evenly over ROSIS' nominal range (103 for Pavia University, 102 for Centre)."""
    return np.linspace(*ROSIS_RANGE_NM, bands, dtype=np.float32)


def aviris_nominal_wavelengths(selected_bands: np.ndarray | None = None) -> np.ndarray:
    """The 224 nominal AVIRIS centres (evenly spaced), or those of the 1-based ``selected_bands``."""
    centres = np.linspace(*AVIRIS_RANGE_NM, AVIRIS_BANDS, dtype=np.float32)
    if selected_bands is None:
        return centres
    return centres[np.asarray(selected_bands, dtype=np.int64).reshape(-1) - 1]


def band_names(numbers) -> tuple[str, ...]:
    """TorchGeo-style band names ("B1", "B2", ...) of 1-based sensor band numbers."""
    return tuple(f"B{int(n)}" for n in numbers)


def nearest_bands(names, wavelengths, targets_nm) -> tuple[str, ...]:
    """The name of the band nearest each target wavelength (nm): e.g. a scene's RGB bands."""
    wavelengths = np.asarray(wavelengths, dtype=np.float64)
    return tuple(names[int(np.argmin(np.abs(wavelengths - nm)))] for nm in targets_nm)
