#if canImport(CDNNL)
import CDNNL
import Foundation

// Making and destroying a oneDNN memory object costs 0.13 µs of CPU, a stream 0.04 µs, pointing an
// existing memory object at new data 6 ns (thread CPU time, oneDNN 2.6.3; a relu over 25k floats
// takes 0.75 µs). A small model runs a few dozen primitives of a few µs each per call, with four or
// five arguments each, so the objects are kept per primitive and caller instead of made per call.

extension DNNL {
    /// One caller's stream and memory objects for one primitive, kept between calls and pointed at
    /// each call's buffers.
    final class Binding {
        let stream: dnnl_stream_t
        private var args: [Int32] = []
        private var mds: [dnnl_memory_desc_t] = []
        private var memories: [dnnl_memory_t?] = []
        private var handles: [UnsafeMutableRawPointer?] = []

        init(engine: dnnl_engine_t) throws {
            var s: dnnl_stream_t?
            try check(dnnl_stream_create(&s, engine, UInt32(dnnl_stream_default_flags.rawValue)), "stream_create")
            guard let s else { throw Failure(call: "stream_create", status: 0) }
            stream = s
        }

        deinit {
            for m in memories { dnnl_memory_destroy(m) }
            dnnl_stream_destroy(stream)
        }

        /// The execution arguments for `list`, reusing the memory object of a position whose
        /// argument and layout are unchanged (only its data pointer is set, and only when it moved).
        func bind(_ list: [(Int32, dnnl_memory_desc_t, UnsafeMutableRawPointer)], engine: dnnl_engine_t) throws -> [dnnl_exec_arg_t] {
            var exec: [dnnl_exec_arg_t] = []
            exec.reserveCapacity(list.count)
            for (i, (arg, md, ptr)) in list.enumerated() {
                let same = i < memories.count && args[i] == arg && DNNL.bytesEqual(mds[i], md)
                exec.append(try bind(position: i, arg: arg, ptr: ptr, reuse: same, engine: engine) { md })
            }
            return exec
        }

        /// The execution arguments for `list` (argument id → buffer), each laid out as `pd` has it
        /// for that argument: a position whose argument is unchanged keeps its memory object (only
        /// its data pointer is set, and only when it moved); a new one takes its layout from `pd`.
        /// No descriptor is copied or compared per call (each is 1.3 kB: copying and comparing them
        /// was a tenth of a chain of small convolutions).
        func bind(_ list: [(Int32, UnsafeMutableRawPointer)], pd: dnnl_primitive_desc_t, engine: dnnl_engine_t) throws -> [dnnl_exec_arg_t] {
            var exec: [dnnl_exec_arg_t] = []
            exec.reserveCapacity(list.count)
            for (i, (arg, ptr)) in list.enumerated() {
                exec.append(try bind(position: i, arg: arg, ptr: ptr, reuse: i < memories.count && args[i] == arg, engine: engine) {
                    guard let md = dnnl_primitive_desc_query_md(pd, dnnl_query_exec_arg_md, arg)?.pointee else {
                        throw Failure(call: "primitive_desc_query_md exec_arg \(arg)", status: 0)
                    }
                    return md
                })
            }
            return exec
        }

        /// Position `i`'s argument: its memory object pointed at `ptr` when `reuse`, else a new
        /// one laid out as `layout()` replacing (or appended after) what the position held.
        private func bind(position i: Int, arg: Int32, ptr: UnsafeMutableRawPointer, reuse: Bool, engine: dnnl_engine_t,
                          layout: () throws -> dnnl_memory_desc_t) throws -> dnnl_exec_arg_t {
            if reuse {
                if handles[i] != ptr {
                    try check(dnnl_memory_set_data_handle(memories[i], ptr), "memory_set_data_handle")
                    handles[i] = ptr
                }
            } else {
                let md = try layout()
                var m: dnnl_memory_t?
                var d = md
                try check(dnnl_memory_create(&m, &d, engine, ptr), "memory_create")
                if i < memories.count {
                    dnnl_memory_destroy(memories[i])
                    (memories[i], args[i], mds[i], handles[i]) = (m, arg, md, ptr)
                } else {
                    memories.append(m)
                    args.append(arg)
                    mds.append(md)
                    handles.append(ptr)
                }
            }
            return dnnl_exec_arg_t(arg: arg, memory: memories[i])
        }
    }

    /// The bindings of one primitive not in use right now: a caller takes one (or makes one when
    /// all are busy: concurrent calls each get their own stream and memory objects) and gives it back.
    final class BindingPool: @unchecked Sendable {
        private let lock = NSLock()
        private var idle: [Binding] = []
        /// Bindings kept idle at most (one per thread that ran the primitive at once, in practice).
        private static let maxIdle = 8
        /// `BERTH_DNNL_REUSE=0` makes a stream and memory objects per call, as before (A/B measurements).
        static let reuse = ProcessInfo.processInfo.environment["BERTH_DNNL_REUSE"] != "0"

        /// Runs `primitive` with `args` (oneDNN argument id → layout → buffer) and waits.
        func execute(_ primitive: dnnl_primitive_t, _ args: [(Int32, dnnl_memory_desc_t, UnsafeMutableRawPointer)]) throws {
            try execute(primitive) { b, engine in try b.bind(args, engine: engine) }
        }

        /// Runs `primitive` (made from `pd`) with `args` (oneDNN argument id → buffer, each in the
        /// primitive's own layout for it) and waits.
        func execute(_ primitive: dnnl_primitive_t, pd: dnnl_primitive_desc_t, _ args: [(Int32, UnsafeMutableRawPointer)]) throws {
            try execute(primitive) { b, engine in try b.bind(args, pd: pd, engine: engine) }
        }

        private func execute(_ primitive: dnnl_primitive_t, bind: (Binding, dnnl_engine_t) throws -> [dnnl_exec_arg_t]) throws {
            guard let engine = DNNL.engine else { throw Failure(call: "engine_create", status: 0) }
            lock.lock()
            let taken = idle.popLast()
            lock.unlock()
            let b = try taken ?? Binding(engine: engine)
            let exec = try bind(b, engine)
            try check(dnnl_primitive_execute(primitive, b.stream, Int32(exec.count), exec), "primitive_execute")
            try check(dnnl_stream_wait(b.stream), "stream_wait")
            guard Self.reuse else { return }
            lock.lock()
            if idle.count < Self.maxIdle { idle.append(b) }
            lock.unlock()
        }
    }

    /// True when two descriptors have the same bytes (oneDNN zero-fills the descriptors it makes).
    static func bytesEqual(_ a: dnnl_memory_desc_t, _ b: dnnl_memory_desc_t) -> Bool {
        withUnsafeBytes(of: a) { x in withUnsafeBytes(of: b) { y in memcmp(x.baseAddress!, y.baseAddress!, x.count) == 0 } }
    }
}
#endif
