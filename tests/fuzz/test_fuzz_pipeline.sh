#!/usr/bin/env bash
# Fuzz the pipeline parser (arca_pipeline_parse, plan, substitute) with
# libFuzzer for ARCA_FUZZ_SECONDS (default 60): tests/fuzz/fuzz_pipeline.c
# on the seed corpus tests/fuzz/corpus/pipeline/, built and run by
# tests/fuzz/fuzz_run.sh (which documents the environment).
exec bash "$(dirname "${BASH_SOURCE[0]}")/fuzz_run.sh" pipeline
