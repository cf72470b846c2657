#!/usr/bin/env bash
# Fuzz the config.yaml reader (arca_options_resolve) with libFuzzer for
# ARCA_FUZZ_SECONDS (default 60): tests/fuzz/fuzz_config.c on the seed
# corpus tests/fuzz/corpus/config/, built and run by
# tests/fuzz/fuzz_run.sh (which documents the environment).
exec bash "$(dirname "${BASH_SOURCE[0]}")/fuzz_run.sh" config
