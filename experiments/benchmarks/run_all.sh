#!/usr/bin/env bash
# Every benchmark of docs/benchmarks.md, writing JSON under experiments/benchmarks/results/ and
# run directories under runs/bench/. Hours on 2 cores; set DATA_DIR to the omniglot-py folder.
# Run one section at a time with SECTIONS="speed sinusoid" etc. (SECTIONS=ray: the Ray extra's).
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN="${BIN:-.venv/bin}"
DATA_DIR="${DATA_DIR:-../shared/datasets/omniglot-py}"
SECTIONS="${SECTIONS:-speed sinusoid omniglot navigation halfcheetah cheetah rl2}"  # + metaworld
RESULTS=experiments/benchmarks/results
RUNS=runs/bench
mkdir -p "$RESULTS" "$RUNS"

want() { [[ " $SECTIONS " == *" $1 "* ]]; }

if want speed; then
    "$BIN/python" experiments/benchmarks/throughput.py --json --out "$RESULTS/throughput.json"
    "$BIN/python" experiments/benchmarks/rl_speed.py --json --out "$RESULTS/rl_speed.json"
    "$BIN/python" experiments/benchmarks/rl_speed.py --json --set trpo.fisher_fraction=0.2 \
        --out "$RESULTS/rl_speed_fisher0.2.json"
    "$BIN/python" experiments/benchmarks/fewshot_speed.py --data-dir "$DATA_DIR" --json \
        --out "$RESULTS/fewshot_speed.json"
fi

if want ray; then
    # docs/bench_ray.md; needs the ray extra (make setup-ray), so not among the default sections.
    OMP_NUM_THREADS=1 "$BIN/python" experiments/benchmarks/ray_speed.py --out "$RESULTS/ray_speed.json"
fi

if want sinusoid; then
    for seed in 0 1 2; do
        run="$RUNS/sinusoid_maml_s$seed"
        [ -d "$run" ] || "$BIN/metarl" train experiments/fewshot/sinusoid_maml.toml --seed "$seed" \
            --run-dir "$run"
        "$BIN/metarl" evaluate "$run" --steps 10 --tasks 600
        cp "$run/evaluation.json" "$RESULTS/sinusoid_maml_s$seed.json"
    done
fi

if want omniglot; then
    # MINUTES of training per config; accuracy checked on 25 test episodes every 2 minutes, final
    # accuracy on 100 (evaluation costs up to 1 s per episode on a CPU thread).
    "$BIN/python" experiments/benchmarks/omniglot.py --data-dir "$DATA_DIR" --minutes "${MINUTES:-4}" \
        --eval-every 120 --eval-tasks 25 --final-tasks 100 --threads 1 \
        experiments/fewshot/omniglot_5w1s_*.toml experiments/fewshot/omniglot_5w5s_*.toml \
        --json --out "$RESULTS/omniglot.json"
fi

if want navigation; then
    "$BIN/metarl" train experiments/navigation2d_maml.toml --iterations 80 --run-dir "$RUNS/navigation2d_maml"
    "$BIN/metarl" train experiments/navigation2d_ppo.toml --iterations 60 --run-dir "$RUNS/navigation2d_ppo"
    "$BIN/metarl" evaluate "$RUNS/navigation2d_maml" --steps 3 --tasks 40 \
        --baseline "$RUNS/navigation2d_ppo"
    cp "$RUNS/navigation2d_maml/evaluation.json" "$RESULTS/navigation2d_maml.json"
fi

if want halfcheetah; then
    # Time-boxed: BUDGET seconds of training each (Ctrl-C at the deadline; the run keeps its last
    # checkpoint), on a reduced meta-batch (20 tasks x 10 rollouts x 100 steps, Fisher products on
    # a fifth of the samples) so that a CPU budget buys more TRPO steps; the PPO baselines see the
    # same horizon. Then evaluated on 40 held-out tasks against both baselines. The runs in
    # docs/benchmarks.md ran two at a time, and three were continued afterwards with
    # `timeout -s INT SECS metarl train --resume RUN --iterations N` and evaluated again.
    # They predate policy.action_scale = 10 in the configs: they ran in control units (scale 1).
    SMALL=(--set env.horizon=100 --set agent.meta_batch_size=20 --set agent.rollouts=10
           --set run.checkpoint_every=5 --set policy.action_scale=1)
    for family in dir vel; do
        ppo="$RUNS/halfcheetah_${family}_ppo"
        timeout -s INT "${PPO_BUDGET:-900}" "$BIN/metarl" train "experiments/halfcheetah_${family}_ppo.toml" \
            --run-dir "$ppo" --set env.horizon=100 --set run.checkpoint_every=2 \
            --set policy.action_scale=1 || true
    done
    for name in halfcheetah_dir_maml halfcheetah_vel_maml halfcheetah_dir_fomaml halfcheetah_dir_reptile; do
        extra=("${SMALL[@]}")
        [[ $name == *reptile ]] || extra+=(--set trpo.fisher_fraction=0.2)
        timeout -s INT "${BUDGET:-1800}" "$BIN/metarl" train "experiments/$name.toml" \
            --run-dir "$RUNS/$name" "${extra[@]}" || true
        family="${name#halfcheetah_}"; family="${family%%_*}"
        "$BIN/metarl" evaluate "$RUNS/$name" --steps 3 --tasks 40 --baseline "$RUNS/halfcheetah_${family}_ppo"
        cp "$RUNS/$name/evaluation.json" "$RESULTS/$name.json"
    done
fi

if want cheetah; then
    # docs/bench_cheetah.md: HalfCheetahVel at pytorch-maml-rl's config, 40 meta-iterations, 3 seeds
    # for the default action scale, one seed for the initial-std ablation. About 15 min per run.
    export OMP_NUM_THREADS=1
    "$BIN/python" experiments/benchmarks/cheetah_time_to_result.py --label scale10 --train \
        --seeds 0 1 2 --runs-dir "$RUNS"
    "$BIN/python" experiments/benchmarks/cheetah_time_to_result.py --label std01 --train \
        --seeds 0 --runs-dir "$RUNS" --set policy.action_scale=1 --set policy.init_std=0.1
    # The wall-clock figure: seed 0 alone on the otherwise idle machine, both cores (2 MuJoCo and
    # 2 torch threads, as the reference's 2 sampler workers).
    OMP_NUM_THREADS=2 "$BIN/python" experiments/benchmarks/cheetah_time_to_result.py \
        --label scale10_quiet --train --seeds 0 --threads 2 --runs-dir "$RUNS"
fi

if want metaworld; then
    # docs/bench_metaworld.md, in the Meta-World venv (make setup-metaworld; not in the default
    # SECTIONS): the family's throughput in the batched simulator against SyncVectorEnv, then ML1
    # reach MAML-TRPO on a reduced meta-batch (10 tasks x 5 episodes x 500 steps) for BUDGET
    # seconds on one thread, evaluated on 20 held-out goals (5 episodes per step). Of the runs in
    # the doc: ML1 reach was stopped by plain `timeout` (SIGTERM), ML10 by `timeout -s INT`.
    MW="${MW_BIN:-.venv-metaworld/bin}"
    export OMP_NUM_THREADS=1
    "$MW/python" experiments/benchmarks/throughput.py --families MetaWorldML1_reach_v3 --tasks 4 \
        --envs-per-task 10 --steps 100 --sync-steps 100 --ceiling-steps 0 --threads 1 --json \
        --out "$RESULTS/metaworld_throughput.json"
    run="$RUNS/metaworld_ml1_reach_maml"
    timeout -s INT "${BUDGET:-1260}" "$MW/metarl" train experiments/metaworld_ml1_reach_maml.toml \
        --run-dir "$run" --iterations 60 --set agent.meta_batch_size=10 --set agent.rollouts=5 \
        --set env.threads=1 --set run.checkpoint_every=1 || true
    "$MW/metarl" evaluate "$run" --tasks 20 --rollouts 5 --steps 1
    cp "$run/evaluation.json" "$RESULTS/metaworld_ml1_reach_maml.json"
    cp "$run/metrics.jsonl" "$RESULTS/metaworld_ml1_reach_maml_metrics.jsonl"
    # ML10, same reduced meta-batch, ML10_BUDGET seconds; evaluated on the first 10 train tasks
    # (one goal of each train skill) and on 20 held-out tasks (4 goals of each held-out skill).
    run="$RUNS/metaworld_ml10_maml"
    timeout -s INT "${ML10_BUDGET:-1080}" "$MW/metarl" train experiments/metaworld_ml10_maml.toml \
        --run-dir "$run" --iterations 60 --set agent.meta_batch_size=10 --set agent.rollouts=5 \
        --set env.threads=1 --set run.checkpoint_every=1 || true
    "$MW/metarl" evaluate "$run" --split train --tasks 10 --rollouts 5 --steps 1
    cp "$run/evaluation.json" "$RESULTS/metaworld_ml10_maml_train.json"
    "$MW/metarl" evaluate "$run" --tasks 20 --rollouts 5 --steps 1
    cp "$run/evaluation.json" "$RESULTS/metaworld_ml10_maml.json"
    cp "$run/metrics.jsonl" "$RESULTS/metaworld_ml10_maml_metrics.jsonl"
    # ML1 reach, push, pick-place at 1 M env steps each (20 iterations of the reduced meta-batch)
    # against the PPO baseline at 1.008 M (123 updates of 8 x 1024 steps).
    for skill in reach push pick_place; do
        run="$RUNS/metaworld_ml1_${skill}_1m" ppo="$RUNS/metaworld_ml1_${skill}_ppo"
        "$MW/metarl" train "experiments/metaworld_ml1_${skill}_maml.toml" --run-dir "$run" \
            --iterations 20 --set agent.meta_batch_size=10 --set agent.rollouts=5 --set env.threads=1
        "$MW/metarl" train experiments/metaworld_ml1_reach_ppo.toml --run-dir "$ppo" \
            --iterations 123 --set "env.family=MetaWorldML1_${skill}_v3"
        "$MW/metarl" evaluate "$run" --tasks 20 --rollouts 5 --steps 1 --baseline "$ppo"
        cp "$run/evaluation.json" "$RESULTS/metaworld_ml1_${skill}_1m_eval.json"
        cp "$run/metrics.jsonl" "$RESULTS/metaworld_ml1_${skill}_1m_metrics.jsonl"
    done
    # ML10 RL², a 15-minute time box, evaluated on 10 train and 20 held-out tasks.
    run="$RUNS/metaworld_ml10_rl2"
    timeout -s INT "${ML10_RL2_BUDGET:-900}" "$MW/metarl" train experiments/metaworld_ml10_rl2.toml \
        --run-dir "$run" --iterations 1000 --set env.threads=1 --set run.checkpoint_every=2 || true
    "$MW/metarl" evaluate "$run" --split train --tasks 10 --rollouts 2
    cp "$run/evaluation.json" "$RESULTS/metaworld_ml10_rl2_train.json"
    "$MW/metarl" evaluate "$run" --tasks 20 --rollouts 2
    cp "$run/evaluation.json" "$RESULTS/metaworld_ml10_rl2_test.json"
    cp "$run/metrics.jsonl" "$RESULTS/metaworld_ml10_rl2_metrics.jsonl"
fi

if want rl2; then
    # docs/bench_rl2.md: the CueBandit memory diagnostic (3 seeds, about 30 s each), then RL² on
    # Navigation2D: 30 iterations (MAML's 1.2 M-step budget), copied, then continued for 50
    # minutes in all; both evaluated on the 40 held-out goals of the MAML numbers.
    export OMP_NUM_THREADS=1
    "$BIN/python" experiments/benchmarks/rl2_memory.py --out "$RESULTS/rl2_memory.json"
    run="$RUNS/navigation2d_rl2"
    "$BIN/metarl" train experiments/navigation2d_rl2.toml --iterations 30 --run-dir "$run" \
        --set env.threads=1 --set run.checkpoint_every=5
    cp -r "$run" "${run}_it30"
    timeout -s INT 2900 "$BIN/metarl" train --resume "$run" --iterations 2000 || true
    "$BIN/metarl" evaluate "${run}_it30"
    "$BIN/metarl" evaluate "$run"
    "$BIN/python" experiments/benchmarks/rl2_vs_maml.py --rl2 "${run}_it30" \
        --maml-result "$RESULTS/rl2_navigation2d_first_run.json" --out "$RESULTS/rl2_navigation2d_1m.json"
    "$BIN/python" experiments/benchmarks/rl2_vs_maml.py --rl2 "$run" \
        --maml-result "$RESULTS/navigation2d_maml.json" --out "$RESULTS/rl2_navigation2d_final.json"
    # HalfCheetahDir: RL² against MAML-TRPO at 6.4 M env steps each, 3 seeds, PPO at 6.41 M.
    for s in 0 1 2; do
        "$BIN/metarl" train experiments/halfcheetah_dir_rl2.toml --iterations 400 --seed "$s" \
            --run-dir "$RUNS/dir_rl2_s$s" --set env.horizon=100 --set env.threads=1
        "$BIN/metarl" train experiments/halfcheetah_dir_maml.toml --iterations 40 --seed "$s" \
            --run-dir "$RUNS/dir_maml_s$s" --set env.horizon=100 --set 'policy.hidden=[64, 64]' \
            --set trpo.fisher_fraction=1.0 --set env.threads=1
    done
    "$BIN/metarl" train experiments/halfcheetah_dir_ppo.toml --iterations 782 --run-dir "$RUNS/dir_ppo" \
        --set env.horizon=100 --set 'policy.hidden=[64, 64]'
    for s in 0 1 2; do
        "$BIN/metarl" evaluate "$RUNS/dir_rl2_s$s"
        "$BIN/metarl" evaluate "$RUNS/dir_maml_s$s" --steps 3 --tasks 40 --baseline "$RUNS/dir_ppo" \
            --set 'eval.inner_lr=[0.1, 0.05]' --set 'eval.baseline_lr_grid=[0.01, 0.05, 0.1, 0.2]'
    done
    "$BIN/python" experiments/benchmarks/rl2_vs_maml.py --rl2 "$RUNS"/dir_rl2_s{0,1,2} \
        --maml "$RUNS"/dir_maml_s{0,1,2} --out "$RESULTS/rl2_halfcheetah_dir.json"
fi
