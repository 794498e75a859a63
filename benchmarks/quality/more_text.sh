#!/usr/bin/env bash
# More LM training text at equal training time: the demo's text (0.81M words) against `--books all`
# (2.72M words: the King James Bible, Shakespeare and Milton added) and against half of the demo's
# text (every other sentence, 0.41M words), the same vocabulary, validation
# and held-out text, the LightRNN and the adaptive-softmax LSTM of the demo's recipe, BUDGET seconds
# each on one thread, the two texts' runs side by side. Then every model rescoring the demo's N-best
# lists (recipes/pocketsphinx/local/evaluate.py), so that perplexity and WER come from the same runs.
#
# Needs a finished `make demo` (its decodes, N-best lists, text and vocabulary).
# Usage: benchmarks/quality/more_text.sh [BUDGET] [OUT_PREFIX]   (defaults: 1200, docs/bench/more_text)
set -euo pipefail
budget=${1:-1200}
prefix=${2:-docs/bench/more_text}
root=$(cd "$(dirname "$0")/../.." && pwd)
recipe=$root/recipes/pocketsphinx
work=$(mktemp -d -t more_text.XXXXXX)
trap 'rm -rf "$work"' EXIT

# the all-books text: prepare_text.py's own split (every 50th sentence of a book is validation), with
# the demo's validation and held-out text put back so that both runs stop and are scored on the same text
mkdir -p "$work/data"
for d in "$recipe"/data/*_dev "$recipe"/data/*_test; do
  mkdir -p "$work/data/$(basename "$d")" && cp "$d/text" "$work/data/$(basename "$d")/"
done
python "$recipe/local/prepare_text.py" build --download "$recipe/download" --data "$work/data" --books all
cp "$recipe/data/lm/valid.txt" "$recipe/data/lm/heldout_test.txt" "$work/data/lm/"
mkdir -p "$work/half"
awk 'NR % 2 == 1' "$recipe/data/lm/train.txt" > "$work/half/train.txt"
cp "$recipe/data/lm/valid.txt" "$recipe/data/lm/heldout_test.txt" "$work/half/"

for text in demo all; do
  data=$recipe/data/lm
  [ $text = all ] && data=$work/data/lm
  python "$root/benchmarks/quality/lightrnn_quality.py" --data "$data" --vocab "$recipe/exp/lm/vocab.txt" \
    --runs lightrnn-col400 adaptive --budget "$budget" --workers 1 --threads 1 \
    --out "${prefix}_$text.jsonl" --keep-models "$work/models_$text" &
done
wait
python "$root/benchmarks/quality/lightrnn_quality.py" --data "$work/half" --vocab "$recipe/exp/lm/vocab.txt" \
  --runs lightrnn-col400 adaptive --budget "$budget" --workers 2 --threads 1 \
  --out "${prefix}_half.jsonl" --keep-models "$work/models_half"

for text in demo all half; do
  mkdir -p "$work/exp_$text/lm"
  ln -s "$recipe/exp/decode" "$work/exp_$text/decode"
  ln -s "$work/models_$text/lightrnn-col400" "$work/exp_$text/lm/lightrnn"
  ln -s "$work/models_$text/adaptive" "$work/exp_$text/lm/adaptive"
  (cd "$recipe" && python local/evaluate.py --data data --exp "$work/exp_$text" --out "$work/report_$text" >/dev/null)
  cp "$work/report_$text/results.json" "${prefix}_${text}_report.json"
done
echo "results: ${prefix}_{demo,all,half}.jsonl and ${prefix}_{demo,all,half}_report.json"
python "$root/benchmarks/quality/rescoring_table.py" --set synthetic "half the demo text:${prefix}_half_report.json" \
  "demo text:${prefix}_demo_report.json" "other text, all books:${prefix}_all_report.json"
