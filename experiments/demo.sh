#!/usr/bin/env bash
# The demo behind `make demo` (a few minutes on 2 cores): meta-train MAML-RL on 2D navigation,
# pretrain the PPO baseline, evaluate few-rollout adaptation on held-out goals against the
# baselines, and plot; then a short sinusoid MAML run, evaluated and plotted.
set -euo pipefail
cd "$(dirname "$0")/.."
METARL="${METARL:-.venv/bin/metarl}"
OUT="${OUT:-runs/demo}"
rm -rf "$OUT"

"$METARL" train experiments/navigation2d_maml.toml --iterations 30 --run-dir "$OUT/navigation2d_maml"
"$METARL" train experiments/navigation2d_ppo.toml --iterations 15 --run-dir "$OUT/navigation2d_ppo"
"$METARL" evaluate "$OUT/navigation2d_maml" --steps 3 --tasks 40 --baseline "$OUT/navigation2d_ppo"

"$METARL" train experiments/fewshot/sinusoid_maml.toml --iterations 3000 \
    --run-dir "$OUT/sinusoid_maml"
"$METARL" evaluate "$OUT/sinusoid_maml" --steps 10 --tasks 600

echo
echo "Adaptation plots: $OUT/navigation2d_maml/adaptation.png, $OUT/sinusoid_maml/adaptation.png"
echo "TensorBoard:      .venv/bin/tensorboard --logdir $OUT"
