"""Networks built the same way with nnl or the real nnabla (``build(nn, F, PF, batch) -> (inputs, outputs)``).

Every builder takes the modules ``nn, F, PF`` of either library and a batch size, and returns two ordered dicts of
Variables (inputs and outputs by name). Parameters are created in the current parameter scope with the library's
own initializers; ``fill_parameters`` then overwrites all of them from NumPy generators seeded by parameter name,
so that both libraries hold identical values. Building again with another batch size reuses the parameters.

This module must run on Python 3.10 (nnabla's venv) and 3.11, with nothing but NumPy.
"""

import zlib
from collections import OrderedDict

import numpy as np

SEED = 2024


def _inputs(nn, **shapes):
    return OrderedDict((name, nn.Variable(shape)) for name, shape in shapes.items())


def mlp(nn, F, PF, batch):
    inputs = _inputs(nn, x=(batch, 12))
    h = F.tanh(PF.affine(inputs["x"], 16, name="fc1"))
    h = F.relu(PF.affine(h, 16, name="fc2"))
    y = PF.affine(h, 5, name="fc3")
    return inputs, OrderedDict(y=F.softmax(y))


def lenet(nn, F, PF, batch):
    inputs = _inputs(nn, x=(batch, 1, 28, 28))
    h = F.relu(PF.convolution(inputs["x"], 6, (5, 5), name="conv1"))
    h = F.max_pooling(h, (2, 2))
    h = F.relu(PF.convolution(h, 16, (5, 5), name="conv2"))
    h = F.max_pooling(h, (2, 2))
    h = F.relu(PF.affine(h, 50, name="fc3"))
    return inputs, OrderedDict(y=PF.affine(h, 10, name="fc4"))


def _conv_bn(F, PF, x, maps, stride, name, batch_stat, relu=True):
    h = PF.convolution(x, maps, (3, 3), pad=(1, 1), stride=(stride, stride), with_bias=False, name=name + "/conv")
    h = PF.batch_normalization(h, batch_stat=batch_stat, name=name + "/bn")
    return F.relu(h) if relu else h


def _residual_block(F, PF, x, maps, stride, name, batch_stat):
    h = _conv_bn(F, PF, x, maps, stride, name + "/a", batch_stat)
    h = _conv_bn(F, PF, h, maps, 1, name + "/b", batch_stat, relu=False)
    shortcut = x
    if stride != 1 or x.shape[1] != maps:
        shortcut = PF.convolution(x, maps, (1, 1), stride=(stride, stride), with_bias=False, name=name + "/sc/conv")
        shortcut = PF.batch_normalization(shortcut, batch_stat=batch_stat, name=name + "/sc/bn")
    return F.relu(F.add2(h, shortcut))


def _resnet20(nn, F, PF, batch, batch_stat, width=16):
    inputs = _inputs(nn, x=(batch, 3, 32, 32))
    h = _conv_bn(F, PF, inputs["x"], width, 1, "stem", batch_stat)
    for stage, maps in enumerate((width, 2 * width, 4 * width)):
        for block in range(3):
            stride = 2 if stage > 0 and block == 0 else 1
            h = _residual_block(F, PF, h, maps, stride, f"res{stage + 1}_{block + 1}", batch_stat)
    h = F.global_average_pooling(h)
    return inputs, OrderedDict(y=PF.affine(h, 10, name="fc"))


def resnet20(nn, F, PF, batch):
    """ResNet-20 for 32x32 images, inference graph (batch normalization with the running statistics)."""
    return _resnet20(nn, F, PF, batch, batch_stat=False)


def resnet20_train(nn, F, PF, batch):
    """ResNet-20, training graph (batch normalization with the batch statistics), half as wide (8/16/32 maps):
    a quarter of the parameters keeps the .nntxt (text floats, parsed in pure Python by nnabla) quick to read."""
    return _resnet20(nn, F, PF, batch, batch_stat=True, width=8)


def lstm(nn, F, PF, batch):
    """The registry LSTM (time-major: x (T, B, I), h0/c0 (L, D, B, H)); here ``batch`` is the sequence length,
    the leading dimension, so that it is what a variable batch size would vary."""
    inputs = _inputs(nn, x=(batch, 3, 5), h0=(2, 1, 3, 6), c0=(2, 1, 3, 6))
    y, hn, cn = PF.lstm(inputs["x"], inputs["h0"], inputs["c0"], num_layers=2, training=False, name="lstm")
    return inputs, OrderedDict(y=y, hn=hn, cn=cn)


def lstm_cell(nn, F, PF, batch, steps=4):
    """PF.lstm_cell unrolled over ``steps`` time steps (shared parameters), batch-major x (B, T, I)."""
    inputs = _inputs(nn, x=(batch, steps, 5), h0=(batch, 6), c0=(batch, 6))
    h, c = inputs["h0"], inputs["c0"]
    hs = []
    for xt in F.split(inputs["x"], axis=1):
        h, c = PF.lstm_cell(xt, h, c, 6, name="cell")
        hs.append(h)
    return inputs, OrderedDict(ys=F.stack(*hs, axis=1))  # (the last c feeds the last h: not a network output)


def quantized(nn, F, PF, batch):
    """Binary / fixed-point / power-of-two quantized layers."""
    inputs = _inputs(nn, x=(batch, 3, 8, 8))
    h = PF.binary_connect_convolution(inputs["x"], 4, (3, 3), pad=(1, 1), name="bc_conv")
    h = F.binary_sigmoid(h)
    h = F.max_pooling(h, (2, 2))
    h = PF.binary_weight_affine(h, 16, name="bw_affine")
    h = F.fixed_point_quantize(h, n=8, delta=0.125)
    h = F.pow2_quantize(h, n=6, m=2)
    return inputs, OrderedDict(y=PF.fixed_point_quantized_affine(h, 4, n_w=6, delta_w=0.03125, name="fq_affine"))


# -- corner cases of nnabla's variable batch size rule (nnabla/core/variable_batch_size.py) ----------------------------
def affine_base_axis2(nn, F, PF, batch):
    """A function with base_axis 2: nnabla flattens its input/output shapes to base_axis 1 in the file, and the
    batch size comes from the *last* function with a base_axis (here the second affine)."""
    inputs = _inputs(nn, x=(batch, 4, 6))
    h = PF.affine(inputs["x"], 5, base_axis=2, name="a")
    return inputs, OrderedDict(y=PF.affine(F.reshape(h, (batch, 20)), 2, name="b"))


def batch_moves(nn, F, PF, batch):
    """The leading dimension changes meaning after a transpose; the last function with a base_axis sets the batch."""
    inputs = _inputs(nn, x=(batch, 4))
    h = F.transpose(PF.affine(inputs["x"], 5, name="a"), (1, 0))
    return inputs, OrderedDict(y=PF.affine(h, 2, name="b"))


def no_base_axis(nn, F, PF, batch):
    """No function with a base_axis: nnabla writes no -1 at all (shapes stay literal)."""
    inputs = _inputs(nn, x=(batch, 4))
    c = nn.parameter.get_parameter_or_create("c", (1, 4))
    h = F.add2(inputs["x"], F.exp(c))
    return inputs, OrderedDict(y=F.broadcast(F.reshape(F.sum(h, axis=1), (batch, 1)), (batch, 4)))


RULE_NETWORKS = OrderedDict(
    affine_base_axis2=(affine_base_axis2, 3), batch_moves=(batch_moves, 3), no_base_axis=(no_base_axis, 3)
)

# name -> (builder, saved batch size, another batch size)
NETWORKS = OrderedDict(
    mlp=(mlp, 4, 7),
    lenet=(lenet, 3, 5),
    resnet20=(resnet20, 2, 3),
    resnet20_train=(resnet20_train, 4, 3),
    lstm=(lstm, 4, 6),
    lstm_cell=(lstm_cell, 3, 5),
    quantized=(quantized, 3, 2),
)


def _rng(*keys):
    return np.random.RandomState(zlib.crc32("/".join(str(k) for k in keys).encode()) ^ SEED)


def parameter_value(name, shape):
    """The deterministic value of parameter ``name``: scaled normal weights, positive variances, unit-ish scales."""
    rng = _rng("param", name)
    leaf = name.rsplit("/", 1)[-1]
    if leaf == "var":
        return rng.uniform(0.5, 1.5, shape).astype(np.float32)
    if leaf == "gamma":
        return (1 + 0.1 * rng.randn(*shape)).astype(np.float32)
    if leaf in ("beta", "mean", "b") or name.endswith("bias"):
        return (0.1 * rng.randn(*shape)).astype(np.float32)
    fan_in = int(np.prod(shape[1:])) if len(shape) == 4 else (shape[0] if len(shape) == 2 else shape[-1])
    return (rng.randn(*shape) / np.sqrt(max(fan_in, 1))).astype(np.float32)


def fill_parameters(nn):
    """Overwrite every parameter of the current scope with its ``parameter_value``."""
    for name, p in nn.get_parameters(grad_only=False).items():
        p.d = parameter_value(name, tuple(p.shape))


def input_values(network, batch, inputs):
    """Deterministic standard normal data for each input Variable (by network, batch size and input name)."""
    return OrderedDict(
        (name, _rng("input", network, batch, name).randn(*v.shape).astype(np.float32)) for name, v in inputs.items()
    )


# -- a full training configuration -----------------------------------------------------------------------------------
TRAIN_BATCH = 4


def _classifier(F, PF, x):
    h = F.relu(PF.affine(x, 16, name="fc1"))
    return PF.affine(h, 5, name="fc2")


def training_contents(nn, F, PF, S, context):
    """nnabla's ``save`` contents with every section, and the solvers (Adam on all parameters, Momentum on fc2).

    Returns ``(contents, graph)``: ``graph`` holds the Variables the driver trains (``x``, ``t``, ``loss``) and the
    solvers by optimizer name.
    """
    x, t = nn.Variable((TRAIN_BATCH, 12)), nn.Variable((TRAIN_BATCH, 1))
    loss = F.mean(F.softmax_cross_entropy(_classifier(F, PF, x), t))
    vx, vt = nn.Variable((TRAIN_BATCH, 12)), nn.Variable((TRAIN_BATCH, 1))
    error = F.mean(F.top_n_error(_classifier(F, PF, vx), vt))
    rx = nn.Variable((TRAIN_BATCH, 12))
    prob = F.softmax(_classifier(F, PF, rx))
    fill_parameters(nn)
    adam = S.Adam(alpha=0.01, beta1=0.8, beta2=0.99, eps=1e-7)
    adam.set_parameters(nn.get_parameters())
    momentum = S.Momentum(lr=0.05, momentum=0.8)
    momentum.set_parameters({k: v for k, v in nn.get_parameters().items() if k.startswith("fc2/")})
    contents = {
        "global_config": {"default_context": context},
        "training_config": {"max_epoch": 7, "iter_per_epoch": 13, "save_best": True},
        "networks": [
            {"name": "training", "batch_size": TRAIN_BATCH, "outputs": {"loss": loss}, "names": {"x": x, "t": t}},
            {"name": "validation", "batch_size": TRAIN_BATCH, "outputs": {"error": error}, "names": {"x": vx, "t": vt}},
            {"name": "runtime", "batch_size": TRAIN_BATCH, "outputs": {"y": prob}, "names": {"x": rx}},
        ],
        "datasets": [
            {
                "name": "train_ds",
                "uri": "data/train.csv",
                "cache_dir": "data/train.cache",
                "variables": ["x", "t"],
                "shuffle": True,
                "batch_size": TRAIN_BATCH,
                "no_image_normalization": True,
            },
            {
                "name": "valid_ds",
                "uri": "data/valid.csv",
                "variables": ["x", "t"],
                "shuffle": False,
                "batch_size": 2 * TRAIN_BATCH,
                "no_image_normalization": False,
            },
        ],
        "optimizers": [
            {
                "name": "adam_opt",
                "solver": adam,
                "network": "training",
                "dataset": "train_ds",
                "weight_decay": 1e-4,
                "lr_decay": 0.5,
                "lr_decay_interval": 3,
                "update_interval": 2,
                "data_variables": {"x": "x", "t": "t"},
                "loss_variables": ["loss"],
            },
            {
                "name": "momentum_opt",
                "solver": momentum,
                "network": "training",
                "dataset": ["train_ds"],
                "weight_decay": 0.0,
                "lr_decay": 1.0,
                "lr_decay_interval": 1,
                "update_interval": 1,
                "data_variables": {"x": "x", "t": "t"},
            },
        ],
        "monitors": [
            {
                "name": "train_error",
                "network": "validation",
                "dataset": "train_ds",
                "data_variables": {"x": "x", "t": "t"},
            },
            {
                "name": "valid_error",
                "network": "validation",
                "dataset": ["valid_ds"],
                "data_variables": {"x": "x", "t": "t"},
                "monitor_variables": ["error"],
            },
        ],
        "executors": [
            {
                "name": "runtime",
                "network": "runtime",
                "data": ["x"],
                "output": ["y"],
                "remp": {"x": "image"},
                "num_evaluations": 3,
                "repeat_evaluation_type": "mean",
                "need_back_propagation": False,
                "no_image_normalization": True,
            },
            {"name": "evaluate", "network": "validation"},
        ],
    }
    graph = {"x": x, "t": t, "loss": loss, "solvers": OrderedDict(adam_opt=adam, momentum_opt=momentum)}
    return contents, graph


def training_data(step):
    rng = _rng("train", step)
    x = rng.randn(TRAIN_BATCH, 12).astype(np.float32)
    t = rng.randint(0, 5, size=(TRAIN_BATCH, 1)).astype(np.float32)
    return x, t
