from dcesynth import logs

log = logs.from_snakemake(snakemake)

import SimpleITK as sitk

from dcesynth.io import read_image, write_image
from dcesynth.n4 import n4_correct

# ITK would use every core of the node; the job asked for `threads`.
sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(snakemake.threads)

for seq, path in snakemake.output.items():
    corrected, _ = n4_correct(
        read_image(snakemake.input[seq]),
        shrink_factor=snakemake.params.shrink_factor,
        iterations=snakemake.params.iterations,
        convergence_threshold=snakemake.params.convergence_threshold,
    )
    write_image(corrected, path)
    log.info("N4-corrected %s/%s", snakemake.wildcards.case, seq)
