"""Reference jobs: what a plan asks for, the run of a job, each reference, its events, the result and the
gallery."""
