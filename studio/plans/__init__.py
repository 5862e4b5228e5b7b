"""Scene plans: the model of a plan file, its problems in a creator's words, editing it as rows, and the
catalogue of plans and jobs."""
