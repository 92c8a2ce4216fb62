"""Benchmark workloads, written once against nnabla's API (``nn``, ``F``, ``PF``, ``S`` are passed in), so the
same code runs on nnl and on real nnabla. Each ``build_*`` returns a ``step()`` callable doing one iteration.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

Step = Callable[[], None]


CAPTURE = False  # set by benchmarks/precision.py --graph: nnl replays each training step as a CUDA graph


def _train_step(nn: Any, S: Any, loss: Any, inputs: list[tuple[Any, np.ndarray]]) -> Step:
    solver = S.Adam(1e-3)
    solver.set_parameters(nn.get_parameters())
    if CAPTURE:
        from nnl.graph_capture import capture_training_step

        captured = capture_training_step(loss, solver, inputs=[variable for variable, _ in inputs])

        def replay() -> None:
            for variable, value in inputs:
                variable.d = value
            captured()

        return replay

    def step() -> None:
        for variable, value in inputs:
            variable.d = value
        loss.forward(clear_no_need_grad=True)
        solver.zero_grad()
        loss.backward(clear_buffer=True)
        solver.update()

    return step


def build_mlp(nn: Any, F: Any, PF: Any, S: Any, batch: int = 64) -> Step:
    """784-512-512-10 perceptron with ReLU, softmax cross entropy, Adam."""
    rng = np.random.RandomState(0)
    x, t = nn.Variable((batch, 784)), nn.Variable((batch, 1))
    h = F.relu(PF.affine(x, 512, name="fc1"))
    h = F.relu(PF.affine(h, 512, name="fc2"))
    loss = F.mean(F.softmax_cross_entropy(PF.affine(h, 10, name="fc3"), t))
    return _train_step(nn, S, loss, [(x, rng.rand(batch, 784)), (t, rng.randint(0, 10, (batch, 1)))])


def lenet(F: Any, PF: Any, image: Any) -> Any:
    """nnabla-examples' LeNet (two conv/pool/relu stages, two affine layers)."""
    h = F.relu(F.max_pooling(PF.convolution(image, 16, (5, 5), name="conv1"), (2, 2)))
    h = F.relu(F.max_pooling(PF.convolution(h, 16, (5, 5), name="conv2"), (2, 2)))
    h = F.relu(PF.affine(h, 50, name="fc3"))
    return PF.affine(h, 10, name="fc4")


def build_lenet(nn: Any, F: Any, PF: Any, S: Any, batch: int = 64) -> Step:
    rng = np.random.RandomState(0)
    x, t = nn.Variable((batch, 1, 28, 28)), nn.Variable((batch, 1))
    loss = F.mean(F.softmax_cross_entropy(lenet(F, PF, x), t))
    return _train_step(nn, S, loss, [(x, rng.rand(batch, 1, 28, 28)), (t, rng.randint(0, 10, (batch, 1)))])


def build_lenet_infer_b1(nn: Any, F: Any, PF: Any, S: Any) -> Step:
    rng = np.random.RandomState(0)
    x = nn.Variable((1, 1, 28, 28))
    y = lenet(F, PF, x)
    data = rng.rand(1, 1, 28, 28)

    def step() -> None:
        x.d = data
        y.forward(clear_buffer=True)

    return step


def resnet20(F: Any, PF: Any, x: Any, test: bool = False) -> Any:
    """ResNet-20 for CIFAR-10 shapes: 3 stages of 3 basic blocks (16, 32, 64 maps), BN and ReLU."""

    def conv_bn(h: Any, maps: int, stride: int, name: str) -> Any:
        with_scope = PF.convolution(h, maps, (3, 3), pad=(1, 1), stride=(stride, stride), with_bias=False, name=name)
        return PF.batch_normalization(with_scope, batch_stat=not test, name=name + "_bn")

    h = F.relu(conv_bn(x, 16, 1, "stem"))
    for stage, maps in enumerate((16, 32, 64)):
        for block in range(3):
            stride = 2 if stage > 0 and block == 0 else 1
            name = f"s{stage}b{block}"
            r = F.relu(conv_bn(h, maps, stride, name + "a"))
            r = conv_bn(r, maps, 1, name + "b")
            if stride != 1 or h.shape[1] != maps:
                h = PF.batch_normalization(
                    PF.convolution(h, maps, (1, 1), stride=(stride, stride), with_bias=False, name=name + "s"), batch_stat=not test, name=name + "s_bn"
                )
            h = F.relu(F.add2(h, r))
    h = F.average_pooling(h, h.shape[2:])
    return PF.affine(h, 10, name="fc")


def build_resnet20(nn: Any, F: Any, PF: Any, S: Any, batch: int = 32) -> Step:
    rng = np.random.RandomState(0)
    x, t = nn.Variable((batch, 3, 32, 32)), nn.Variable((batch, 1))
    loss = F.mean(F.softmax_cross_entropy(resnet20(F, PF, x), t))
    return _train_step(nn, S, loss, [(x, rng.randn(batch, 3, 32, 32)), (t, rng.randint(0, 10, (batch, 1)))])


def build_lstm(nn: Any, F: Any, PF: Any, S: Any, steps: int = 20, batch: int = 32, features: int = 128, hidden: int = 256) -> Step:
    """One fused LSTM layer over a sequence, then a classifier on the last output."""
    rng = np.random.RandomState(0)
    x, t = nn.Variable((steps, batch, features)), nn.Variable((batch, 1))
    h0, c0 = nn.Variable((1, 1, batch, hidden)), nn.Variable((1, 1, batch, hidden))  # (layers, directions, B, H)
    y, _, _ = PF.lstm(x, h0, c0, name="lstm")
    last = F.reshape(F.slice(y, (steps - 1, 0, 0), (steps, batch, hidden)), (batch, hidden))
    loss = F.mean(F.softmax_cross_entropy(PF.affine(last, 10, name="fc"), t))
    return _train_step(nn, S, loss, [(x, rng.randn(steps, batch, features)), (t, rng.randint(0, 10, (batch, 1)))])


CHAIN_LENGTH = 200


def _chain(F: Any, h: Any) -> Any:
    for i in range(CHAIN_LENGTH):
        kind = i % 4
        if kind == 0:
            h = F.add_scalar(h, 0.01)
        elif kind == 1:
            h = F.mul_scalar(h, 0.99)
        elif kind == 2:
            h = F.tanh(h)
        else:
            h = F.relu(h)
    return h


def build_chain_static(nn: Any, F: Any, PF: Any, S: Any) -> Step:
    """200 element-wise functions on a tiny array, built once: measures per-function engine overhead."""
    x = nn.Variable((4, 4), need_grad=True)
    x.d = np.random.RandomState(0).rand(4, 4)
    y = F.sum(_chain(F, x))

    def step() -> None:
        y.forward()
        y.backward()

    return step


def build_chain_dynamic(nn: Any, F: Any, PF: Any, S: Any) -> Step:
    """The same chain rebuilt every iteration in ``auto_forward`` mode: graph building + forward + backward."""
    x = nn.Variable((4, 4), need_grad=True)
    x.d = np.random.RandomState(0).rand(4, 4)

    def step() -> None:
        with nn.auto_forward():
            y = F.sum(_chain(F, x))
        y.backward()

    return step


WORKLOADS = {
    "mlp": build_mlp,
    "lenet": build_lenet,
    "resnet20": build_resnet20,
    "lstm": build_lstm,
    "lenet_infer_b1": build_lenet_infer_b1,
    "chain200_static": build_chain_static,
    "chain200_dynamic": build_chain_dynamic,
}
PER_FUNCTION = {"chain200_static": CHAIN_LENGTH + 1, "chain200_dynamic": CHAIN_LENGTH + 1}


def resnet50(F: Any, PF: Any, x: Any) -> Any:
    """ResNet-50 for ImageNet shapes (bottleneck blocks 3-4-6-3, 1000 classes)."""

    def conv_bn(h: Any, maps: int, kernel: int, stride: int, name: str, relu: bool = True) -> Any:
        pad = (kernel // 2, kernel // 2)
        h = PF.convolution(h, maps, (kernel, kernel), pad=pad, stride=(stride, stride), with_bias=False, name=name)
        h = PF.batch_normalization(h, name=name + "_bn")
        return F.relu(h) if relu else h

    h = conv_bn(x, 64, 7, 2, "stem")
    h = F.max_pooling(h, (3, 3), stride=(2, 2), pad=(1, 1))
    for stage, (maps, blocks) in enumerate(((64, 3), (128, 4), (256, 6), (512, 3))):
        for block in range(blocks):
            stride = 2 if stage > 0 and block == 0 else 1
            name = f"s{stage}b{block}"
            r = conv_bn(h, maps, 1, 1, name + "a")
            r = conv_bn(r, maps, 3, stride, name + "b")
            r = conv_bn(r, maps * 4, 1, 1, name + "c", relu=False)
            if block == 0:
                h = conv_bn(h, maps * 4, 1, stride, name + "s", relu=False)
            h = F.relu(F.add2(h, r))
    h = F.global_average_pooling(h)
    return PF.affine(h, 1000, name="fc")


def build_resnet50(nn: Any, F: Any, PF: Any, S: Any, batch: int = 64) -> Step:
    rng = np.random.RandomState(0)
    x, t = nn.Variable((batch, 3, 224, 224)), nn.Variable((batch, 1))
    loss = F.mean(F.softmax_cross_entropy(resnet50(F, PF, x), t))
    return _train_step(nn, S, loss, [(x, rng.randn(batch, 3, 224, 224)), (t, rng.randint(0, 1000, (batch, 1)))])


WORKLOADS["resnet50"] = build_resnet50
