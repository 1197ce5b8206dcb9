// ml-train: the whole public API. Start reading here, then run.h.
//
// Layers (docs/architecture.md draws them; each uses only layers below it):
//   core        config.h          Config, resolve_config(): defaults < file < flags <
//                                 overrides; the config table; ConfigSpec for a loop's own
//                                 config; canonical JSON and run_id
//               canonical_json.h  Python-compatible canonical JSON
//               error.h           mltrain::Error and exit codes
//               files.h           atomic files, JSON files, where the shipped data is
//               format.h          how tables show numbers and values
//   repro       rng.h             counter-based streams keyed by (seed, purpose, epoch, index)
//               seed.h            seed_everything(seed, deterministic)
//               env.h             environment_manifest()
//               kernels.h         the CPU kernels in use; the portable pin of deterministic runs
//               state_hash.h      sha256 of a model's state dict (matches the Python recipe),
//                                 of a tensor, of bytes and files (data fingerprints)
//               probe.h           module outputs for divergence localisation
//               torch_compat.h    what differs between the LibTorch releases ml-train builds on
//   data        data.h            readers (JSONL/CSV/TSV, gzip), tokenizer, vocabulary,
//                                 prepare_data()
//               loader.h          DeterministicLoader: batches independent of num_workers
//   models      models.h          bow / cnn / transformer classifiers
//   run         run.h             the Run API: run directory, trace, checkpoints, resume,
//                                 state hash, ranks, for any training loop
//               ranks.h           where a rank learns its place; Group (c10d); the launcher
//               shards.h          GradShards: gradients summed in shard order on any ranks
//               records.h         run directories read back (RunRecord)
//               layout.h          the name of every file ml-train writes
//   infer       infer.h           Predictor, predict_file(), evaluate_file(): a trained run used
//   train       train.h           train(): the built-in trainer, written on run.h
//               optim.h           FusedAdam: Adam/AdamW in one pass, thread-count invariant
//   experiment  experiment.h      verify, reproduce, diff, sweep, runs, report (no LibTorch)
#ifndef MLTRAIN_MLTRAIN_H_
#define MLTRAIN_MLTRAIN_H_

#include "mltrain/canonical_json.h"
#include "mltrain/config.h"
#include "mltrain/data.h"
#include "mltrain/env.h"
#include "mltrain/error.h"
#include "mltrain/experiment.h"
#include "mltrain/files.h"
#include "mltrain/format.h"
#include "mltrain/infer.h"
#include "mltrain/kernels.h"
#include "mltrain/layout.h"
#include "mltrain/loader.h"
#include "mltrain/models.h"
#include "mltrain/optim.h"
#include "mltrain/probe.h"
#include "mltrain/ranks.h"
#include "mltrain/records.h"
#include "mltrain/rng.h"
#include "mltrain/run.h"
#include "mltrain/seed.h"
#include "mltrain/shards.h"
#include "mltrain/state_hash.h"
#include "mltrain/torch_compat.h"
#include "mltrain/train.h"

#endif  // MLTRAIN_MLTRAIN_H_
