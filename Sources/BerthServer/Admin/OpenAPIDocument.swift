import Foundation

/// The admin API's OpenAPI 3.1 document, served at `GET /api/v1/openapi.json`. The document is
/// the resource file `Resources/openapi.json` (edit it there; OpenAPIDocumentTests checks that
/// it lists exactly the routes ``AdminRoutes`` registers).
enum OpenAPIDocument {
    /// The document's bytes, read on first use; nil when the resource bundle is not installed
    /// beside the binary.
    static let data: Data? = ServerResources.data("openapi.json")
}
