"""Plug-ins for the decoders people use (word-level shallow fusion in CTC beam search). Each module
imports its decoder's package and is imported only when asked for:
``lightrnn_asr.decoders.pyctcdecode_lm`` (pyctcdecode) and ``lightrnn_asr.decoders.flashlight_lm``
(flashlight-text, torchaudio's ``ctc_decoder``)."""
