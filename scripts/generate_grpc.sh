#!/usr/bin/env bash
# Regenerates Sources/BerthServer/GRPC/Generated/ from proto/inference/grpc_service.proto.
# Run by hand when the proto changes, never in CI: the generated code is committed so no build
# compiles protoc or its plugins.
#
# Needs: protoc (Debian `protobuf-compiler`) and the two plugins, built OUTSIDE this repo so the
# repo's own build never compiles them:
#   mkdir -p /tmp/grpc-plugins/Dummy && cd /tmp/grpc-plugins && touch Dummy/d.swift
#   a Package.swift depending on apple/swift-protobuf from 1.39.0 and grpc/grpc-swift-protobuf
#   from 2.4.1 (target Dummy), then
#   swift build --product protoc-gen-swift && swift build --product protoc-gen-grpc-swift-2
# Set PLUGINS to the folder holding them (default /tmp/grpc-plugins/.build/debug).
# With EXTRACT=1 it first rewrites the .proto from tritonclient's descriptor
# (scripts/extract_grpc_proto.py; needs tritonclient[grpc] in PYTHON's environment).
set -euo pipefail
cd "$(dirname "$0")/.."
PLUGINS="${PLUGINS:-/tmp/grpc-plugins/.build/debug}"
OUT=Sources/BerthServer/GRPC/Generated
if [[ "${EXTRACT:-0}" == 1 ]]; then
    "${PYTHON:-.venv/bin/python}" scripts/extract_grpc_proto.py > proto/inference/grpc_service.proto
fi
mkdir -p "$OUT"
protoc -I proto \
    --plugin=protoc-gen-swift="$PLUGINS/protoc-gen-swift" \
    --plugin=protoc-gen-grpc-swift="$PLUGINS/protoc-gen-grpc-swift-2" \
    --swift_out="$OUT" --swift_opt=Visibility=Internal \
    --grpc-swift_out="$OUT" --grpc-swift_opt=Visibility=Internal,Client=true,Server=true \
    proto/inference/grpc_service.proto
echo "generated: $(ls "$OUT")"
