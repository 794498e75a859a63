"""``python -m lightrnn_asr.cli``: the ``lightrnn-asr`` command."""

from lightrnn_asr.cli import main

main()
