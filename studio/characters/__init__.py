"""Song characters: uploads and templates, the description, the consistency job, rounds of looks, priority."""
