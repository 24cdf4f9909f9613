"""The end-of-run failure summary parsed from Snakemake's own run log."""

from dcesynth.logs import failed_jobs, failure_summary

LOG = """\
[Wed Nov 25 01:23:30 2026]
localrule ingest:
    input: data/A
    output: results/nifti/A/pre.nii.gz
    jobid: 7
    reason: Missing output files
    wildcards: case=A
    resources: tmpdir=/tmp
[Wed Nov 25 01:23:30 2026]
localrule ingest:
    input: data/B
    jobid: 8
    wildcards: case=B
[Wed Nov 25 01:23:30 2026]
localrule plot_cohort:
    jobid: 9
RuleException:
CalledProcessError in file "x.smk", line 3:
[Wed Nov 25 01:23:31 2026]
Error in rule ingest:
    message: None
    jobid: 8
    log: logs/ingest/B.log (check log file(s) for error details)
[Wed Nov 25 01:23:32 2026]
Error in rule plot_cohort:
    jobid: 9
"""


def test_failed_jobs_are_matched_to_their_wildcards():
    assert failed_jobs(LOG) == [("ingest", {"case": "B"}), ("plot_cohort", {})]
    summary = failure_summary(LOG)
    assert "2 job(s) failed" in summary and "ingest (case=B)" in summary
    assert "Cases with a failed job: B" in summary
    assert failure_summary(LOG.split("RuleException")[0]) == ""
