"""The example scripts (examples/): each runs a few iterations through its ``main(argv)``, writes its monitor
files and parameters, and reports finite metrics; where a few dozen iterations suffice, its logged training loss
falls. The ``slow`` tests train with (near) default settings and check that each example learns what it shows."""

from __future__ import annotations

import importlib.util
import logging
import math
import pickle
import runpy
import sys
from pathlib import Path

import numpy as np
import pytest

import nnl

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
SCRIPTS = {
    "binary_net": "mnist/binary_net.py",
    "dcgan": "mnist/dcgan.py",
    "vae": "mnist/vae.py",
    "siamese": "mnist/siamese.py",
    "resnet20": "cifar10/resnet20.py",
    "lstm_lm": "language_model/lstm_lm.py",
    "word2vec": "word2vec/word2vec.py",
    "fixed_point_mnist": "quantization/fixed_point_mnist.py",
}


def load(name):
    """The example script ``name`` as a module (imported by path, under a name of its own)."""
    spec = importlib.util.spec_from_file_location(f"nnl_example_{name}", EXAMPLES / SCRIPTS[name])
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run(name, tmp_path, *args):
    """``main`` of example ``name`` with ``args``, writing into ``tmp_path``; returns (metrics, output folder)."""
    output = tmp_path / name
    metrics = load(name).main([*args, "--output", str(output), "--context", "cpu"])
    return metrics, output


def series(path):
    """The values of a MonitorSeries file (``<index> <value>`` lines)."""
    rows = np.loadtxt(path, ndmin=2)
    assert rows.shape[1] == 2 and len(rows) > 0
    return rows[:, 1]


def saved_names(path):
    """Names of the parameters in the file ``path`` (loaded into an emptied parameter registry)."""
    nnl.clear_parameters()
    nnl.load_parameters(str(path))
    return list(nnl.get_parameters(grad_only=False))


def assert_finite(metrics, *keys):
    for key in keys:
        assert math.isfinite(metrics[key]), (key, metrics[key])


@pytest.mark.parametrize("name", sorted(SCRIPTS))
def test_help(name, capsys):
    with pytest.raises(SystemExit) as exit_info:
        load(name).main(["--help"])
    assert exit_info.value.code == 0
    usage = capsys.readouterr().out
    for option in ("--max-iter", "--batch-size", "--learning-rate", "--seed", "--output", "--context"):
        assert option in usage, (name, option)


def test_script_entry_point(tmp_path, monkeypatch, capsys):
    """``python examples/...`` runs ``main()`` on the command-line arguments."""
    output = tmp_path / "out"
    argv = ["lstm_lm.py", "--max-iter", "3", "--batch-size", "2", "--bptt", "4", "--output", str(output)]
    monkeypatch.setattr(sys, "argv", argv)
    logger = logging.getLogger("nnl")
    monkeypatch.setattr(logger, "level", logger.level)  # the script turns on the monitors' INFO lines
    runpy.run_path(str(EXAMPLES / SCRIPTS["lstm_lm"]), run_name="__main__")
    assert "perplexity" in capsys.readouterr().out
    assert (output / "lstm_lm_params.h5").exists()


def test_readme_lists_every_example():
    readme = (EXAMPLES / "README.md").read_text()
    for path in SCRIPTS.values():
        assert f"examples/{path}" in readme, path


# ---------------------------------------------------------------------------------------------------------------
# MNIST
# ---------------------------------------------------------------------------------------------------------------
def test_binary_net_learns(tmp_path):
    metrics, out = run("binary_net", tmp_path, "--max-iter", "30", "--batch-size", "32", "--seed", "1")
    assert_finite(metrics, "train_loss", "test_error")
    loss = series(out / "Training-loss.series.txt")
    assert loss[-1] < loss[0]
    assert metrics["test_error"] < 0.5
    assert (out / "binary-net_params.h5").exists()
    assert (out / "Test-error.series.txt").exists() and (out / "Training-time.timer.txt").exists()


@pytest.mark.parametrize("net", ["binary-connect", "binary-net-sigmoid", "binary-weight", "float"])
def test_binary_net_variants_run(tmp_path, net):
    metrics, out = run("binary_net", tmp_path, "--net", net, "--max-iter", "2", "--batch-size", "8")
    assert_finite(metrics, "train_loss", "test_error")
    names = saved_names(out / f"{net}_params.h5")
    assert any(name.startswith("bn4/") for name in names)
    if net != "float":
        assert any(name.endswith("/Wb") for name in names)  # the binarized weights are saved too
    if net == "binary-weight":
        assert any(name.endswith("/alpha") for name in names)


def test_binary_net_keeps_binarized_weights_clipped(tmp_path):
    run("binary_net", tmp_path, "--max-iter", "3", "--batch-size", "8", "--learning-rate", "1.0")
    params = nnl.get_parameters(grad_only=False)
    for name, p in params.items():
        if name.endswith("/W"):
            assert np.abs(p.d).max() <= 1.0, name
        if name.endswith("/Wb"):
            assert set(np.unique(p.d)) <= {-1.0, 1.0}, name


def test_dcgan_runs(tmp_path):
    args = ("--max-iter", "10", "--batch-size", "8", "--maps", "8", "--image-interval", "4")
    metrics, out = run("dcgan", tmp_path, *args)
    assert_finite(metrics, "generator_loss", "discriminator_loss", "d_real", "d_fake")
    assert 0 <= metrics["d_real"] <= 1 and 0 <= metrics["d_fake"] <= 1
    assert sorted(p.name for p in (out / "Fake-images").iterdir()) == ["000000.png", "000003.png", "000007.png"]
    assert len(series(out / "Generator-loss.series.txt")) == 1  # logged every 10 iterations
    # saved from inside the scope "gen", so the names are relative to it (load them inside the same scope)
    names = saved_names(out / "generator.h5")
    assert "deconv1/deconv/W" in names and not any(name.startswith("logit/") for name in names)
    assert "logit/affine/W" in saved_names(out / "discriminator.h5")


def test_dcgan_image_tile_is_a_grid_of_digits(tmp_path):
    from PIL import Image

    _, out = run("dcgan", tmp_path, "--max-iter", "1", "--batch-size", "4", "--maps", "4", "--image-interval", "1")
    tile = np.asarray(Image.open(out / "Fake-images" / "000000.png"))
    assert tile.shape[0] > 8 * 28 and tile.shape[1] > 8 * 28  # 64 digits, 8 x 8 with separators


def test_vae_learns(tmp_path):
    args = ("--max-iter", "40", "--batch-size", "32", "--hidden", "64", "--latent", "4", "--val-interval", "20")
    metrics, out = run("vae", tmp_path, *args)
    assert_finite(metrics, "train_loss", "test_loss")
    loss = series(out / "Training-loss.series.txt")
    assert loss[-1] < 0.7 * loss[0]
    assert len(series(out / "Test-loss.series.txt")) == 2
    assert (out / "Reconstructions" / "000039.png").exists() and (out / "Samples" / "000039.png").exists()
    assert (out / "vae_params.h5").exists()


def test_vae_reparameterisation_gradient_reaches_the_encoder():
    vae = load("vae")
    nnl.seed(0)
    x = nnl.Variable.from_numpy_array(np.random.RandomState(0).rand(2, 1, 28, 28).round().astype(np.float32))
    loss = vae.negative_elbo(x, hidden=8, latent=2)
    loss.forward()
    params = nnl.get_parameters()
    for p in params.values():
        p.grad.zero()
    loss.backward()
    assert np.abs(params["enc_logvar/affine/W"].g).sum() > 0  # only through exp(logvar / 2) * eps and the KL
    assert np.abs(params["enc1/affine/W"].g).sum() > 0


def test_siamese_learns(tmp_path):
    metrics, out = run("siamese", tmp_path, "--max-iter", "40", "--batch-size", "16")
    assert_finite(metrics, "train_loss", "test_loss", "pair_accuracy", "centroid_accuracy")
    loss = series(out / "Training-loss.series.txt")
    assert loss[-1] < loss[0]
    assert metrics["centroid_accuracy"] > 0.2  # chance is 0.1
    assert (out / "embedding.png").exists() and (out / "siamese_params.h5").exists()


def test_siamese_contrastive_loss_values():
    siamese = load("siamese")
    f0 = nnl.Variable.from_numpy_array(np.array([[0.0, 0.0], [0.0, 0.0]], np.float32))
    f1 = nnl.Variable.from_numpy_array(np.array([[0.3, 0.4], [0.3, 0.4]], np.float32))  # distance 0.5
    same = nnl.Variable.from_numpy_array(np.array([[1.0], [0.0]], np.float32))
    loss, _ = siamese.contrastive_loss(f0, f1, same, margin=1.0)
    loss.forward()
    assert float(loss.d) == pytest.approx((0.25 + 0.25) / 2, abs=1e-4)  # same: d^2; different: (1 - d)^2


def test_fixed_point_mnist(tmp_path):
    args = ("--max-iter", "30", "--qat-iter", "10", "--batch-size", "16")
    metrics, out = run("fixed_point_mnist", tmp_path, *args)
    assert_finite(metrics, "float_loss", "qat_loss", "float_accuracy", "ptq_accuracy", "quantized_accuracy")
    loss = series(out / "Float-training-loss.series.txt")
    assert loss[-1] < loss[0]
    assert metrics["float_accuracy"] > 0.3
    assert len(series(out / "Quantization-aware-training-loss.series.txt")) == 1
    assert (out / "float_params.h5").exists() and (out / "quantized_params.h5").exists()


def test_fixed_point_weights_are_on_the_grid(tmp_path):
    run("fixed_point_mnist", tmp_path, "--max-iter", "2", "--qat-iter", "2", "--batch-size", "8", "--n-w", "3")
    delta = 2**-4
    quantized = {k: v for k, v in nnl.get_parameters(grad_only=False).items() if k.endswith("/W_q")}
    assert len(quantized) == 4
    for name, w_q in quantized.items():
        steps = w_q.d / delta
        assert np.allclose(steps, np.round(steps)), name
        assert np.abs(steps).max() <= 3, name  # 3 signed bits: -3 .. 3 steps


# ---------------------------------------------------------------------------------------------------------------
# CIFAR-10
# ---------------------------------------------------------------------------------------------------------------
def test_resnet20_synthetic(tmp_path):
    args = ("--max-iter", "3", "--batch-size", "4", "--num-train", "32", "--num-test", "8", "--val-interval", "2")
    metrics, out = run("resnet20", tmp_path, *args)
    assert metrics["dataset"] == "synthetic-shapes"
    assert_finite(metrics, "train_loss", "test_error")
    assert len(series(out / "Test-error.series.txt")) == 2
    assert (out / "resnet20_params.h5").exists()
    convolutions = [k for k in nnl.get_parameters() if k.endswith("conv/W")]
    assert len(convolutions) == 19 + 2  # 19 3x3 convolutions and the two 1x1 projections (+ the affine: 20 layers)


def test_resnet20_reads_cifar10_batches(tmp_path):
    rng = np.random.RandomState(0)
    data_dir = tmp_path / "cifar-10-batches-py"
    data_dir.mkdir()
    for name in [f"data_batch_{k}" for k in range(1, 6)] + ["test_batch"]:
        batch = {b"data": rng.randint(0, 256, (6, 3072)).astype(np.uint8), b"labels": list(rng.randint(0, 10, 6))}
        with open(data_dir / name, "wb") as f:
            pickle.dump(batch, f)
    args = ("--data-dir", str(data_dir), "--max-iter", "2", "--batch-size", "4", "--augment", "image-augmentation")
    metrics, _ = run("resnet20", tmp_path, *args)
    assert metrics["dataset"] == "cifar10"
    assert_finite(metrics, "train_loss", "test_error")


@pytest.mark.parametrize("method", ["crop-flip", "image-augmentation"])
def test_resnet20_augmentation_keeps_shape_and_content(method):
    resnet20 = load("resnet20")
    nnl.seed(0)
    image = np.zeros((8, 3, 32, 32), np.float32)
    image[:, :, 8:24, 8:24] = 1.0
    x = nnl.Variable.from_numpy_array(image)
    y = resnet20.augment(x, method)
    y.forward()
    assert y.shape == x.shape
    assert not np.allclose(y.d, image)  # moved by the random crops
    assert abs(y.d.sum() / image.sum() - 1) < 0.35  # a 4-pixel shift keeps most of the square in view


def test_synthetic_shapes_are_deterministic_and_balanced():
    resnet20 = load("resnet20")
    x1, y1 = resnet20.synthetic_shapes(500, np.random.RandomState(3))
    x2, y2 = resnet20.synthetic_shapes(500, np.random.RandomState(3))
    assert x1.dtype == np.uint8 and x1.shape == (500, 3, 32, 32)
    assert np.array_equal(x1, x2) and np.array_equal(y1, y2)
    assert np.bincount(y1, minlength=10).min() > 25


# ---------------------------------------------------------------------------------------------------------------
# text
# ---------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("layer", ["cell", "lstm"])
def test_lstm_lm_learns(tmp_path, layer):
    metrics, out = run("lstm_lm", tmp_path, "--layer", layer, "--max-iter", "60", "--val-interval", "30")
    assert_finite(metrics, "train_loss", "train_perplexity", "valid_perplexity")
    loss = series(out / "Training-loss.series.txt")
    assert loss[-1] < 0.8 * loss[0]
    assert metrics["valid_perplexity"] < metrics["vocab_size"] / 2
    assert len(metrics["sample"].split()) == 30
    assert (out / "lstm_lm_params.h5").exists()


def test_lstm_lm_on_a_given_text(tmp_path):
    text = tmp_path / "text.txt"
    text.write_text("\n".join(["a b c d e f g h ."] * 30))
    metrics, _ = run("lstm_lm", tmp_path, "--text", str(text), "--max-iter", "60", "--batch-size", "4", "--bptt", "8")
    assert metrics["vocab_size"] == 11  # 9 words, <eos> and <unk>
    assert metrics["valid_perplexity"] < 3  # a fixed sequence is easy to predict


def test_corpus_is_a_few_kilobytes():
    corpus = EXAMPLES / "language_model" / "corpus.txt"
    assert 3000 < corpus.stat().st_size < 20000


def test_word2vec_learns(tmp_path):
    metrics, out = run("word2vec", tmp_path, "--max-iter", "300", "--query", "cat,monday,zzz")
    assert_finite(metrics, "train_loss")
    loss = series(out / "Training-loss.series.txt")
    assert loss[-1] < loss[0]
    assert set(metrics["neighbours"]) == {"cat", "monday"}  # an unknown word is reported and skipped
    assert len(metrics["neighbours"]["cat"]) == 5
    lines = (out / "embeddings.txt").read_text().splitlines()
    vocab, dims = map(int, lines[0].split())
    assert len(lines) == vocab + 1 and len(lines[1].split()) == dims + 1
    assert (out / "word2vec_params.h5").exists()


# ---------------------------------------------------------------------------------------------------------------
# learning checks with (near) default settings
# ---------------------------------------------------------------------------------------------------------------
@pytest.mark.slow
def test_binary_net_reaches_90_percent(tmp_path):
    metrics, _ = run("binary_net", tmp_path, "--net", "binary-net", "--max-iter", "300")
    assert metrics["test_accuracy"] > 0.90


@pytest.mark.slow
def test_fixed_point_reaches_95_percent(tmp_path):
    metrics, _ = run("fixed_point_mnist", tmp_path, "--max-iter", "400", "--qat-iter", "200")
    assert metrics["float_accuracy"] > 0.95
    assert metrics["quantized_accuracy"] > 0.95


@pytest.mark.slow
def test_vae_reaches_a_good_bound(tmp_path):
    metrics, _ = run("vae", tmp_path, "--max-iter", "1000")
    assert metrics["test_loss"] < 125  # nats per digit; a model of independent pixels scores about 200


@pytest.mark.slow
def test_siamese_separates_digits(tmp_path):
    metrics, _ = run("siamese", tmp_path, "--max-iter", "400")
    assert metrics["centroid_accuracy"] > 0.8
    assert metrics["pair_accuracy"] > 0.8


@pytest.mark.slow
def test_dcgan_stays_balanced_and_makes_varied_images(tmp_path):
    metrics, out = run("dcgan", tmp_path, "--max-iter", "200", "--image-interval", "200")
    assert 0.05 < metrics["d_fake"] < 0.95 and 0.05 < metrics["d_real"] < 0.99
    from PIL import Image

    tile = np.asarray(Image.open(out / "Fake-images" / "000199.png"), dtype=np.float64)
    assert tile.std() > 30  # digits, not a uniform grey


@pytest.mark.slow
def test_resnet20_learns_the_synthetic_shapes(tmp_path):
    metrics, _ = run("resnet20", tmp_path, "--max-iter", "300", "--batch-size", "32", "--val-interval", "1000")
    assert metrics["test_accuracy"] > 0.6  # chance is 0.1


@pytest.mark.slow
def test_lstm_lm_default_perplexity(tmp_path):
    metrics, _ = run("lstm_lm", tmp_path)
    assert metrics["valid_perplexity"] < 20  # the vocabulary has about 170 words


@pytest.mark.slow
def test_word2vec_groups_related_words(tmp_path):
    metrics, _ = run("word2vec", tmp_path)
    assert metrics["group_accuracy"] >= 0.6
