"""nnx-conformance: differential conformance suite for the NNX pure-state-update exercise."""
