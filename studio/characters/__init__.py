"""Song characters: uploads and templates, the consistency job, and priority resolution."""
