"""Subword pieces through sentencepiece: a BPE model trained on the LM text, and every word of a
vocabulary spelled in its pieces (the input of :class:`~lightrnn_asr.lm.piece_lstm.PieceLSTMLM`).

A piece LM is open-vocabulary by construction: any word is a sequence of pieces, as in icefall's
``rnn_lm`` (an LSTM over the 500 BPE pieces of ``data/lang_bpe_500``). Here the pieces of the words
a scorer can meet are looked up once, so that the model still takes word ids like every
:class:`~lightrnn_asr.lm.interface.LanguageModel` of this package.
"""

from __future__ import annotations

from pathlib import Path

import torch

from lightrnn_asr.text.vocabulary import BOS, EOS, UNK, Vocabulary

__all__ = ["BOS_PIECE", "EOS_PIECE", "UNK_PIECE", "load_pieces", "piece_table", "train_pieces", "word_piece_table"]

#: The piece ids sentencepiece is told to give ``<unk>``, ``<s>`` and ``</s>``.
UNK_PIECE, BOS_PIECE, EOS_PIECE = 0, 1, 2


def train_pieces(text: str | Path, model_prefix: str | Path, n_pieces: int = 500, model_type: str = "bpe"):
    """Train a sentencepiece model on ``text`` (one sentence per line) and return it loaded.

    Every character of the text is covered (``character_coverage=1.0``), so no word of the text
    becomes ``<unk>``; every line is used (no sampling) and trained on one thread, so the same text
    gives the same model. Writes ``MODEL_PREFIX.model`` and ``MODEL_PREFIX.vocab`` (sentencepiece's
    files).

    Args:
        text: the training text (the LM's).
        model_prefix: where the two files go (``exp/bpe/bpe`` -> ``exp/bpe/bpe.model``).
        n_pieces: pieces including ``<unk> <s> </s>`` (icefall's LibriSpeech LMs use 500).
        model_type: sentencepiece's ``bpe`` (default) or ``unigram``.

    Returns:
        a ``sentencepiece.SentencePieceProcessor``.

    Raises:
        ValueError: naming ``text`` when sentencepiece cannot build ``n_pieces`` pieces from it.
    """
    import sentencepiece as spm

    Path(model_prefix).parent.mkdir(parents=True, exist_ok=True)
    try:
        spm.SentencePieceTrainer.train(
            input=str(text), model_prefix=str(model_prefix), vocab_size=n_pieces, model_type=model_type,
            character_coverage=1.0, unk_id=UNK_PIECE, bos_id=BOS_PIECE, eos_id=EOS_PIECE, pad_id=-1,
            input_sentence_size=0, shuffle_input_sentence=False, num_threads=1, minloglevel=2,
            max_sentence_length=1 << 20)
    except RuntimeError as e:
        raise ValueError(f"{text}: sentencepiece could not train {n_pieces} pieces: {e}") from None
    return load_pieces(f"{model_prefix}.model")


def load_pieces(path: str | Path):
    """A sentencepiece model file, loaded (``sentencepiece.SentencePieceProcessor``).

    Raises:
        ValueError: naming ``path`` when it is not a sentencepiece model, or its ``<unk> <s> </s>``
            are not pieces 0, 1, 2 (as :func:`train_pieces` makes them).
    """
    import sentencepiece as spm

    sp = spm.SentencePieceProcessor()
    try:
        sp.load(str(path))
    except (OSError, RuntimeError) as e:
        raise ValueError(f"{path}: not a sentencepiece model ({e})") from None
    if (sp.unk_id(), sp.bos_id(), sp.eos_id()) != (UNK_PIECE, BOS_PIECE, EOS_PIECE):
        raise ValueError(f"{path}: <unk> <s> </s> must be pieces {UNK_PIECE} {BOS_PIECE} {EOS_PIECE}, "
                         f"are {sp.unk_id()} {sp.bos_id()} {sp.eos_id()}")
    return sp


def word_piece_table(vocab: Vocabulary, sp) -> tuple[torch.Tensor, torch.Tensor]:
    """Every word of ``vocab`` spelled in the pieces of ``sp``: :func:`piece_table` of ``vocab.words``.

    Returns:
        ``(pieces, counts)``: ``(|V|, L)`` int32 piece ids, padded with 0 after each word's own,
        ``L`` the most pieces of any word; ``(|V|,)`` int32 pieces per word (at least 1).
    """
    return piece_table(vocab.words, sp)


def piece_table(words, sp) -> tuple[torch.Tensor, torch.Tensor]:
    """``words`` spelled in the pieces of ``sp``: ``(len(words), L)`` int32 piece ids (padded with 0) and
    ``(len(words),)`` int32 pieces per word (at least 1).

    ``<s>``, ``</s>`` and ``<unk>`` are the pieces of the same names; any other word is
    ``sp.encode(word)`` (its first piece starts with sentencepiece's word-boundary mark, as in a
    sentence, so a sentence's pieces are its words' pieces in order).
    """
    special = {BOS: [BOS_PIECE], EOS: [EOS_PIECE], UNK: [UNK_PIECE]}
    spelled = [special.get(w) or sp.encode(w, out_type=int) or [UNK_PIECE] for w in words]
    width = max((len(p) for p in spelled), default=1)
    pieces = torch.zeros(len(spelled), width, dtype=torch.int32)
    for i, p in enumerate(spelled):
        pieces[i, : len(p)] = torch.tensor(p, dtype=torch.int32)
    return pieces, torch.tensor([len(p) for p in spelled], dtype=torch.int32)
