"""torch_ref: the PyTorch twins of `scratch`, the conversion between the two
conventions, the parity harness, and the Lightning training path."""
