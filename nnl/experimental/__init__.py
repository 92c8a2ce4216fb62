"""Experimental utilities kept under nnabla's module names (``nnl.experimental.mixed_precision_training``)."""
