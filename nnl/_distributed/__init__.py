"""Private machinery of :mod:`nnl.communicators`: the process environment, the torch.distributed backend, the
all-reduce backward callback and the local launcher. Nothing here imports torch at module level."""
