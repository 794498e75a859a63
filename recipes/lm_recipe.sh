# Shared by the corpus recipes (sourced after option parsing, with $stage, $stop_stage and $config set).
#   log N MESSAGE        a time-stamped stage line
#   run_stage N          true when stage N is within --stage .. --stop-stage
#   train_opts_for VOCAB the `lightrnn-asr train` options of $config, with a VOCAB-word vocabulary on GPU
#   train_lightrnn       train $exp/lm/lightrnn on $data/lm/{train,valid}.txt with $train_opts (resumable;
#                        skipped once $exp/lm/lightrnn/.done exists)
log() { echo "$(date '+%F %T') [stage $1] $2"; }
run_stage() { [ "$1" -ge "$stage" ] && [ "$1" -le "$stop_stage" ]; }
train_opts_for() {
  case "$config" in
    # one GPU: embedding and hidden size 512, 2 layers, 6 rounds of reallocation, bf16/fp16 autocast
    gpu) echo "--vocab-size $1 --embed-dim 512 --hidden-dim 512 --num-layers 2 --dropout 0.1
               --rounds 6 --epochs-per-round 1 --lr 0.002 --max-tokens 32000 --max-len 60 --patience 2" ;;
    # CPU smoke run: the same stages in minutes on a few thousand words
    cpu-smoke) echo "--vocab-size 5000 --embed-dim 32 --hidden-dim 32 --num-layers 1 --dropout 0.0
                     --rounds 2 --epochs-per-round 8 --lr 0.01 --max-tokens 2000 --max-len 60 --patience 2
                     --device cpu" ;;
    *) echo "--config must be gpu or cpu-smoke" >&2; return 1 ;;
  esac
}
train_lightrnn() {
  [ -f $exp/lm/lightrnn/.done ] || { lightrnn-asr train --train-text $data/lm/train.txt --valid-text $data/lm/valid.txt \
      --out-dir $exp/lm/lightrnn --model-type lightrnn $train_opts --resume && touch $exp/lm/lightrnn/.done; }
}
