/// A request that breaks the Open Inference Protocol or does not fit the model: malformed JSON,
/// an unknown input, a wrong datatype or shape, a size that does not match the bytes sent.
/// Always the caller's fault (HTTP 400, gRPC `INVALID_ARGUMENT`).
public struct V2RequestError: Error, CustomStringConvertible, Sendable, Equatable {
    /// What is wrong, naming the input and the values involved.
    public var message: String

    /// An error with its message.
    public init(_ message: String) { self.message = message }

    public var description: String { message }
}
