"""Image generation backends: a small base and its implementations beside it."""
