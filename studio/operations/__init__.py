"""Running the studio: the doctor and retention."""
