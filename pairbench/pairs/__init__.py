"""Built-in pairs: one module per component, each exposing PAIRS (see pairbench.registry)."""
