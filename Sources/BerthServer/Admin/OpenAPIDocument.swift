import Foundation

/// The admin API's OpenAPI 3.1 document, served at `GET /api/v1/openapi.json`. The document is
/// the resource file `Resources/openapi.json` (edit it there; OpenAPIDocumentTests checks that
/// it lists exactly the routes ``AdminRoutes`` registers).
enum OpenAPIDocument {
    /// The document's bytes, read from the module's resource bundle on first use; nil when the
    /// bundle lacks the file.
    static let data: Data? = Bundle.module.url(forResource: "openapi", withExtension: "json").flatMap { try? Data(contentsOf: $0) }
}
