"""Text: normalisation, the vocabulary, and corpora of word ids (the first step of the flow)."""

from lightrnn_asr.text.corpus import Corpus, encode_corpus, length_batches, make_batch, read_sentences
from lightrnn_asr.text.normalize import normalize_text, split_sentences, strip_variant
from lightrnn_asr.text.vocabulary import Vocabulary, read_vocab, read_word_list, write_vocab

__all__ = ["Corpus", "Vocabulary", "encode_corpus", "length_batches", "make_batch", "normalize_text", "read_sentences",
           "read_vocab", "read_word_list", "split_sentences", "strip_variant", "write_vocab"]
