#!/usr/bin/env bash
# WSJ: a LightRNN on the WSJ LM text (NAB '87-'89), rescoring a Kaldi system's N-best lists,
# WER on test_eval92 (Nov'92) with scales tuned on test_dev93, reported as Kaldi's compute-wer does.
#
# Usage: recipes/wsj/prepare.sh --wsj0 DIR --wsj1 DIR --kaldi-nbest-dir DIR [--stage N] [--stop-stage N]
#          [--data-dir DIR] [--exp-dir DIR] [--config gpu|cpu-smoke] [--acwt X]
#
# Inputs (LDC data supplied by the user; nothing is downloaded):
#   --wsj0 DIR: the WSJ0 discs of LDC93S6B (DIR/11-13.1, DIR/11-14.1, ...);
#   --wsj1 DIR: the WSJ1 discs of LDC94S13B (DIR/13-34.1, DIR/13-16.1, DIR/13-32.1, ...);
#   --kaldi-nbest-dir DIR: a Kaldi system's N-best lists, DIR/words.txt (the decoding graph's) and, for
#       SET in test_dev93 and test_eval92 and every decoding job J, the nbest-to-linear archives
#       DIR/SET/words.J, DIR/SET/lmcost.J, DIR/SET/accost.J (README: "WSJ" gives the Kaldi commands).
# Every stage is idempotent: it skips work whose outputs exist (delete them to redo).
set -euo pipefail

stage=0
stop_stage=100
wsj0=
wsj1=
kaldi_nbest=
data=data
exp=exp
config=gpu
acwt=0.1
while [ $# -gt 0 ]; do
  case "$1" in
    --stage) stage=$2; shift 2 ;;
    --stop-stage) stop_stage=$2; shift 2 ;;
    --wsj0) wsj0=$2; shift 2 ;;
    --wsj1) wsj1=$2; shift 2 ;;
    --kaldi-nbest-dir) kaldi_nbest=$2; shift 2 ;;
    --data-dir) data=$2; shift 2 ;;
    --exp-dir) exp=$2; shift 2 ;;
    --config) config=$2; shift 2 ;;
    --acwt) acwt=$2; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 1 ;;
  esac
done
here=$(cd "$(dirname "$0")" && pwd)
need() { [ -n "$2" ] || { echo "stage $1 needs $3" >&2; exit 1; }; }
sets="test_dev93 test_eval92"

. $here/../lm_recipe.sh
# one GPU: ~37M words of NAB text, a 100K vocabulary (R x C = 317 x 316)
train_opts=$(train_opts_for 100000)

if run_stage 0; then
  log 0 "lhotse manifests of test_dev93 and test_eval92 from the LDC discs"
  need 0 "$wsj0" --wsj0; need 0 "$wsj1" --wsj1
  [ -f $data/manifests/.done ] || { python $here/local/wsj.py manifests --wsj0 $wsj0 --wsj1 $wsj1 \
      --out $data/manifests $sets && touch $data/manifests/.done; }
fi

if run_stage 1; then
  log 1 "reference transcripts (Kaldi's normalisation, noise markers removed for scoring)"
  [ -f $data/test_eval92/text ] || python $here/local/wsj.py refs $data/manifests $data $sets
fi

if run_stage 2; then
  log 2 "LM text: NAB '87-'89 (np_data) streamed and normalised; test_dev93 transcripts for validation"
  need 2 "$wsj1" --wsj1; need 2 "$kaldi_nbest" --kaldi-nbest-dir
  mkdir -p $data/lm
  if [ ! -f $data/lm/train.txt ]; then
    # 87/, 88/, 89/ in order; gzip reads compress(1)'s .z files
    lm_files=$(find $wsj1/13-32.1 -ipath '*/lm_train/np_data/*' -iname '*.z' | sort)
    [ -n "$lm_files" ] || { echo "no lm_train/np_data/*.z under $wsj1/13-32.1" >&2; exit 1; }
    echo "$lm_files" | xargs gzip -dc | \
      python $here/local/wsj.py nab --words $kaldi_nbest/words.txt > $data/lm/train.txt.tmp
    mv $data/lm/train.txt.tmp $data/lm/train.txt
  fi
  [ -f $data/lm/valid.txt ] || cut -d' ' -f2- $data/test_dev93/text > $data/lm/valid.txt
fi

if run_stage 3; then
  log 3 "train the LightRNN with bootstrap reallocation ($config)"
  train_lightrnn
fi

if run_stage 4; then
  log 4 "Kaldi N-best archives (nbest-to-linear) to N-best files, am_score = -$acwt x acoustic cost"
  need 4 "$kaldi_nbest" --kaldi-nbest-dir
  mkdir -p $data/nbest
  for s in $sets; do
    [ -f $data/nbest/$s.nbest ] && continue
    args=()
    for w in $(ls $kaldi_nbest/$s/words.* | sort -t. -k2 -n); do
      j=${w##*.}
      args+=(--words-ark $w --lm-costs $kaldi_nbest/$s/lmcost.$j --ac-costs $kaldi_nbest/$s/accost.$j)
    done
    lightrnn-asr import-kaldi-nbest "${args[@]}" --words $kaldi_nbest/words.txt --acwt $acwt \
      --drop '<NOISE>' --drop '<SPOKEN_NOISE>' --out $data/nbest/$s.nbest
  done
fi

if run_stage 5; then
  log 5 "rescore: lm_scale, word_penalty and the graph score's weight tuned on test_dev93, applied to both sets; compute-wer files per system"
  mkdir -p $exp/rescore
  for s in $sets; do
    # first pass: Kaldi's own ranking (acoustic x acwt + graph score)
    [ -f $exp/rescore/${s}_first_pass.txt ] || lightrnn-asr rescore $data/nbest/$s.nbest --lm-scale 0 \
      --fp-lm-scale 1 --out $exp/rescore/${s}_first_pass.txt >/dev/null
    [ -f $exp/rescore/${s}_lightrnn.txt ] || lightrnn-asr rescore $data/nbest/$s.nbest \
      --dev $data/nbest/test_dev93.nbest $data/test_dev93/text --model $exp/lm/lightrnn/best.pt \
      --out $exp/rescore/${s}_lightrnn.txt \
      --plot $exp/rescore/test_dev93_sweep.png > $exp/rescore/${s}_scales.json
    for system in first_pass lightrnn; do
      lightrnn-asr wer --compute-wer --ref $data/$s/text --hyp $exp/rescore/${s}_$system.txt \
        > $exp/rescore/wer_${s}_$system
    done
  done
  grep -H %WER $exp/rescore/wer_* | sed "s|$exp/rescore/wer_||"
fi

if run_stage 6; then
  log 6 "WER report"
  args=()
  for s in $sets; do
    args+=(--ref $s $data/$s/text --hyp $s "first pass" $exp/rescore/${s}_first_pass.txt
           --hyp $s LightRNN $exp/rescore/${s}_lightrnn.txt)
  done
  mkdir -p $exp/report
  lightrnn-asr report --title "WSJ: LightRNN rescoring of Kaldi N-best lists" "${args[@]}" \
    --model LightRNN $exp/lm/lightrnn/best.pt \
    --out $exp/report/wer_report.md --plot $exp/report/wer_report.png --json $exp/report/wer_report.json
fi
