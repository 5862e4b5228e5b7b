"""The review gate (approve, reject, export) and the regeneration of rejected references."""
