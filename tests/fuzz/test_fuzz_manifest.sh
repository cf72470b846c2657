#!/usr/bin/env bash
# Fuzz the manifest JSON parser (arca_manifest_from_json and its round
# trip) with libFuzzer for ARCA_FUZZ_SECONDS (default 60):
# tests/fuzz/fuzz_manifest.c on the seed corpus
# tests/fuzz/corpus/manifest/, built and run by tests/fuzz/fuzz_run.sh
# (which documents the environment).
exec bash "$(dirname "${BASH_SOURCE[0]}")/fuzz_run.sh" manifest
