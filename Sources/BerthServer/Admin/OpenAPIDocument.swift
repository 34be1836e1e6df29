import Foundation

/// The admin API's OpenAPI 3.1 document, served at `GET /api/v1/openapi.json`. The document is
/// the resource file `Resources/openapi.json` (edit it there; OpenAPIDocumentTests checks that
/// it lists exactly the routes ``AdminRoutes`` registers).
enum OpenAPIDocument {
    /// The document's bytes, read on first use; nil when the resource bundle is not installed
    /// beside the binary.
    static let data: Data? = bundleURL.flatMap { Bundle(url: $0)?.url(forResource: "openapi", withExtension: "json") }
        .flatMap { try? Data(contentsOf: $0) }

    /// The resource bundle SwiftPM builds beside the binary (and the test bundle). Looked up by
    /// hand: SwiftPM's `Bundle.module` stops the process when the bundle is missing, and a
    /// missing document must not take the server down.
    static var bundleURL: URL? {
        let name = "Berth_BerthServer.resources"
        let code = Bundle(for: BundleToken.self).bundleURL
        let places = [Bundle.main.bundleURL, code, code.deletingLastPathComponent(),
                      URL(fileURLWithPath: CommandLine.arguments.first ?? "").deletingLastPathComponent()]
        return places.map { $0.appendingPathComponent(name) }.first { FileManager.default.fileExists(atPath: $0.path) }
    }

    private final class BundleToken {}
}
