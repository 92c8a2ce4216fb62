"""Hand-written PyTorch eager twins of ``workloads.py`` (same shapes, same layers, Adam), the speed reference."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

Step = Callable[[], None]


def _train_step(torch: Any, model: Any, make_loss: Callable[[], Any]) -> Step:
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)

    def step() -> None:
        loss = make_loss()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    return step


def build_mlp(torch: Any, batch: int = 64) -> Step:
    nn = torch.nn
    rng = np.random.RandomState(0)
    model = nn.Sequential(nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 512), nn.ReLU(), nn.Linear(512, 10))
    x = torch.tensor(rng.rand(batch, 784), dtype=torch.float32)
    t = torch.tensor(rng.randint(0, 10, batch))
    return _train_step(torch, model, lambda: nn.functional.cross_entropy(model(x), t))


def _lenet(torch: Any) -> Any:
    nn = torch.nn
    return nn.Sequential(
        nn.Conv2d(1, 16, 5), nn.MaxPool2d(2), nn.ReLU(), nn.Conv2d(16, 16, 5), nn.MaxPool2d(2), nn.ReLU(),
        nn.Flatten(), nn.Linear(256, 50), nn.ReLU(), nn.Linear(50, 10),
    )


def build_lenet(torch: Any, batch: int = 64) -> Step:
    rng = np.random.RandomState(0)
    model = _lenet(torch)
    x = torch.tensor(rng.rand(batch, 1, 28, 28), dtype=torch.float32)
    t = torch.tensor(rng.randint(0, 10, batch))
    return _train_step(torch, model, lambda: torch.nn.functional.cross_entropy(model(x), t))


def build_lenet_infer_b1(torch: Any) -> Step:
    model = _lenet(torch).eval()
    x = torch.tensor(np.random.RandomState(0).rand(1, 1, 28, 28), dtype=torch.float32)

    def step() -> None:
        with torch.no_grad():
            model(x)

    return step


def _resnet20(torch: Any) -> Any:
    nn = torch.nn

    class Block(nn.Module):
        def __init__(self, cin: int, cout: int, stride: int) -> None:
            super().__init__()
            self.a = nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU())
            self.b = nn.Sequential(nn.Conv2d(cout, cout, 3, 1, 1, bias=False), nn.BatchNorm2d(cout))
            self.skip = (
                nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))
                if stride != 1 or cin != cout
                else nn.Identity()
            )

        def forward(self, h: Any) -> Any:
            return torch.relu(self.skip(h) + self.b(self.a(h)))

    layers = [nn.Conv2d(3, 16, 3, 1, 1, bias=False), nn.BatchNorm2d(16), nn.ReLU()]
    cin = 16
    for stage, maps in enumerate((16, 32, 64)):
        for block in range(3):
            layers.append(Block(cin, maps, 2 if stage > 0 and block == 0 else 1))
            cin = maps
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, 10)]
    return nn.Sequential(*layers)


def build_resnet20(torch: Any, batch: int = 32) -> Step:
    rng = np.random.RandomState(0)
    model = _resnet20(torch)
    x = torch.tensor(rng.randn(batch, 3, 32, 32), dtype=torch.float32)
    t = torch.tensor(rng.randint(0, 10, batch))
    return _train_step(torch, model, lambda: torch.nn.functional.cross_entropy(model(x), t))


def build_lstm(torch: Any, steps: int = 20, batch: int = 32, features: int = 128, hidden: int = 256) -> Step:
    nn = torch.nn
    rng = np.random.RandomState(0)
    lstm, fc = nn.LSTM(features, hidden), nn.Linear(hidden, 10)
    model = nn.ModuleList([lstm, fc])
    x = torch.tensor(rng.randn(steps, batch, features), dtype=torch.float32)
    t = torch.tensor(rng.randint(0, 10, batch))
    return _train_step(torch, model, lambda: nn.functional.cross_entropy(fc(lstm(x)[0][-1]), t))


def _op(torch: Any, h: Any, i: int) -> Any:
    k = i % 4
    if k == 0:
        return h + 0.01
    if k == 1:
        return h * 0.99
    if k == 2:
        return torch.tanh(h)
    return torch.relu(h)


def build_chain(torch: Any, length: int = 200) -> Step:
    x = torch.tensor(np.random.RandomState(0).rand(4, 4), dtype=torch.float32, requires_grad=True)

    def step() -> None:
        h = x
        for i in range(length):
            h = _op(torch, h, i)
        h.sum().backward()

    return step


TWINS = {
    "mlp": build_mlp,
    "lenet": build_lenet,
    "resnet20": build_resnet20,
    "lstm": build_lstm,
    "lenet_infer_b1": build_lenet_infer_b1,
    "chain200_static": build_chain,
    "chain200_dynamic": build_chain,
}


def _resnet50(torch: Any) -> Any:
    nn = torch.nn

    def conv_bn(cin: int, cout: int, kernel: int, stride: int, relu: bool = True) -> Any:
        layers = [nn.Conv2d(cin, cout, kernel, stride, kernel // 2, bias=False), nn.BatchNorm2d(cout)]
        return nn.Sequential(*layers, nn.ReLU()) if relu else nn.Sequential(*layers)

    class Bottleneck(nn.Module):
        def __init__(self, cin: int, maps: int, stride: int, project: bool) -> None:
            super().__init__()
            self.body = nn.Sequential(
                conv_bn(cin, maps, 1, 1), conv_bn(maps, maps, 3, stride), conv_bn(maps, maps * 4, 1, 1, relu=False)
            )
            self.skip = conv_bn(cin, maps * 4, 1, stride, relu=False) if project else nn.Identity()

        def forward(self, h: Any) -> Any:
            return torch.relu(self.skip(h) + self.body(h))

    layers = [conv_bn(3, 64, 7, 2), nn.MaxPool2d(3, 2, 1)]
    cin = 64
    for stage, (maps, blocks) in enumerate(((64, 3), (128, 4), (256, 6), (512, 3))):
        for block in range(blocks):
            layers.append(Bottleneck(cin, maps, 2 if stage > 0 and block == 0 else 1, block == 0))
            cin = maps * 4
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(2048, 1000)]
    return nn.Sequential(*layers)


def build_resnet50(torch: Any, batch: int = 64) -> Step:
    rng = np.random.RandomState(0)
    model = _resnet50(torch)
    x = torch.tensor(rng.randn(batch, 3, 224, 224), dtype=torch.float32)
    t = torch.tensor(rng.randint(0, 1000, batch))
    return _train_step(torch, model, lambda: torch.nn.functional.cross_entropy(model(x), t))


TWINS["resnet50"] = build_resnet50
