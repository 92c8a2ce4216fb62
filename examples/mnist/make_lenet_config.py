"""Write ``lenet.nntxt``: LeNet on the MNIST CSV dataset as a Neural Network Console style training configuration.

    python examples/mnist/make_lenet_config.py      # regenerates examples/mnist/lenet.nntxt

Networks ``Main`` (training loss), ``MainValidation`` (same loss, for the monitors) and ``MainRuntime`` (softmax
probabilities ``y'``), datasets ``Training``/``Validation`` (``data/mnist/*.csv``, made by ``nnl dataset mnist -o
data/mnist``), Adam, monitors ``train_error``/``valid_error`` and the executor ``Executor``, as NNC writes them.
"""

from __future__ import annotations

import os

import nnl as nn
import nnl.functions as F
import nnl.parametric_functions as PF
import nnl.solvers as S
from nnl.ext_utils import get_extension_context
from nnl.utils.save import save

BATCH = 64
TRAIN_IMAGES = 4000


def lenet(x):
    """Caffe's LeNet sizes: 20 and 50 maps of 5x5, max-pooling, 500 hidden units, 10 classes."""
    h = F.relu(F.max_pooling(PF.convolution(x, 20, (5, 5), name="conv1"), (2, 2)))
    h = F.relu(F.max_pooling(PF.convolution(h, 50, (5, 5), name="conv2"), (2, 2)))
    h = F.relu(PF.affine(h, 500, name="fc3"))
    return PF.affine(h, 10, name="fc4")


def network(kind):
    x = nn.Variable((BATCH, 1, 28, 28))
    logits = lenet(x)
    if kind == "runtime":
        return {"outputs": {"y'": F.softmax(logits)}, "names": {"x": x}}
    y = nn.Variable((BATCH, 1))
    return {"outputs": {"loss": F.softmax_cross_entropy(logits, y)}, "names": {"x": x, "y": y}}


def main(path):
    nn.clear_parameters()
    nn.seed(0)
    networks = [dict(name=n, batch_size=BATCH, **network(k))
                for n, k in (("Main", "train"), ("MainValidation", "train"), ("MainRuntime", "runtime"))]
    solver = S.Adam(0.001)
    solver.set_parameters(nn.get_parameters())
    dataset = {"cache_dir": None, "variables": ["x", "y"], "batch_size": BATCH, "no_image_normalization": False}
    contents = {
        "global_config": {"default_context": get_extension_context("cpu")},
        "training_config": {"max_epoch": 10, "iter_per_epoch": TRAIN_IMAGES // BATCH, "save_best": True,
                            "monitor_interval": 1},
        "networks": networks,
        "datasets": [
            dict(dataset, name="Training", uri="data/mnist/mnist_training.csv", shuffle=True),
            dict(dataset, name="Validation", uri="data/mnist/mnist_test.csv", shuffle=False),
        ],
        "optimizers": [{"name": "Optimizer", "solver": solver, "network": "Main", "dataset": "Training",
                        "weight_decay": 0, "lr_decay": 1, "lr_decay_interval": 1, "update_interval": 1,
                        "data_variables": {"x": "x", "y": "y"}, "loss_variables": ["loss"]}],
        "monitors": [
            {"name": "train_error", "network": "MainValidation", "dataset": "Training",
             "data_variables": {"x": "x", "y": "y"}, "monitor_variables": ["loss"]},
            {"name": "valid_error", "network": "MainValidation", "dataset": "Validation",
             "data_variables": {"x": "x", "y": "y"}, "monitor_variables": ["loss"]},
        ],
        "executors": [{"name": "Executor", "network": "MainRuntime", "data": ["x"], "output": ["y'"],
                       "num_evaluations": 1, "repeat_evaluation_type": "mean", "need_back_propagation": False}],
    }
    save(path, contents)
    _add_initializers(path)


def _add_initializers(path):
    """Name each parameter's initializer in the file (NNC does; ``nnl train`` starts from them)."""
    from nnl.nnp.container import read_nnp, write_nnp

    nnp = read_nnp(path)
    for net in nnp.proto.network:
        for v in net.variable:
            if v.type == "Parameter":
                kind = "Constant" if v.name.endswith("/b") else (
                    "NormalConvolutionGlorot" if "/conv/" in v.name else "NormalAffineGlorot")
                v.initializer.type = kind
                v.initializer.multiplier = 0.0 if kind == "Constant" else 1.0
    write_nnp(path, nnp, include_params=False)


if __name__ == "__main__":
    main(os.path.join(os.path.dirname(os.path.abspath(__file__)), "lenet.nntxt"))
