// ml-train: the whole public API. Start reading here.
//
//   config.h          Config, resolve_config(): defaults < file < flags < overrides,
//                     canonical JSON and run_id
//   canonical_json.h  Python-compatible canonical JSON
//   seed.h            seed_everything(seed, deterministic)
//   rng.h             counter-based streams keyed by (seed, purpose, epoch, index)
//   data.h            readers (JSONL/CSV/TSV, gzip), tokenizer, vocabulary, prepare_data()
//   loader.h          DeterministicLoader: batches independent of num_workers
//   models.h          bow / cnn / transformer classifiers
//   trainer.h         train(): a config into a complete run directory
//   state_hash.h      sha256 of a model's state dict (matches the Python recipe)
//   env.h             environment_manifest()
//   compare.h         verify(), reproduce(), diff_runs()
//   sweep.h           sweep(): seeds x hyperparameters, mean +- std
//   report.h          render_report(): HTML for a run or a sweep
//   error.h           mltrain::Error and exit codes
//   hash.h, fs.h      SHA helpers, atomic files
#ifndef MLTRAIN_MLTRAIN_H_
#define MLTRAIN_MLTRAIN_H_

#include "mltrain/canonical_json.h"
#include "mltrain/compare.h"
#include "mltrain/config.h"
#include "mltrain/data.h"
#include "mltrain/env.h"
#include "mltrain/error.h"
#include "mltrain/fs.h"
#include "mltrain/hash.h"
#include "mltrain/loader.h"
#include "mltrain/models.h"
#include "mltrain/report.h"
#include "mltrain/rng.h"
#include "mltrain/seed.h"
#include "mltrain/state_hash.h"
#include "mltrain/sweep.h"
#include "mltrain/trainer.h"

#endif  // MLTRAIN_MLTRAIN_H_
