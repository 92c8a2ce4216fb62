"""Word-level LSTM language model: PF.embed, an LSTM, softmax cross entropy; reports perplexity and samples text.

    python examples/language_model/lstm_lm.py --max-iter 400
    python examples/language_model/lstm_lm.py --text my_text.txt --layer lstm

Words are split on white space and each line ends with ``<eos>``; every tenth line is held out for validation
(words seen fewer than ``--min-count`` times in training become ``<unk>``). The training text is cut into ``--batch-size`` parallel streams and
the model reads ``--bptt`` words at a time, carrying the LSTM state from one window to the next (truncated back
propagation through time). ``--layer cell`` unrolls PF.lstm_cell over the window (one set of weights for every
step), ``--layer lstm`` uses the whole-sequence PF.lstm layer. Perplexity is ``exp`` of the mean cross entropy;
a model knowing nothing would score the vocabulary size. After training, a few sentences are sampled from the
model. The default text is ``corpus.txt`` beside this script. Saves ``lstm_lm_params.h5`` to ``--output``.
"""

from __future__ import annotations

import argparse
import logging
import os
from collections import Counter

import numpy as np

import nnl as nn
import nnl.functions as F
import nnl.parametric_functions as PF
import nnl.solvers as S
from nnl.ext_utils import get_extension_context
from nnl.logger import logger
from nnl.monitor import Monitor, MonitorSeries, MonitorTimeElapsed

DEFAULT_TEXT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus.txt")


def read_corpus(path):
    """(training lines, validation lines) as lists of words, each line ending with ``<eos>``."""
    with open(path, encoding="utf-8") as f:
        lines = [line.lower().split() + ["<eos>"] for line in f if line.strip()]
    valid = [line for k, line in enumerate(lines) if k % 10 == 9]
    train = [line for k, line in enumerate(lines) if k % 10 != 9]
    return train, valid


def streams(ids, batch_size):
    """A token sequence cut into ``batch_size`` equal parallel streams, (batch_size, length)."""
    length = len(ids) // batch_size
    return np.asarray(ids[: length * batch_size], dtype=np.int32).reshape(batch_size, length)


def language_model(words, h, c, vocab_size, embed_size, hidden, layer="cell", dropout=0.0):
    """Next-word logits (B, T, V) for ``words`` (B, T) from the state ``h``, ``c`` (B, H); returns also the final
    state ``(h_T, c_T)``."""
    batch, steps = words.shape
    x = PF.embed(words, vocab_size, embed_size, name="embed")  # (B, T, E)
    if dropout:
        x = F.dropout(x, dropout)
    if layer == "cell":
        outputs = []
        x_steps = F.split(x, axis=1)
        if steps == 1:
            x_steps = [x_steps]  # a split into one part returns the Variable itself, as in nnabla
        for x_t in x_steps:
            h, c = PF.lstm_cell(x_t, h, c, hidden, name="lstm")  # the same name: weights shared over time
            outputs.append(h)
        y = F.stack(*outputs, axis=1)  # (B, T, H)
    else:
        h0, c0 = (F.reshape(v, (1, 1, batch, hidden)) for v in (h, c))
        y, h, c = PF.lstm(F.transpose(x, (1, 0, 2)), h0, c0, name="lstm")  # (T, B, H), state (1, 1, B, H)
        y = F.transpose(y, (1, 0, 2))
        h, c = F.reshape(h, (batch, hidden)), F.reshape(c, (batch, hidden))
    if dropout:
        y = F.dropout(y, dropout)
    return PF.affine(y, vocab_size, base_axis=2, name="output"), (h, c)


class Unrolled:
    """A graph over windows of ``steps`` words of ``batch`` streams that carries its LSTM state between calls."""

    def __init__(self, batch, steps, args, vocab_size, dropout=0.0):
        self.words = nn.Variable([batch, steps])
        self.targets = nn.Variable([batch, steps, 1])
        self.h0 = nn.Variable.from_numpy_array(np.zeros((batch, args.hidden), np.float32))
        self.c0 = nn.Variable.from_numpy_array(np.zeros((batch, args.hidden), np.float32))
        self.logits, (h, c) = language_model(
            self.words, self.h0, self.c0, vocab_size, args.embed, args.hidden, args.layer, dropout
        )
        self.h, self.c = h, c
        for v in (self.logits, h, c):
            v.persistent = True  # read after the forward pass
        self.loss = F.mean(F.softmax_cross_entropy(self.logits, self.targets, axis=2))

    def reset(self):
        self.h0.d, self.c0.d = 0, 0

    def step(self, words, targets=None):
        """Feed one window; the state moves on. Returns the loss when ``targets`` are given."""
        self.words.d = words
        if targets is None:
            self.logits.forward(clear_no_need_grad=True)
        else:
            self.targets.d = targets[..., None]
            self.loss.forward(clear_no_need_grad=True)
        self.h0.d, self.c0.d = self.h.d.copy(), self.c.d.copy()
        return None if targets is None else float(self.loss.d)


def perplexity(model, data, steps):
    """exp(mean cross entropy) of predicting each next word of the streams ``data`` (B, L)."""
    model.reset()
    losses = [model.step(data[:, s : s + steps], data[:, s + 1 : s + 1 + steps]) for s in window_starts(data, steps)]
    return float(np.exp(np.mean(losses)))


def window_starts(data, steps):
    """Window starts leaving room for the targets (the words one step ahead)."""
    return range(0, data.shape[1] - steps, steps)


def sample_text(model, vocab, ids, rng, words=30, temperature=0.8):
    """Words sampled one at a time from the model (a 1x1 unrolled graph), starting after ``<eos>``."""
    model.reset()
    current, out = ids["<eos>"], []
    for _ in range(words):
        model.step(np.array([[current]]))
        logits = model.logits.d[0, 0] / temperature
        p = np.exp(logits - logits.max())
        current = int(rng.choice(len(p), p=p / p.sum()))
        out.append(vocab[current])
    return " ".join(out).replace("<eos>", "/")


def get_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--text", "-t", default=DEFAULT_TEXT, help="a text file (default: corpus.txt here)")
    parser.add_argument("--layer", default="cell", choices=["cell", "lstm"], help="PF.lstm_cell unrolled or PF.lstm")
    parser.add_argument("--min-count", type=int, default=2, help="rarer training words become <unk>")
    parser.add_argument("--max-iter", "-i", type=int, default=400)
    parser.add_argument("--batch-size", "-b", type=int, default=8, help="parallel text streams")
    parser.add_argument("--bptt", type=int, default=16, help="words per window of back propagation")
    parser.add_argument("--embed", type=int, default=64)
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--dropout", type=float, default=0.5)
    parser.add_argument("--learning-rate", "-l", type=float, default=3e-3)
    parser.add_argument("--val-interval", type=int, default=100)
    parser.add_argument("--seed", "-s", type=int, default=0)
    parser.add_argument("--output", "-o", default="tmp.monitor.lstm_lm")
    parser.add_argument("--context", "-c", default="cpu")
    return parser.parse_args(argv)


def main(argv=None):
    """Train; return ``{"train_loss", "train_perplexity", "valid_perplexity", "vocab_size", "sample"}``."""
    args = get_args(argv)
    nn.set_default_context(get_extension_context(args.context))
    nn.clear_parameters()
    nn.seed(args.seed)
    rng = np.random.RandomState(args.seed)
    train_lines, valid_lines = read_corpus(args.text)
    counts = Counter(w for line in train_lines for w in line)
    vocab = sorted({w for w, n in counts.items() if n >= args.min_count} | {"<unk>"})
    ids = {w: k for k, w in enumerate(vocab)}
    train = streams([ids.get(w, ids["<unk>"]) for line in train_lines for w in line], args.batch_size)
    valid = streams([ids.get(w, ids["<unk>"]) for line in valid_lines for w in line], 1)
    steps = min(args.bptt, train.shape[1] - 1)
    print(f"lstm_lm: {train.size} training words, {valid.size} validation words, vocabulary {len(vocab)}")

    model = Unrolled(args.batch_size, steps, args, len(vocab), dropout=args.dropout)
    train_eval = Unrolled(args.batch_size, steps, args, len(vocab))
    valid_eval = Unrolled(1, min(steps, valid.shape[1] - 1), args, len(vocab))
    generator = Unrolled(1, 1, args, len(vocab))

    solver = S.Adam(args.learning_rate)
    solver.set_parameters(nn.get_parameters())

    monitor = Monitor(args.output)
    monitor_loss = MonitorSeries("Training loss", monitor, interval=10)
    monitor_ppl = MonitorSeries("Validation perplexity", monitor, interval=1)
    monitor_time = MonitorTimeElapsed("Training time", monitor, interval=100)

    starts = list(window_starts(train, steps))
    for i in range(args.max_iter):
        k = i % len(starts)
        if k == 0:
            model.reset()  # a new pass over the text starts from a zero state
        s = starts[k]
        loss = model.step(train[:, s : s + steps], train[:, s + 1 : s + 1 + steps])
        solver.zero_grad()
        model.loss.backward(clear_buffer=True)
        solver.clip_grad_by_norm(1.0)
        solver.update()
        monitor_loss.add(i, loss)
        monitor_time.add(i)
        if (i + 1) % args.val_interval == 0 and i + 1 < args.max_iter:
            monitor_ppl.add(i, perplexity(valid_eval, valid, valid_eval.words.shape[1]))

    train_ppl = perplexity(train_eval, train, steps)
    valid_ppl = perplexity(valid_eval, valid, valid_eval.words.shape[1])
    monitor_ppl.add(args.max_iter - 1, valid_ppl)
    sample = sample_text(generator, vocab, ids, rng)
    nn.save_parameters(os.path.join(args.output, "lstm_lm_params.h5"))
    print(f"lstm_lm: perplexity train {train_ppl:.2f}, validation {valid_ppl:.2f} (vocabulary {len(vocab)})")
    print(f"sample: {sample}")
    return {
        "train_loss": loss,
        "train_perplexity": train_ppl,
        "valid_perplexity": valid_ppl,
        "vocab_size": len(vocab),
        "sample": sample,
    }


if __name__ == "__main__":
    if not logger.handlers:  # show the monitors' progress lines, as nnabla's logger does by default
        logging.basicConfig(format="%(message)s")
        logger.setLevel(logging.INFO)
    main()
