from dcesynth import logs

log = logs.from_snakemake(snakemake)

from dcesynth import io, segmentation

case = snakemake.wildcards.case
mask = io.read_image(snakemake.input.mask)
for name, path in snakemake.output.items():
    crop = segmentation.crop_breast(
        io.read_image(snakemake.input[name]),
        mask,
        snakemake.params.resample_mm,
        label=name == segmentation.LABEL,
        case=case,
    )
    io.write_image(crop, path)
    log.info("%s/%s: tumour-side breast %s voxels, spacing %s mm", case, name, crop.GetSize(),
             tuple(round(s, 3) for s in crop.GetSpacing()))  # fmt: skip
