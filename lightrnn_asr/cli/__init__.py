"""The ``lightrnn-asr`` command line (click).

Every command is a thin wrapper around library functions: it maps its options onto the library's
arguments or config dataclass and calls it. Bad input ends in a one-line ``Error: file:line: ...``
message and exit status 1 (a wrong combination of options: exit status 2), not a traceback.

One module per command group: :mod:`.text_cmds` (prepare-text), :mod:`.train_cmds` (train,
add-words), :mod:`.lm_cmds` (ppl, score, compress, table-shape), :mod:`.format_cmds`
(lattice-to-nbest, import-kaldi-nbest), :mod:`.rescore_cmd` (rescore) and :mod:`.evaluate_cmds`
(wer, report, nbest-oracle).
"""

from lightrnn_asr.cli import evaluate_cmds, format_cmds, lm_cmds, rescore_cmd, text_cmds, train_cmds  # noqa: F401
from lightrnn_asr.cli.common import main

__all__ = ["main"]

if __name__ == "__main__":
    main()
