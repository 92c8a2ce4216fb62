"""File-format converters (ONNX and NNP); see ``nnl convert``."""
