from collections import Counter

import pytest
import torch

from lightrnn_asr.lm.table import WordTable, table_shape
from lightrnn_asr.text.vocabulary import Vocabulary, read_vocab, write_vocab


@pytest.mark.parametrize("v", [1, 2, 3, 10, 99, 100, 101, 1000, 12345, 1_000_000])
def test_table_shape_is_square_ish_and_large_enough(v):
    r, c = table_shape(v)
    assert r * c >= v
    assert abs(r - c) <= 1
    assert (r - 1) * c < v  # no fully empty row


def test_sequential_and_random_tables_are_bijections():
    for table in (WordTable.sequential(23), WordTable.random(23, torch.Generator().manual_seed(0))):
        grid = table.word_at()
        assert grid.shape == (table.n_rows, table.n_cols)
        assert sorted(grid[grid >= 0].tolist()) == list(range(23))
        assert (grid[table.row, table.col] == torch.arange(23)).all()
        assert int((grid < 0).sum()) == table.n_rows * table.n_cols - 23


def test_table_rejects_shared_or_out_of_range_cells():
    with pytest.raises(ValueError, match="share a cell"):
        WordTable(torch.tensor([0, 1, 1]), 2, 2)
    with pytest.raises(ValueError, match="out of range"):
        WordTable(torch.tensor([0, 4]), 2, 2)
    with pytest.raises(ValueError, match="cannot hold"):
        WordTable(torch.arange(5), 2, 2)


def test_table_dict_round_trip():
    t = WordTable.random(10, torch.Generator().manual_seed(3))
    u = WordTable.from_dict(t.to_dict())
    assert torch.equal(t.cell, u.cell) and (t.n_rows, t.n_cols) == (u.n_rows, u.n_cols)


def test_vocabulary_order_cutoffs_and_unk():
    sents = [["the", "cat"], ["the", "dog"], ["a", "cat", "the"]]
    v = Vocabulary.from_sentences(sents)
    assert v.words == ["<s>", "</s>", "<unk>", "the", "cat", "a", "dog"]
    assert v.counts == [0, 3, 0, 3, 2, 1, 1]
    small = Vocabulary.from_sentences(sents, min_count=2)
    assert small.words[3:] == ["the", "cat"] and small.counts[2] == 2  # a + dog counted as <unk>
    assert small.encode(["the", "dog", "zebra"]) == [3, 2, 2]
    assert Vocabulary.from_sentences(sents, max_size=1).words[3:] == ["the"]
    with pytest.raises(ValueError, match="empty training text"):
        Vocabulary.from_counts(Counter())


def test_vocabulary_validation_and_file_round_trip(tmp_path):
    with pytest.raises(ValueError, match="must start with"):
        Vocabulary(["a", "<s>", "</s>"])
    with pytest.raises(ValueError, match="duplicate"):
        Vocabulary(["<s>", "</s>", "<unk>", "x", "x"])
    v = Vocabulary.from_sentences([["x", "y", "x"]])
    write_vocab(tmp_path / "v.txt", v)
    assert read_vocab(tmp_path / "v.txt") == v
    bad = tmp_path / "bad.txt"
    bad.write_text("<s> 0\n</s> 1\n<unk> 0\nword lots\n")
    with pytest.raises(ValueError, match=r"bad.txt:4: expected 'word \[count\]'"):
        read_vocab(bad)


def test_word_list_is_normalised_like_the_text_and_appended_with_zero_counts(tmp_path):
    from lightrnn_asr.text.vocabulary import read_word_list

    path = tmp_path / "words"
    path.write_text("Aaron's\n\u00e9lan\nA&P\ncat\nCat\n\nzebra\n", encoding="utf-8")
    words, skipped = read_word_list(path)
    assert words == ["aaron's", "elan", "cat", "zebra"] and skipped == 1
    base = Vocabulary.from_sentences([["the", "cat"], ["the", "dog"]])
    big = base.with_words(words)
    assert big.words[: len(base)] == base.words and big.counts[: len(base)] == base.counts
    assert big.words[len(base):] == ["aaron's", "elan", "zebra"] and big.counts[len(base):] == [0, 0, 0]
    with pytest.raises(ValueError, match="cannot add '<unk>'"):
        base.with_words(["<unk>"])
    path.write_bytes(b"cat\n\xff\xfe\n")
    with pytest.raises(ValueError, match=r"words:2: not valid UTF-8"):
        read_word_list(path)
