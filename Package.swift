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
        .library(name: "BerthEval", targets: ["BerthEval"]),
        .library(name: "BerthRegistry", targets: ["BerthRegistry"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-protobuf", from: "1.39.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-crypto", from: "4.5.2"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
    ],
    targets: [
        .systemLibrary(
            name: "COpenBLAS",
            path: "Sources/COpenBLAS",
            providers: [.apt(["libopenblas-dev"])]
        ),
        .target(
            name: "BerthTensor",
            dependencies: []
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
                "BerthTensor",
                "BerthONNX",
                .product(name: "Logging", package: "swift-log"),
            ],
            // Kernels share raw buffers across the intra-op pool; Swift 5 mode keeps those loops
            // free of Sendable ceremony while the public API stays Sendable-annotated.
            swiftSettings: [.swiftLanguageMode(.v5)]
        ),
        .target(
            name: "BerthEval",
            dependencies: ["BerthTensor", "BerthONNX", "BerthEngine"]
        ),
        .target(
            name: "BerthRegistry",
            dependencies: [
                "BerthONNX",
                "BerthEval",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .target(
            name: "BerthServer",
            dependencies: [
                "BerthEngine",
                "BerthRegistry",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ]
        ),
        .executableTarget(
            name: "berth",
            dependencies: [
                "BerthEngine",
                "BerthServer",
                "BerthEval",
                "BerthRegistry",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(name: "BerthTensorTests", dependencies: ["BerthTensor"]),
        .testTarget(name: "BerthONNXTests", dependencies: ["BerthONNX"]),
        .testTarget(name: "BerthEngineTests", dependencies: ["BerthEngine", "BerthONNX"]),
        .testTarget(name: "BerthEvalTests", dependencies: ["BerthEval", "BerthTensor", "BerthONNX"]),
        .testTarget(
            name: "BerthRegistryTests",
            dependencies: [
                "BerthRegistry",
                "BerthEval",
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
                "BerthRegistry",
                "BerthONNX",
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
            ]
        ),
    ]
)
