import NIOCore

/// Runs a call's handler task on its connection's event loop, so the request parts it reads are
/// already there and the response parts it writes leave in one flush after it yields the loop,
/// with no thread hand-off either way. (NIO's event loops are serial executors, not task executors.)
final class FastGRPCLoopExecutor: TaskExecutor, @unchecked Sendable {
    let loop: any EventLoop

    init(loop: any EventLoop) { self.loop = loop }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        loop.execute { job.runSynchronously(on: self.asUnownedTaskExecutor()) }
    }
}
