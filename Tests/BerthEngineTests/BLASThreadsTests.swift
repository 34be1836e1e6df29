@testable import BerthEngine
import XCTest

/// OpenBLAS's thread count is process state: it is set once, and a session asking for another
/// count does not change it under sessions that are running.
final class BLASThreadsTests: XCTestCase {
    func testThreadCountIsSetOnceAndRunsDoNotChangeIt() throws {
        let first = BLAS.configureThreads(3)
        XCTAssertEqual(BLAS.configureThreads(first + 1), first)
        let session = try Session(data: TestModels.model(nodes: [TestModels.node("Relu", ["X"], ["Y"])]).serializedData(),
                                  options: SessionOptions(intraOpThreads: first + 2))
        _ = try session.run(try session.sampleInputs())
        XCTAssertEqual(BLAS.configureThreads(1), first)
    }
}
