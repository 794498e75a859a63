"""Helpers every layer may use: atomic writes and UTF-8 lines (:mod:`~lightrnn_asr.utils.io`), devices
(:mod:`~lightrnn_asr.utils.device`), distributed runs and progress bars."""
