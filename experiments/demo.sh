#!/usr/bin/env bash
# The demo behind `make demo` (a few minutes on 2 cores): meta-train MAML-RL on 2D navigation,
# pretrain the PPO baseline, evaluate few-rollout adaptation on held-out goals against the
# baselines, plot, and draw the paths before and after adapting; a tiny HalfCheetahDir run filmed
# before and after one inner step (skipped with a message where MuJoCo cannot render); then a
# short sinusoid MAML run, evaluated and plotted.
set -euo pipefail
cd "$(dirname "$0")/.."
METARL="${METARL:-.venv/bin/metarl}"
OUT="${OUT:-runs/demo}"
rm -rf "$OUT"

"$METARL" train experiments/navigation2d_maml.toml --iterations 30 --run-dir "$OUT/navigation2d_maml"
"$METARL" train experiments/navigation2d_ppo.toml --iterations 15 --run-dir "$OUT/navigation2d_ppo"
"$METARL" evaluate "$OUT/navigation2d_maml" --steps 3 --tasks 40 --baseline "$OUT/navigation2d_ppo"
"$METARL" render "$OUT/navigation2d_maml" --tasks 3 --steps 0 1 3 \
    --out "$OUT/navigation2d_maml/trajectories.png"

# A look at adaptation on MuJoCo: one tiny HalfCheetahDir iteration (the mechanism, not a trained
# policy), filmed before and after one inner step on both directions.
"$METARL" train experiments/halfcheetah_dir_maml.toml --iterations 1 --run-dir "$OUT/halfcheetah_dir" \
    --set agent.meta_batch_size=2 --set agent.rollouts=2 --set env.horizon=40 --set eval.rollouts=2
"$METARL" render "$OUT/halfcheetah_dir" --tasks 2 --steps 0 1 --out "$OUT/halfcheetah_dir/adaptation.gif" \
    || echo "demo: skipped the HalfCheetahDir GIF (see the error above)"

"$METARL" train experiments/fewshot/sinusoid_maml.toml --iterations 3000 \
    --run-dir "$OUT/sinusoid_maml"
"$METARL" evaluate "$OUT/sinusoid_maml" --steps 10 --tasks 600

echo
echo "Adaptation plots: $OUT/navigation2d_maml/adaptation.png, $OUT/sinusoid_maml/adaptation.png"
echo "Adaptation seen:  $OUT/navigation2d_maml/trajectories.png, $OUT/halfcheetah_dir/adaptation.gif"
echo "TensorBoard:      .venv/bin/tensorboard --logdir $OUT"
