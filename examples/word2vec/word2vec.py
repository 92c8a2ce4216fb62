"""word2vec: skip-gram word embeddings trained with negative sampling; prints each query word's nearest words.

    python examples/word2vec/word2vec.py --max-iter 3000
    python examples/word2vec/word2vec.py --text my_text.txt --query king,queen

Each training example is a (centre word, context word) pair taken from a window of up to ``--window`` words on
either side, plus ``--negatives`` noise words drawn from the unigram distribution raised to the power 3/4. Two
PF.embed tables give every word a centre vector and a context vector; the model scores a pair by the dot product
of the two (F.batch_matmul) and is trained with sigmoid cross entropy to tell true pairs (1) from noise pairs (0).
Very frequent words are randomly dropped from the text each pass (``--subsample``). The default text is the
language-model corpus (``examples/language_model/corpus.txt``); punctuation tokens are ignored. After training the
nearest words by cosine similarity of the centre vectors are printed for each ``--query`` word;
``group_accuracy`` is the fraction of query words whose nearest word is in the same category (animals, days,
fruit, ...: ``GROUPS`` below). Saves ``word2vec_params.h5`` and ``embeddings.txt`` to ``--output``.
"""

from __future__ import annotations

import argparse
import logging
import os
from collections import Counter

import numpy as np

import nnl as nn
import nnl.functions as F
import nnl.initializer as I
import nnl.parametric_functions as PF
import nnl.solvers as S
from nnl.ext_utils import get_extension_context
from nnl.logger import logger
from nnl.monitor import Monitor, MonitorSeries, MonitorTimeElapsed

DEFAULT_TEXT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "language_model", "corpus.txt")
GROUPS = [
    "cat dog horse rabbit fox wolf bird mouse bear cow deer duck frog hens pigs",
    "monday tuesday wednesday thursday friday saturday sunday",
    "apple pear plum orange apples pears plums",
    "red blue green yellow white black brown grey purple",
    "mother father sister brother grandmother grandfather",
    "one two three four five six seven eight nine ten",
    "river lake sea forest hill hills field mountains garden",
    "morning evening night",
    "spring summer autumn winter",
]
DEFAULT_QUERY = "cat,dog,horse,wolf,monday,tuesday,apple,pear,red,green,mother,brother,three,six,morning,winter"


def read_words(path):
    """Lower-case words of the text, without punctuation tokens."""
    with open(path, encoding="utf-8") as f:
        return [w for w in f.read().lower().split() if any(ch.isalnum() for ch in w)]


def skipgram_batches(ids, counts, args, rng):
    """Endless batches (centre (B,), words (B, 1 + K), labels (B, 1 + K, 1)): the true context word first, then
    K noise words."""
    freq = counts / counts.sum()
    keep = np.minimum(1.0, np.sqrt(args.subsample / freq) + args.subsample / freq)  # word2vec's subsampling rule
    noise = counts**0.75
    noise /= noise.sum()
    labels = np.zeros((args.batch_size, 1 + args.negatives, 1), np.float32)
    labels[:, 0] = 1
    centres, contexts = np.zeros(0, np.int32), np.zeros(0, np.int32)
    while True:
        while len(centres) < args.batch_size:  # one more pass over the (subsampled) text
            text = ids[rng.rand(len(ids)) < keep[ids]]
            pairs = []
            for offset in range(1, args.window + 1):
                # a random window size per position (nearer words are used more often), both directions
                use = rng.randint(1, args.window + 1, len(text) - offset) >= offset
                left, right = text[:-offset][use], text[offset:][use]
                pairs += [(left, right), (right, left)]
            new_c = np.concatenate([p[0] for p in pairs])
            new_x = np.concatenate([p[1] for p in pairs])
            order = rng.permutation(len(new_c))
            centres, contexts = np.concatenate([centres, new_c[order]]), np.concatenate([contexts, new_x[order]])
        b = args.batch_size
        negatives = rng.choice(len(counts), (b, args.negatives), p=noise)
        yield centres[:b], np.concatenate([contexts[:b, None], negatives], axis=1), labels
        centres, contexts = centres[b:], contexts[b:]


def nearest(vectors, vocab, word, k=5):
    """The ``k`` words with the most similar vectors (cosine) to ``word``'s, as (word, similarity)."""
    unit = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-8)
    sims = unit @ unit[vocab.index(word)]
    best = [j for j in np.argsort(-sims) if vocab[j] != word][:k]
    return [(vocab[j], float(sims[j])) for j in best]


def get_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--text", "-t", default=DEFAULT_TEXT, help="a text file (default: the LM corpus)")
    parser.add_argument("--query", "-q", default=DEFAULT_QUERY, help="comma-separated words to print neighbours of")
    parser.add_argument("--max-iter", "-i", type=int, default=3000)
    parser.add_argument("--batch-size", "-b", type=int, default=128)
    parser.add_argument("--learning-rate", "-l", type=float, default=3e-3)
    parser.add_argument("--embed", type=int, default=16, help="size of the word vectors")
    parser.add_argument("--window", type=int, default=2, help="largest distance between centre and context words")
    parser.add_argument("--negatives", type=int, default=5, help="noise words per true pair")
    parser.add_argument("--subsample", type=float, default=1e-2, help="frequency above which words are dropped")
    parser.add_argument("--min-count", type=int, default=2, help="rarer words are left out")
    parser.add_argument("--seed", "-s", type=int, default=0)
    parser.add_argument("--output", "-o", default="tmp.monitor.word2vec")
    parser.add_argument("--context", "-c", default="cpu")
    return parser.parse_args(argv)


def main(argv=None):
    """Train; return ``{"train_loss", "group_accuracy", "neighbours"}`` (neighbours: query word -> nearest words)."""
    args = get_args(argv)
    nn.set_default_context(get_extension_context(args.context))
    nn.clear_parameters()
    nn.seed(args.seed)
    rng = np.random.RandomState(args.seed)
    words = read_words(args.text)
    counter = Counter(words)
    vocab = sorted(w for w, n in counter.items() if n >= args.min_count)
    index = {w: k for k, w in enumerate(vocab)}
    ids = np.array([index[w] for w in words if w in index], dtype=np.int32)
    counts = np.array([counter[w] for w in vocab], dtype=np.float64)
    print(f"word2vec: {len(ids)} words, vocabulary {len(vocab)}")

    centre = nn.Variable([args.batch_size])
    context = nn.Variable([args.batch_size, 1 + args.negatives])
    target = nn.Variable([args.batch_size, 1 + args.negatives, 1])
    limit = 0.5 / args.embed
    u = PF.embed(centre, len(vocab), args.embed, initializer=I.UniformInitializer((-limit, limit)), name="centre")
    v = PF.embed(context, len(vocab), args.embed, initializer=I.ConstantInitializer(0), name="context")
    score = F.batch_matmul(v, F.reshape(u, (args.batch_size, args.embed, 1)))  # (B, 1 + K, 1) dot products
    # per pair: -log sigmoid(true score) - sum over noise words of log sigmoid(-noise score)
    loss = F.mean(F.sum(F.sigmoid_cross_entropy(score, target), axis=(1, 2)))

    solver = S.Adam(args.learning_rate)
    solver.set_parameters(nn.get_parameters())

    monitor = Monitor(args.output)
    monitor_loss = MonitorSeries("Training loss", monitor, interval=50)
    monitor_time = MonitorTimeElapsed("Training time", monitor, interval=500)

    batches = skipgram_batches(ids, counts, args, rng)
    for i in range(args.max_iter):
        centre.d, context.d, target.d = next(batches)
        loss.forward(clear_no_need_grad=True)
        solver.zero_grad()
        loss.backward(clear_buffer=True)
        solver.update()
        monitor_loss.add(i, float(loss.d))
        monitor_time.add(i)

    vectors = nn.get_parameters()["centre/embed/W"].d.copy()
    neighbours, hits, asked = {}, 0, 0
    group_of = {w: g for g, line in enumerate(GROUPS) for w in line.split()}
    for word in [w for w in args.query.split(",") if w]:
        if word not in index:
            print(f"  {word}: not in the vocabulary")
            continue
        neighbours[word] = nearest(vectors, vocab, word)
        print(f"  {word}: " + ", ".join(f"{w} ({s:.2f})" for w, s in neighbours[word]))
        if word in group_of:
            asked += 1
            hits += group_of.get(neighbours[word][0][0]) == group_of[word]
    group_accuracy = hits / asked if asked else float("nan")

    nn.save_parameters(os.path.join(args.output, "word2vec_params.h5"))
    with open(os.path.join(args.output, "embeddings.txt"), "w", encoding="utf-8") as f:
        f.write(f"{len(vocab)} {args.embed}\n")  # word2vec's text format: a header, then one word per line
        for word, vec in zip(vocab, vectors):
            f.write(word + " " + " ".join(f"{x:.5f}" for x in vec) + "\n")
    print(f"word2vec: nearest word in the same category for {hits} of {asked} query words")
    return {"train_loss": float(loss.d), "group_accuracy": group_accuracy, "neighbours": neighbours}


if __name__ == "__main__":
    if not logger.handlers:  # show the monitors' progress lines, as nnabla's logger does by default
        logging.basicConfig(format="%(message)s")
        logger.setLevel(logging.INFO)
    main()
