#!/usr/bin/env bash
# Sharded full-sky `predict` and `mmf` as a Slurm job array, then one merge job.
#
#   sbatch --array=0-15 scripts/slurm-array.sh predict xcluster.toml     # 16 tasks, one shard each
#   sbatch --array=0-15 scripts/slurm-array.sh mmf xcluster.toml
#   # when every task has finished (or chain it: sbatch --dependency=afterok:<array job id> …):
#   sbatch scripts/slurm-array.sh predict-merge xcluster.toml
#   sbatch scripts/slurm-array.sh mmf-merge xcluster.toml
#
# Task i of N (N = SLURM_ARRAY_TASK_COUNT) searches the tiles t with t mod N = i of the 48 nside-2
# tiles and writes files/sightings.shard-i-of-N.parquet (predict) or
# files/mmf_sightings.shard-i-of-N.parquet (mmf) into the params file's output folder (shared
# storage: every task must see the same <path>/output/<dataset>/<date>/). The merge job stacks the
# shards and writes files/detections.{parquet,csv} or files/mmf_detections.{parquet,csv}: the same
# detections as one unsharded run (tests/it/compare.rs checks this for the matched filter, N = 3).
# `predict` needs the model trained by `xcluster train` with the same params file. Use at most 48
# tasks (more leave shards without a tile, which write empty sightings). Set
# merge_daily_output_directory = true (the default) so a job that runs past midnight keeps writing
# into the same dated folder.
#
# XCLUSTER: the binary (default: xcluster on PATH; e.g. target/release/xcluster).
#SBATCH --job-name=xcluster
#SBATCH --cpus-per-task=8
#SBATCH --mem=24G
#SBATCH --time=02:00:00
#SBATCH --output=xcluster-%A_%a.log
set -euo pipefail

what="${1:?usage: slurm-array.sh predict|mmf|predict-merge|mmf-merge PARAMS.toml}"
params="${2:?usage: slurm-array.sh predict|mmf|predict-merge|mmf-merge PARAMS.toml}"
bin="${XCLUSTER:-xcluster}"
# The sky is built (or read) per task: rayon uses the cores Slurm gave the task.
export RAYON_NUM_THREADS="${SLURM_CPUS_PER_TASK:-$(nproc)}"

case "$what" in
  predict | mmf)
    i="${SLURM_ARRAY_TASK_ID:?run with sbatch --array=0-(N-1)}"
    n="${SLURM_ARRAY_TASK_COUNT:?run with sbatch --array=0-(N-1)}"
    echo "task $i of $n: xcluster $what --full-sky --shard $i/$n"
    exec "$bin" --params "$params" "$what" --full-sky --shard "$i/$n"
    ;;
  predict-merge) exec "$bin" --params "$params" predict --merge ;;
  mmf-merge) exec "$bin" --params "$params" mmf --merge ;;
  *)
    echo "unknown step $what: predict, mmf, predict-merge or mmf-merge" >&2
    exit 2
    ;;
esac
