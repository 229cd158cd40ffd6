"""Video-level exports with object identity, one module per format."""
