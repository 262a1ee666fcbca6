"""The retention schedule as data (model, loader) and its vectorised evaluation."""
