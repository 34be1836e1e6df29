#!/usr/bin/env bash
# Regenerates Sources/BerthServer/GRPC/Generated/ from proto/inference/grpc_service.proto, and
# Sources/BerthServer/Repository/Generated/ (Triton's config.pbtxt schema, messages only) from
# proto/inference/model_config.proto.
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
# (scripts/extract_grpc_proto.py; needs tritonclient[grpc] in PYTHON's environment), and the
# model_config .proto from tritonclient's model_config_pb2 descriptor.
set -euo pipefail
cd "$(dirname "$0")/.."
PLUGINS="${PLUGINS:-/tmp/grpc-plugins/.build/debug}"
OUT=Sources/BerthServer/GRPC/Generated
if [[ "${EXTRACT:-0}" == 1 ]]; then
    "${PYTHON:-.venv/bin/python}" scripts/extract_grpc_proto.py > proto/inference/grpc_service.proto
    "${PYTHON:-.venv/bin/python}" scripts/extract_grpc_proto.py model_config > proto/inference/model_config.proto
fi
mkdir -p "$OUT"
protoc -I proto \
    --plugin=protoc-gen-swift="$PLUGINS/protoc-gen-swift" \
    --plugin=protoc-gen-grpc-swift="$PLUGINS/protoc-gen-grpc-swift-2" \
    --swift_out="$OUT" --swift_opt=Visibility=Internal \
    --grpc-swift_out="$OUT" --grpc-swift_opt=Visibility=Internal,Client=true,Server=true \
    proto/inference/grpc_service.proto
CONFIG_OUT=Sources/BerthServer/Repository/Generated
mkdir -p "$CONFIG_OUT"
protoc -I proto \
    --plugin=protoc-gen-swift="$PLUGINS/protoc-gen-swift" \
    --swift_out="$CONFIG_OUT" --swift_opt=Visibility=Internal \
    proto/inference/model_config.proto
echo "generated: $(ls "$OUT"/* "$CONFIG_OUT"/*)"
