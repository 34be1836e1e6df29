// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "Berth",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "berth", targets: ["berth"]),
        .library(name: "BerthEngine", targets: ["BerthEngine"]),
        .library(name: "BerthTensor", targets: ["BerthTensor"]),
        .library(name: "BerthONNX", targets: ["BerthONNX"]),
        .library(name: "BerthProtocol", targets: ["BerthProtocol"]),
        .library(name: "BerthEval", targets: ["BerthEval"]),
        .library(name: "BerthRegistry", targets: ["BerthRegistry"]),
        .library(name: "BerthMonitor", targets: ["BerthMonitor"]),
        .library(name: "BerthOptimize", targets: ["BerthOptimize"]),
        .library(name: "BerthGenerate", targets: ["BerthGenerate"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-protobuf", from: "1.39.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.8.0"),
        .package(url: "https://github.com/apple/swift-nio-extras", from: "1.35.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-crypto", from: "4.5.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
        .package(url: "https://github.com/vapor/jwt-kit", from: "5.8.0"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/grpc/grpc-swift-2", from: "2.4.3"),
        .package(url: "https://github.com/grpc/grpc-swift-nio-transport", from: "2.9.2"),
        .package(url: "https://github.com/grpc/grpc-swift-protobuf", from: "2.4.1"),
        // The fast gRPC transport (Sources/BerthServer/GRPC/FastTransport): HTTP/2 frames without per-stream channels.
        .package(url: "https://github.com/apple/swift-nio-http2", from: "1.46.0"),
        // Traces: spans through swift-distributed-tracing, exported over OTLP by swift-otel (berth serve --otel-endpoint).
        .package(url: "https://github.com/apple/swift-distributed-tracing", from: "1.7.3"),
        .package(url: "https://github.com/swift-otel/swift-otel", from: "1.6.0"),
        // The shared registry of replicas (--registry-url postgres://…): PostgresRegistry.
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.33.2"),
    ],
    targets: [
        .systemLibrary(
            name: "COpenBLAS",
            path: "Sources/COpenBLAS",
            providers: [.apt(["libopenblas-dev"])]
        ),
        // oneDNN 2.x (Debian libdnnl-dev) for Conv; the engine falls back to im2col + OpenBLAS without it.
        .systemLibrary(
            name: "CDNNL",
            path: "Sources/CDNNL",
            providers: [.apt(["libdnnl-dev"])]
        ),
        .target(
            name: "BerthTensor",
            dependencies: []
        ),
        .target(
            name: "BerthProtocol",
            dependencies: [
                "BerthTensor",
                .product(name: "NIOCore", package: "swift-nio"),
            ]
        ),
        .target(
            name: "BerthONNX",
            dependencies: [
                "BerthTensor",
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
            ]
        ),
        .target(
            name: "BerthEngine",
            dependencies: [
                "COpenBLAS",
                .target(name: "CDNNL", condition: .when(platforms: [.linux])),
                "CInt8Kernels",
                "CFloatKernels",
                "CThreadPlacement",
                "CVectorMath",
                "BerthTensor",
                "BerthONNX",
                .product(name: "Logging", package: "swift-log"),
            ],
            // Kernels share raw buffers across the intra-op pool; Swift 5 mode keeps those loops
            // free of Sendable ceremony while the public API stays Sendable-annotated.
            swiftSettings: [.swiftLanguageMode(.v5)]
        ),
        // Compression written back as standard ONNX: quantization (and later pruning, graph passes).
        .target(
            name: "BerthOptimize",
            dependencies: ["BerthONNX", "BerthTensor", "BerthEngine", "COpenBLAS", .product(name: "SwiftProtobuf", package: "swift-protobuf")]
        ),
        // Quantized dot kernels in ggml's block layouts (AVX2 / AVX-512 VNNI picked at run time, scalar
        // fallback elsewhere); -O3 even in debug builds, or generation tests crawl.
        .target(name: "CGGMLKernels", cSettings: [.unsafeFlags(["-O3"])]),
        // DynamicQuantizeLinear's sweeps in AVX-512 / AVX2 picked at run time (the engine's int8 matmuls).
        .target(name: "CInt8Kernels", cSettings: [.unsafeFlags(["-O3"])]),
        // Softmax and LayerNormalization rows in AVX-512 / AVX2 picked at run time (Swift SIMD is SSE2 here).
        .target(name: "CVectorMath", cSettings: [.unsafeFlags(["-O3"])]),
        // The batch-1 row product over a packed weight, AVX-512 picked at run time (the engine's Gemm / MatMul).
        .target(name: "CFloatKernels", cSettings: [.unsafeFlags(["-O3"])]),
        // The intra-op pool's thread placement (sched_getcpu, pthread affinity) for Swift.
        .target(name: "CThreadPlacement"),
        // Text generation: GGUF reader, LLaMA-family forward, tokenizer, chat template, sampler,
        // paged KV cache and the continuous-batching engine.
        .target(
            name: "BerthGenerate",
            dependencies: ["CGGMLKernels", .product(name: "Logging", package: "swift-log")],
            // Like BerthEngine: hot loops share raw buffers across the worker threads.
            swiftSettings: [.swiftLanguageMode(.v5)]
        ),
        // Metric gates, shared by berth eval and registry promotions without the engine.
        .target(name: "BerthGate"),
        .target(
            name: "BerthEval",
            dependencies: ["BerthTensor", "BerthONNX", "BerthEngine", "BerthGate"]
        ),
        // Drift statistics, performance estimation, the prediction log and alert rules (no HTTP, no registry).
        .target(
            name: "BerthMonitor",
            dependencies: [
                "BerthTensor", "BerthProtocol", "BerthEval", "BerthEngine", "BerthGate",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Yams", package: "Yams"),
            ]
        ),
        .target(
            name: "BerthRegistry",
            dependencies: [
                "BerthONNX",
                "BerthProtocol",
                "BerthGate",
                "BerthGenerate",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                // TLS to PostgreSQL (?sslmode=require|verify-full in --registry-url).
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ]
        ),
        .target(
            name: "BerthServer",
            dependencies: [
                "BerthEngine",
                "BerthONNX",
                "BerthTensor",
                "BerthProtocol",
                "BerthRegistry",
                "BerthMonitor",
                "BerthGate",
                "BerthGenerate",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOCertificateReloading", package: "swift-nio-extras"),
                .product(name: "JWTKit", package: "jwt-kit"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                // The gRPC adapter (Sources/BerthServer/GRPC): its protobuf code is generated once
                // by scripts/generate_grpc.sh and committed, so no build compiles protoc.
                .product(name: "GRPCCore", package: "grpc-swift-2"),
                .product(name: "GRPCNIOTransportHTTP2Posix", package: "grpc-swift-nio-transport"),
                .product(name: "GRPCProtobuf", package: "grpc-swift-protobuf"),
                .product(name: "NIOHTTP2", package: "swift-nio-http2"),
                .product(name: "NIOHPACK", package: "swift-nio-http2"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOExtras", package: "swift-nio-extras"),
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
                // Monitoring state shared by replicas (Monitor/Shared) in the registry's database.
                .product(name: "PostgresNIO", package: "postgres-nio"),
            ],
            resources: [.copy("Resources/openapi.json"), .copy("Resources/dashboard")]
        ),
        .executableTarget(
            name: "berth",
            dependencies: [
                "BerthTensor",
                "BerthONNX",
                "BerthProtocol",
                "BerthEngine",
                "BerthServer",
                "BerthEval",
                "BerthGate",
                "BerthRegistry",
                "BerthMonitor",
                "BerthOptimize",
                "BerthGenerate",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "OTel", package: "swift-otel"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
            ]
        ),
        // The JSON codec A/B of bench/RESULTS.md; built only when asked for (--product berth-codec-bench).
        .executableTarget(
            name: "berth-codec-bench",
            dependencies: ["BerthProtocol", "BerthTensor", .product(name: "NIOCore", package: "swift-nio")],
            path: "bench/CodecBench"
        ),
        // BerthGenerate's prefill / decode tokens/s for bench/llm_vs_llamacpp.py; built only when asked for.
        .executableTarget(name: "berth-llm-bench", dependencies: ["BerthGenerate"], path: "bench/LLMBench"),
        // libFuzzer harnesses for the ONNX reader and the V2 request decoder (docs/security.md):
        // built with -DFUZZING -sanitize=fuzzer,address by scripts/fuzz.sh; without them, a corpus replayer.
        .target(name: "CBerthFuzz", path: "Fuzz/CShim"),
        .executableTarget(
            name: "berth-fuzz",
            dependencies: ["BerthONNX", "BerthProtocol", "BerthTensor", "CBerthFuzz", .product(name: "NIOCore", package: "swift-nio")],
            path: "Fuzz/Sources"
        ),
        // One ONNX test-model builder and one live-server harness for every test target.
        .target(
            name: "BerthTestSupport",
            dependencies: [
                "BerthONNX",
                "BerthTensor",
                "BerthServer",
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Tests/BerthTestSupport"
        ),
        .testTarget(name: "BerthTensorTests", dependencies: ["BerthTensor"]),
        .testTarget(name: "BerthONNXTests", dependencies: ["BerthONNX"]),
        .testTarget(
            name: "BerthProtocolTests",
            dependencies: ["BerthProtocol", "BerthTensor", .product(name: "NIOCore", package: "swift-nio")]
        ),
        .testTarget(name: "BerthEngineTests", dependencies: ["BerthEngine", "BerthONNX", "BerthTensor", "BerthTestSupport", "CInt8Kernels", "CThreadPlacement", "CVectorMath"]),
        .testTarget(name: "BerthGateTests", dependencies: ["BerthGate"]),
        .testTarget(name: "BerthGenerateTests", dependencies: ["BerthGenerate", "CGGMLKernels"]),
        .testTarget(name: "BerthOptimizeTests", dependencies: ["BerthOptimize", "BerthONNX", "BerthEngine", "BerthTensor", "BerthTestSupport"]),
        .testTarget(name: "BerthEvalTests", dependencies: ["BerthEval", "BerthGate", "BerthTensor", "BerthONNX"]),
        .testTarget(name: "BerthMonitorTests", dependencies: ["BerthMonitor", "BerthEval", "BerthTensor"]),
        .testTarget(
            name: "BerthRegistryTests",
            dependencies: [
                "BerthRegistry",
                "BerthTestSupport",
                "BerthGate",
                "BerthONNX",
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "GRDB", package: "GRDB.swift"),
            ]
        ),
        .testTarget(
            name: "BerthServerTests",
            dependencies: [
                "BerthServer",
                "BerthMonitor",
                "BerthTestSupport",
                "BerthProtocol",
                "BerthEngine",
                "BerthEval",
                "BerthTensor",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Hummingbird", package: "hummingbird"),
                "BerthRegistry",
                "BerthGate",
                "BerthONNX",
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                // FastGRPCTransportTests: grpc-swift's own client against both gRPC transports.
                .product(name: "GRPCCore", package: "grpc-swift-2"),
                .product(name: "GRPCNIOTransportHTTP2Posix", package: "grpc-swift-nio-transport"),
            ]
        ),
    ]
)
