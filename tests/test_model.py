import math

import numpy as np
import pytest
import torch

from lightrnn_asr.lm import LSTMLM, AdaptiveLSTMLM, LightRNN, LMConfig, build_model, default_cutoffs
from lightrnn_asr.lm.table import WordTable, table_shape
from lightrnn_asr.scoring.sentences import perplexity, score_sentences
from lightrnn_asr.text.corpus import Corpus, make_batch


def tiny_lightrnn(vocab_size=23, seed=0, layers=2, table=None):
    torch.manual_seed(seed)
    table = table or WordTable.random(vocab_size, torch.Generator().manual_seed(seed))
    cfg = LMConfig(model_type="lightrnn", vocab_size=vocab_size, n_rows=table.n_rows, n_cols=table.n_cols,
                   embed_dim=8, hidden_dim=12, num_layers=layers, dropout=0.0, recurrence="halfword")
    return LightRNN(cfg, table).eval(), table


def tiny_lstm(vocab_size=23, seed=0):
    torch.manual_seed(seed)
    return LSTMLM(LMConfig(model_type="lstm", vocab_size=vocab_size, n_rows=0, n_cols=0, embed_dim=8, hidden_dim=12,
                           num_layers=2, dropout=0.0)).eval()


def tiny_adaptive(vocab_size=23, seed=0, cutoffs=(4, 10)):
    torch.manual_seed(seed)
    return AdaptiveLSTMLM(LMConfig(model_type="adaptive", vocab_size=vocab_size, n_rows=0, n_cols=0, embed_dim=8,
                                   hidden_dim=16, num_layers=2, dropout=0.0, cutoffs=list(cutoffs))).eval()


def test_row_and_column_distributions_sum_to_one():
    model, _ = tiny_lightrnn()
    inputs = torch.tensor([[0, 5, 7, 9], [0, 3, 3, 1]])
    targets = torch.tensor([[5, 7, 9, 1], [3, 3, 1, 1]])
    row_lp, col_lp = model.row_col_logprobs(inputs, targets)
    assert row_lp.shape == (2, 4, model.config.n_rows) and col_lp.shape == (2, 4, model.config.n_cols)
    torch.testing.assert_close(row_lp.exp().sum(-1), torch.ones(2, 4))
    torch.testing.assert_close(col_lp.exp().sum(-1), torch.ones(2, 4))


def test_full_table_word_distribution_sums_to_one():
    # With every cell occupied (|V| = R * C), summing P_row * P_col over all words is exactly 1.
    v = 20  # 4 x 5 table
    table = WordTable(torch.randperm(20, generator=torch.Generator().manual_seed(1)), 4, 5)
    model, _ = tiny_lightrnn(v, table=table)
    history = torch.tensor([[0, 4, 9]])
    total = 0.0
    for w in range(v):
        targets = torch.tensor([[4, 9, w]])
        total += model.token_logprobs(history, targets)[0, -1].exp().item()
    assert total == pytest.approx(1.0, abs=1e-5)


def test_sparse_table_word_distribution_below_one():
    model, table = tiny_lightrnn(23)  # 5 x 5 table, 2 empty cells
    assert table.n_rows * table.n_cols > 23
    total = sum(model.token_logprobs(torch.tensor([[0]]), torch.tensor([[w]]))[0, 0].exp().item() for w in range(23))
    assert 0.5 < total < 1.0


def _stepwise_lightrnn_logprob(model: LightRNN, words: list[int]) -> float:
    """Independent reference: run the paper's recurrence one half-word at a time."""
    lstm = model.trunk.lstm
    state = None
    total = 0.0

    def step(vec, state):
        out, state = lstm(vec.view(1, 1, -1), state)
        return out.view(-1), state

    seq = [0] + words + [1]
    h, state = step(model.row_embed.weight[model.word_row[seq[0]]], state)
    for prev, w in zip(seq[:-1], seq[1:]):
        h, state = step(model.col_embed.weight[model.word_col[prev]], state)
        total += torch.log_softmax(model.row_head(h), -1)[model.word_row[w]].item()
        h, state = step(model.row_embed.weight[model.word_row[w]], state)
        total += torch.log_softmax(model.col_head(h), -1)[model.word_col[w]].item()
    return total


def test_sentence_logprob_equals_stepwise_sum_of_token_terms():
    model, _ = tiny_lightrnn()
    sentences = [[5, 7, 9], [3], [], [11, 12, 13, 14, 15, 16]]
    batch = score_sentences(model, [torch.tensor(s, dtype=torch.long) for s in sentences])
    with torch.no_grad():
        ref = [_stepwise_lightrnn_logprob(model, s) for s in sentences]
    assert batch == pytest.approx(ref, abs=1e-4)


def test_sentence_logprob_is_sum_of_token_logprobs_and_padding_invariant():
    for model in (tiny_lightrnn()[0], tiny_lstm(), tiny_adaptive()):
        sents = [torch.tensor(s) for s in ([4, 5, 6, 7, 8, 9, 10], [4, 5])]
        inputs, targets, mask = make_batch(sents, 0, 1)
        tok = model.token_logprobs(inputs, targets)
        sent = model.sentence_logprobs(inputs, targets, mask)
        torch.testing.assert_close(sent, (tok * mask).sum(1))
        alone = model.sentence_logprobs(*make_batch(sents[1:], 0, 1))
        torch.testing.assert_close(sent[1:], alone, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("make", [tiny_lstm, tiny_adaptive])
def test_lstm_word_distribution_sums_to_one(make):
    model = make()
    total = sum(model.token_logprobs(torch.tensor([[0, 3]]), torch.tensor([[3, w]]))[0, 1].exp().item()
                for w in range(23))
    assert total == pytest.approx(1.0, abs=1e-5)


def test_column_prediction_depends_on_target_row():
    model, table = tiny_lightrnn()
    inputs = torch.tensor([[0, 5]])
    words_in_two_rows = [int((table.row == r).nonzero()[0]) for r in (0, 1)]
    col = [model.row_col_logprobs(inputs, torch.tensor([[5, w]]))[1][0, 1] for w in words_in_two_rows]
    assert not torch.allclose(col[0], col[1])
    row = [model.row_col_logprobs(inputs, torch.tensor([[5, w]]))[0][0, 1] for w in words_in_two_rows]
    torch.testing.assert_close(row[0], row[1])  # the row prediction must not see the target


def test_parameter_count_is_sublinear_in_vocab():
    v = 10000
    r, c = table_shape(v)
    light = build_model(LMConfig(model_type="lightrnn", vocab_size=v, n_rows=r, n_cols=c, embed_dim=32, hidden_dim=32,
                                 num_layers=1, dropout=0.0, recurrence="halfword"), WordTable.sequential(v))
    full = build_model(LMConfig(model_type="lstm", vocab_size=v, n_rows=0, n_cols=0, embed_dim=32, hidden_dim=32,
                                num_layers=1, dropout=0.0))
    lstm_params = 4 * (32 * 32 + 32 * 32 + 2 * 32)
    assert light.num_parameters() == (r + c) * 32 + lstm_params + (32 + 1) * (r + c)
    assert full.num_parameters() == v * 32 + lstm_params + (32 + 1) * v
    assert full.num_parameters() > 20 * light.num_parameters()


def test_perplexity_matches_definition():
    model, _ = tiny_lightrnn()
    corpus = Corpus.from_id_lists([[5, 2, 7], [9, 9]])
    res = perplexity(model, corpus)
    lp = score_sentences(model, corpus)
    assert res.num_tokens == 7
    assert res.perplexity == pytest.approx(math.exp(-lp.sum() / 7))
    assert res.oov_rate == pytest.approx(1 / 5)


def test_adaptive_softmax_matches_torch_log_prob_and_tail_words_cost_more():
    model = tiny_adaptive()
    inputs, targets = torch.tensor([[0, 3, 12, 20]]), torch.tensor([[3, 12, 20, 1]])
    full = model.head.log_prob(model.trunk(model.embed(inputs))[0])  # (T, V) from torch's own method
    torch.testing.assert_close(model.token_logprobs(inputs, targets)[0], full.gather(1, targets.T)[:, 0])
    # a tail word's probability is its cluster's times its own: never above its cluster's mass
    cluster = full[:, 10:].exp().sum(1)
    assert torch.all(full[:, 12].exp() <= cluster + 1e-7)


def test_adaptive_cutoffs():
    assert default_cutoffs(100_000) == [5000, 20000, 80000]
    assert default_cutoffs(1_000_000) == [8000, 32000, 128000]
    assert default_cutoffs(1000) == [100, 400]
    assert LMConfig(model_type="adaptive", vocab_size=1000).cutoffs == [100, 400]
    with pytest.raises(ValueError, match="cutoffs"):
        LMConfig(model_type="adaptive", vocab_size=1000, cutoffs=[400, 100])
    with pytest.raises(ValueError, match="cutoffs"):
        LMConfig(model_type="adaptive", vocab_size=1000, cutoffs=[10, 1000])
    with pytest.raises(ValueError, match="cutoffs"):
        LMConfig(model_type="lstm", vocab_size=1000, cutoffs=[10])
    with pytest.raises(ValueError, match="tail cluster"):
        LMConfig(model_type="adaptive", vocab_size=1000, hidden_dim=8, cutoffs=[10, 100])


def test_config_validation():
    with pytest.raises(ValueError, match="cannot hold"):
        LMConfig(model_type="lightrnn", vocab_size=30, n_rows=5, n_cols=5, recurrence="halfword")
    with pytest.raises(ValueError, match="model_type"):
        LMConfig(model_type="transformer", vocab_size=30, recurrence="halfword", n_rows=0, n_cols=0)
    with pytest.raises(ValueError, match="unknown config fields"):
        LMConfig.from_dict({"model_type": "lstm", "vocab_size": 3, "evil": 1})
    with pytest.raises(ValueError, match="needs a WordTable"):
        build_model(LMConfig(model_type="lightrnn", vocab_size=4, n_rows=2, n_cols=2, recurrence="halfword"))


@pytest.mark.parametrize("make", [lambda: tiny_lightrnn()[0], tiny_lstm, tiny_adaptive])
def test_word_at_a_time_scoring_equals_sentence_scoring(make):
    model = make()
    sent = [0, 5, 7, 9, 3, 1]  # <s> ... </s>
    x = torch.tensor([sent])
    with torch.no_grad():
        whole = model.token_logprobs(x[:, :-1], x[:, 1:])[0]
        state = model.initial_state(2, bos_id=0)  # a batch of two identical histories
        steps = []
        for w in sent[1:]:
            lp, state = model.score_next(state, torch.tensor([w, w]))
            assert lp[0] == lp[1]
            steps.append(lp[0])
    torch.testing.assert_close(torch.stack(steps), whole, rtol=1e-5, atol=1e-5)


def test_scoring_splits_batches_that_run_out_of_memory(caplog):
    from lightrnn_asr.scoring.sentences import score_sentences

    torch.manual_seed(0)
    model = LSTMLM(LMConfig(model_type="lstm", vocab_size=20, n_rows=0, n_cols=0, embed_dim=8, hidden_dim=8,
                            num_layers=1, dropout=0.0)).eval()
    sents = [torch.randint(3, 20, (n,)) for n in (3, 5, 5, 8, 2, 9, 4, 4, 7, 1)]
    expected = score_sentences(model, sents, max_tokens=10_000)
    real = model.sentence_logprobs
    oom = getattr(torch.cuda, "OutOfMemoryError", RuntimeError)

    def small_memory(inputs, targets, mask):  # a device that holds 12 tokens at most
        if inputs.numel() > 12:
            raise oom("CUDA out of memory. Tried to allocate 2.00 GiB")
        return real(inputs, targets, mask)

    model.sentence_logprobs = small_memory
    with caplog.at_level("WARNING"):
        got = score_sentences(model, sents, max_tokens=10_000)
    np.testing.assert_allclose(got, expected, rtol=1e-6)
    assert "out of memory" in caplog.text and "splitting the batch" in caplog.text
    model.sentence_logprobs = lambda *a: (_ for _ in ()).throw(oom("CUDA out of memory."))
    with pytest.raises(MemoryError, match="one sentence of .* words does not fit"):
        score_sentences(model, sents[:1])
    model.sentence_logprobs = lambda *a: (_ for _ in ()).throw(RuntimeError("shape mismatch"))
    with pytest.raises(RuntimeError, match="shape mismatch"):  # other errors are not retried
        score_sentences(model, sents)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="autocast is used on CUDA only")
@pytest.mark.parametrize("make", [lambda: tiny_lightrnn(vocab_size=500)[0], lambda: tiny_lstm(vocab_size=500),
                                  lambda: tiny_adaptive(vocab_size=500, cutoffs=(50, 200))])
def test_cuda_autocast_stays_within_tolerance_of_float32(make):
    model = make().cuda()
    g = torch.Generator().manual_seed(0)
    sents = [torch.randint(3, 500, (int(n),), generator=g) for n in torch.randint(1, 40, (64,), generator=g)]
    amp = score_sentences(model, sents, amp=True)
    fp32 = score_sentences(model, sents, amp=False)
    per_token = abs(amp - fp32) / np.array([len(s) + 1 for s in sents])
    assert per_token.max() < 0.02  # the tolerance stated in score_sentences' docstring
