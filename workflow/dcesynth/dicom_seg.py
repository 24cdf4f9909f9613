"""nnU-Net predictions as DICOM Segmentation objects (SEG) that a PACS viewer overlays on the
series the prediction was made on.

A prediction is made on a breast crop (a sub-grid of the volume, or that sub-grid resampled to
isotropic voxels: ``segmentation.resample_mm``). The SEG's frames are those of the whole volume's
series, so the prediction is first put back onto the volume's grid (nearest neighbour; where the
crop is a sub-grid this only pads with background). The referenced series is one the export
wrote from that same volume (:func:`dcesynth.dicom_export.export_reference`, or the synthetic
series), so the SEG carries that series' identity: pseudonymous by default.

The SEG has one segment, "tumour", with the algorithm that made it (nnU-Net v2, the training
scenario, its folds and the test domain). highdicom writes it; after writing it is read back
with highdicom and compared with the mask it was made from, so a SEG that would overlay another
mask than the NIfTI's never leaves the job.
"""

from __future__ import annotations

import importlib.metadata
import logging
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from . import __version__
from .dicom_export import uid
from .errors import InputError
from .io import atomic_path

log = logging.getLogger("dcesynth")


def read_series_datasets(folder: str | Path) -> list:
    """The files of one exported series, in slice order (InstanceNumber: the volume's k index)."""
    import pydicom

    datasets = [pydicom.dcmread(f) for f in sorted(Path(folder).glob("*.dcm"))]
    if not datasets:
        raise InputError(f"{folder}: no DICOM files (the series a segmentation refers to)")
    return sorted(datasets, key=lambda ds: int(ds.InstanceNumber))


def mask_on_grid(prediction: sitk.Image, reference: sitk.Image) -> np.ndarray:
    """A binary mask (z, y, x) of ``prediction`` (label > 0) on ``reference``'s voxel grid."""
    binary = sitk.Cast(prediction > 0, sitk.sitkUInt8)
    resampled = sitk.Resample(binary, reference, sitk.Transform(), sitk.sitkNearestNeighbor, 0, sitk.sitkUInt8)
    return sitk.GetArrayFromImage(resampled).astype(bool)


def _segment(scenario: str, domain: str, folds: list[int] | None):
    import highdicom as hd
    from pydicom.sr.codedict import codes

    parameters = {"training set": scenario, "test image": domain}
    if folds:
        parameters["folds"] = ",".join(map(str, folds))
    algorithm = hd.AlgorithmIdentificationSequence(
        name="nnU-Net v2",
        family=codes.DCM.ArtificialIntelligence,
        version=importlib.metadata.version("nnunetv2"),
        source="dcesynth",
        parameters=parameters,
    )
    return hd.seg.SegmentDescription(
        segment_number=1,
        segment_label="tumour",
        segmented_property_category=codes.SCT.MorphologicallyAbnormalStructure,
        segmented_property_type=codes.SCT.Neoplasm,
        algorithm_type=hd.seg.SegmentAlgorithmTypeValues.AUTOMATIC,
        algorithm_identification=algorithm,
        anatomic_regions=[codes.SCT.Breast],
    )


def write_segmentation(
    prediction: str | Path,
    reference_volume: str | Path,
    series_folder: str | Path,
    out: str | Path,
    *,
    case: str,
    run: str,
    scenario: str,
    domain: str,
    folds: list[int] | None = None,
) -> int:
    """Write the SEG of one prediction, referencing the series in ``series_folder`` (written from
    ``reference_volume``); returns the number of tumour voxels."""
    import highdicom as hd

    reference = sitk.ReadImage(str(reference_volume))
    mask = mask_on_grid(sitk.ReadImage(str(prediction)), reference)
    sources = read_series_datasets(series_folder)
    if len(sources) != mask.shape[0] or (sources[0].Rows, sources[0].Columns) != mask.shape[1:]:
        raise InputError(f"{case}: the series {series_folder} ({len(sources)} x {sources[0].Rows} x "
                         f"{sources[0].Columns}) is not on the grid of {reference_volume} {mask.shape}")  # fmt: skip
    series_uid = uid(sources[0].StudyInstanceUID, "|", run, "|", scenario, "|", domain, "|seg")
    seg = hd.seg.Segmentation(
        source_images=sources,
        pixel_array=mask.astype(np.uint8),
        segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
        segment_descriptions=[_segment(scenario, domain, folds)],
        series_instance_uid=series_uid,
        series_number=9500,  # after the acquired and the synthetic series
        sop_instance_uid=uid(series_uid, "|1"),
        instance_number=1,
        manufacturer="dcesynth",
        manufacturer_model_name="dcesynth tumour segmentation",
        software_versions=__version__,
        device_serial_number="0",
        content_label="TUMOUR",
        content_description=f"nnU-Net {scenario} on {domain}"[:64],
        series_description=f"SEG tumour nnU-Net {scenario} on {domain}"[:64],
    )
    with atomic_path(out) as tmp:
        seg.save_as(tmp)
    back = read_segmentation(out, sources)
    if not np.array_equal(back, mask):
        raise RuntimeError(f"{out}: the SEG read back differs from the prediction in {int((back != mask).sum())} voxels")
    n = int(mask.sum())
    log.info("%s: SEG of %s on %s, %d tumour voxels in %d of %d slices -> %s", case, scenario, domain, n,
             int(mask.any(axis=(1, 2)).sum()), mask.shape[0], out)  # fmt: skip
    return n


def read_segmentation(path: str | Path, sources: list) -> np.ndarray:
    """The tumour mask (z, y, x) of a SEG on the frames of its source series ``sources`` (the
    datasets in slice order), read with highdicom."""
    import highdicom as hd

    seg = hd.seg.segread(str(path))
    pixels = seg.get_pixels_by_source_instance(
        source_sop_instance_uids=[ds.SOPInstanceUID for ds in sources], segment_numbers=[1]
    )
    return pixels[..., 0].astype(bool)
