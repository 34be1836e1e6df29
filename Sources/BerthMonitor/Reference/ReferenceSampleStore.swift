import BerthEval

/// Where reference samples are kept: files in the data directory (``ReferenceStore``, one server
/// or replicas sharing the directory), or the replicas' shared PostgreSQL database.
public protocol ReferenceSampleStore: Sendable {
    /// Stores `csv` (checked by ``ReferenceStore/check(csv:label:source:)``) as the reference of
    /// `model`'s `version`, replacing any earlier one.
    @discardableResult
    func put(model: String, version: String, csv: [UInt8], label: String?) throws -> ReferenceInfo

    /// The reference of `model`'s `version`, or nil when none was stored; a sample replaced
    /// through another replica is seen at once (the parsed table is reused while its digest holds).
    func get(model: String, version: String) throws -> (table: Table, info: ReferenceInfo)?
}

extension ReferenceStore: ReferenceSampleStore {}
