# The embedded demo cohort: one phantom case per job, written as a real DICOM tree.
if PLAN.source.generated:
    from dcesynth.phantom import VERSION as PHANTOM_VERSION, plan_cohort

    PHANTOM_SPECS = {s.case_id: s.as_dict() for s in plan_cohort(config["phantom"])}

    rule make_phantom:
        output:
            case_dir=directory(f"{config['data']['root']}/{{case}}"),
            mask=config["data"]["mask_pattern"],
        log:
            "logs/make_phantom/{case}.log",
        benchmark:
            "benchmarks/make_phantom/{case}.tsv"
        # the training chains wait for it: it runs first (PLAN.preprocess_priority)
        priority: PREPROCESS_PRIORITY
        conda:
            "../../envs/imaging.yaml"
        threads: rule_threads("make_phantom")
        resources:
            **rule_resources("make_phantom"),
        params:
            spec=lambda wildcards: PHANTOM_SPECS[wildcards.case],
            version=PHANTOM_VERSION,
        script:
            "../scripts/make_phantom.py"
