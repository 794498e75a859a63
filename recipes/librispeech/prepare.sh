#!/usr/bin/env bash
# LibriSpeech: a LightRNN on the LibriSpeech LM corpus, rescoring a first-pass system's N-best lists
# or k2 lattices, WER on test-clean/test-other with scales tuned on dev-clean/dev-other.
#
# Usage: recipes/librispeech/prepare.sh [--stage N] [--stop-stage N] [--dl-dir DIR]
#          [--data-dir DIR] [--exp-dir DIR] [--config gpu|cpu-smoke]
#          [--nbest-dir DIR | --k2-dir DIR] [--fp-lm-scale X]
#
# Inputs (--dl-dir, default ./download): LibriSpeech/{dev,test}-{clean,other}/ from OpenSLR 12
# and librispeech-lm-norm.txt from OpenSLR 11. First-pass output, one of:
#   --nbest-dir DIR: DIR/<part>.nbest for the four parts, the project's N-best format with the
#       first pass's LM score (utt_id TAB am_score TAB lm_score TAB words);
#   --k2-dir DIR: DIR/<part>/*.pt (torch.save(lattice.as_dict()) with utt_ids, as icefall saves
#       them) and DIR/words.txt; needs k2 (`make test-k2` builds an environment with it).
# Every stage is idempotent: it skips work whose outputs exist (delete them to redo).
set -euo pipefail

stage=0
stop_stage=100
dl_dir=download
data=data
exp=exp
config=gpu
nbest_dir=
k2_dir=
fp_lm_scale=1.0
while [ $# -gt 0 ]; do
  case "$1" in
    --stage) stage=$2; shift 2 ;;
    --stop-stage) stop_stage=$2; shift 2 ;;
    --dl-dir) dl_dir=$2; shift 2 ;;
    --data-dir) data=$2; shift 2 ;;
    --exp-dir) exp=$2; shift 2 ;;
    --config) config=$2; shift 2 ;;
    --nbest-dir) nbest_dir=$2; shift 2 ;;
    --k2-dir) k2_dir=$2; shift 2 ;;
    --fp-lm-scale) fp_lm_scale=$2; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 1 ;;
  esac
done
here=$(cd "$(dirname "$0")" && pwd)
parts="dev-clean dev-other test-clean test-other"

. $here/../lm_recipe.sh
# one GPU: the paper's conventions for a 200K vocabulary (R x C = 448 x 448)
train_opts=$(train_opts_for 200000)

if run_stage 0; then
  log 0 "lhotse manifests of the dev and test parts"
  if [ ! -f $data/manifests/.done ]; then
    lhotse prepare librispeech $(for p in $parts; do echo -p $p; done) $dl_dir/LibriSpeech $data/manifests
    touch $data/manifests/.done
  fi
fi

if run_stage 1; then
  log 1 "reference transcripts (normalised like the LM text)"
  [ -f $data/test-other/text ] || python $here/local/supervisions_to_text.py $data/manifests $data $parts
fi

if run_stage 2; then
  log 2 "LM text: librispeech-lm-norm.txt streamed and normalised; dev transcripts for validation"
  mkdir -p $data/lm
  [ -f $data/lm/train.txt ] || lightrnn-asr prepare-text $dl_dir/librispeech-lm-norm.txt --lines --out $data/lm/train.txt
  [ -f $data/lm/valid.txt ] || cut -d' ' -f2- $data/dev-clean/text $data/dev-other/text > $data/lm/valid.txt
fi

if run_stage 3; then
  log 3 "train the LightRNN with bootstrap reallocation ($config)"
  train_lightrnn
fi

if run_stage 4; then
  log 4 "rescore the first pass: scales tuned on dev-X, applied to test-X"
  mkdir -p $exp/rescore
  for cond in clean other; do
    dev=dev-$cond; test=test-$cond
    if [ -n "$nbest_dir" ]; then
      for p in $dev $test; do  # words normalised like the LM text and the references
        [ -f $data/nbest/$p.nbest ] || { mkdir -p $data/nbest;
          python $here/local/normalize_nbest.py $nbest_dir/$p.nbest $data/nbest/$p.nbest; }
      done
      input="$data/nbest/$test.nbest"; dev_input="$data/nbest/$dev.nbest"
    elif [ -n "$k2_dir" ]; then
      input="$k2_dir/$test --input-type k2 --words $k2_dir/words.txt"; dev_input="$k2_dir/$dev"
    else
      echo "stage 4 needs --nbest-dir or --k2-dir" >&2; exit 1
    fi
    # first pass: acoustic + its own n-gram score, no new LM
    [ -f $exp/rescore/${test}_first_pass.txt ] || lightrnn-asr rescore $input --lm-scale 0 \
      --fp-lm-scale $fp_lm_scale --out $exp/rescore/${test}_first_pass.txt >/dev/null
    [ -f $exp/rescore/${test}_lightrnn.txt ] || lightrnn-asr rescore $input --dev $dev_input $data/$dev/text \
      --model $exp/lm/lightrnn/best.pt \
      --out $exp/rescore/${test}_lightrnn.txt --plot $exp/rescore/${dev}_sweep.png > $exp/rescore/${test}_scales.json
  done
fi

if run_stage 5; then
  log 5 "WER report"
  args=()
  for test in test-clean test-other; do
    args+=(--ref $test $data/$test/text --hyp $test "first pass" $exp/rescore/${test}_first_pass.txt
           --hyp $test LightRNN $exp/rescore/${test}_lightrnn.txt)
  done
  mkdir -p $exp/report
  lightrnn-asr report --title "LibriSpeech: LightRNN rescoring" "${args[@]}" --model LightRNN $exp/lm/lightrnn/best.pt \
    --out $exp/report/wer_report.md --plot $exp/report/wer_report.png --json $exp/report/wer_report.json
fi
