import Foundation

/// Files shipped in the server's resource bundle (the OpenAPI document, the dashboard page).
enum ServerResources {
    /// The bytes of `Resources/<path>`; nil when the bundle is not installed beside the binary.
    static func data(_ path: String) -> Data? {
        guard let root = bundleURL else { return nil }
        // Resources are copied into the bundle as they are; SwiftPM may put them at its root or under Resources.
        for base in [root, root.appendingPathComponent("Resources")] {
            if let d = try? Data(contentsOf: base.appendingPathComponent(path)) { return d }
        }
        return nil
    }

    /// The resource bundle SwiftPM builds beside the binary (and the test bundle). Looked up by
    /// hand: SwiftPM's `Bundle.module` stops the process when the bundle is missing, and a
    /// missing file must not take the server down.
    static let bundleURL: URL? = {
        let name = "Berth_BerthServer.resources"
        let code = Bundle(for: BundleToken.self).bundleURL
        let places = [Bundle.main.bundleURL, code, code.deletingLastPathComponent(),
                      URL(fileURLWithPath: CommandLine.arguments.first ?? "").resolvingSymlinksInPath().deletingLastPathComponent()]
        return places.map { $0.appendingPathComponent(name) }.first { FileManager.default.fileExists(atPath: $0.path) }
    }()

    private final class BundleToken {}
}
