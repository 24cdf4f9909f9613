from dcesynth import logs

log = logs.from_snakemake(snakemake)

from dcesynth import io, segmentation

wc = snakemake.wildcards
image = io.read_image(snakemake.input.image)
mask = io.read_image(snakemake.input.mask)
crop = segmentation.crop_breast(
    image, mask, snakemake.params.resample_mm, label=wc.image == segmentation.LABEL, case=wc.case
)
io.write_image(crop, snakemake.output[0])
log.info("%s/%s: tumour-side breast %s voxels, spacing %s mm", wc.case, wc.image, crop.GetSize(),
         tuple(round(s, 3) for s in crop.GetSpacing()))
