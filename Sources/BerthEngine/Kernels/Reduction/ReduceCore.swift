import BerthTensor
import Foundation

/// One reduction: `finish(fold(combine, initial, map(x - shift)), count, shift)`, accumulated in
/// Double whatever the element type (sums of many float32 values cancel badly otherwise).
/// `combine` must be associative so partial accumulators can be merged. `shift` is 0 except for
/// LogSumExp, which subtracts the maximum to avoid overflow.
protocol RFOp {
    static var initial: Double { get }
    static func map(_ x: Double) -> Double
    static func combine(_ a: Double, _ b: Double) -> Double
    static func finish(_ acc: Double, count: Int, shift: Double) -> Double
    /// Row folds use `fastCombine` (no NaN test, so it pipelines) and then scan the row for NaN.
    static var fastNaN: Bool { get }
    static func fastCombine(_ a: Double, _ b: Double) -> Double
}
extension RFOp {
    @inline(__always) static var fastNaN: Bool { false }
    @inline(__always) static func fastCombine(_ a: Double, _ b: Double) -> Double { combine(a, b) }
    @inline(__always) static func map(_ x: Double) -> Double { x }
    @inline(__always) static func combine(_ a: Double, _ b: Double) -> Double { a + b }
    @inline(__always) static var initial: Double { 0 }
    @inline(__always) static func finish(_ acc: Double, count: Int, shift: Double) -> Double { acc }
}

enum RFSum: RFOp {}
enum RFMean: RFOp {
    @inline(__always) static func finish(_ acc: Double, count: Int, shift: Double) -> Double { acc / Double(count) }
}
enum RFMax: RFOp {
    @inline(__always) static var initial: Double { -.infinity }
    // NaN wins, so it propagates like ONNX Runtime.
    @inline(__always) static func combine(_ a: Double, _ b: Double) -> Double { (a > b || a.isNaN) ? a : b }
    @inline(__always) static var fastNaN: Bool { true }
    @inline(__always) static func fastCombine(_ a: Double, _ b: Double) -> Double { a > b ? a : b }
}
enum RFMin: RFOp {
    @inline(__always) static var initial: Double { .infinity }
    @inline(__always) static func combine(_ a: Double, _ b: Double) -> Double { (a < b || a.isNaN) ? a : b }
    @inline(__always) static var fastNaN: Bool { true }
    @inline(__always) static func fastCombine(_ a: Double, _ b: Double) -> Double { a < b ? a : b }
}
enum RFProd: RFOp {
    @inline(__always) static var initial: Double { 1 }
    @inline(__always) static func combine(_ a: Double, _ b: Double) -> Double { a * b }
}
enum RFL1: RFOp {
    @inline(__always) static func map(_ x: Double) -> Double { abs(x) }
}
enum RFL2: RFOp {
    @inline(__always) static func map(_ x: Double) -> Double { x * x }
    @inline(__always) static func finish(_ acc: Double, count: Int, shift: Double) -> Double { acc.squareRoot() }
}
enum RFSumSquare: RFOp {
    @inline(__always) static func map(_ x: Double) -> Double { x * x }
}
enum RFLogSum: RFOp {
    @inline(__always) static func finish(_ acc: Double, count: Int, shift: Double) -> Double { Foundation.log(acc) }
}
/// Second pass of LogSumExp: sums exp(x - max) and adds the max back after the log.
enum RFLogSumExpShifted: RFOp {
    @inline(__always) static func map(_ x: Double) -> Double { Foundation.exp(x) }
    @inline(__always) static func finish(_ acc: Double, count: Int, shift: Double) -> Double { Foundation.log(acc) + shift }
}

/// The element types the engine reads directly: Float (the hot path) and Double (everything else
/// is widened to Double first).
protocol RFFloat: BinaryFloatingPoint {
    var rfDouble: Double { get }
    init(rfDouble: Double)
}
extension Float: RFFloat {
    @inline(__always) var rfDouble: Double { Double(self) }
    @inline(__always) init(rfDouble v: Double) { self = Float(v) }
}
extension Double: RFFloat {
    @inline(__always) var rfDouble: Double { self }
    @inline(__always) init(rfDouble v: Double) { self = v }
}

/// The reduction engine over a collapsed layout: the input is viewed as [O, R, I] and reduced over R.
enum ReduceEngine {
    /// Reduces `x` viewed as [outer, r, inner] into `out` ([outer, inner]).
    static func run<A: RFFloat, Op: RFOp>(_: Op.Type, _ x: UnsafePointer<A>, outer: Int, r: Int, inner: Int,
                                         shift: UnsafePointer<Double>?, out: UnsafeMutablePointer<Double>, pool: ThreadPool) {
        if inner == 1 {
            rows(Op.self, x, outer: outer, r: r, shift: shift, out: out, pool: pool)
        } else {
            columns(Op.self, x, outer: outer, r: r, inner: inner, shift: shift, out: out, pool: pool)
        }
    }

    /// Contiguous rows: eight independent accumulators so the loop is not bound by add latency.
    @inline(__always)
    private static func foldRow<A: RFFloat, Op: RFOp>(_: Op.Type, _ p: UnsafePointer<A>, _ n: Int, _ sh: Double) -> Double {
        var a0 = Op.initial, a1 = Op.initial, a2 = Op.initial, a3 = Op.initial
        var a4 = Op.initial, a5 = Op.initial, a6 = Op.initial, a7 = Op.initial
        var i = 0
        while i + 8 <= n {
            a0 = Op.fastCombine(a0, Op.map(p[i].rfDouble - sh)); a1 = Op.fastCombine(a1, Op.map(p[i + 1].rfDouble - sh))
            a2 = Op.fastCombine(a2, Op.map(p[i + 2].rfDouble - sh)); a3 = Op.fastCombine(a3, Op.map(p[i + 3].rfDouble - sh))
            a4 = Op.fastCombine(a4, Op.map(p[i + 4].rfDouble - sh)); a5 = Op.fastCombine(a5, Op.map(p[i + 5].rfDouble - sh))
            a6 = Op.fastCombine(a6, Op.map(p[i + 6].rfDouble - sh)); a7 = Op.fastCombine(a7, Op.map(p[i + 7].rfDouble - sh))
            i += 8
        }
        while i < n { a0 = Op.fastCombine(a0, Op.map(p[i].rfDouble - sh)); i += 1 }
        let acc = Op.combine(Op.combine(Op.combine(a0, a1), Op.combine(a2, a3)), Op.combine(Op.combine(a4, a5), Op.combine(a6, a7)))
        if Op.fastNaN {
            var nan: UInt8 = 0
            for j in 0..<n { nan |= p[j] != p[j] ? 1 : 0 }
            if nan != 0 { return .nan }
        }
        return acc
    }

    private static func rows<A: RFFloat, Op: RFOp>(_: Op.Type, _ x: UnsafePointer<A>, outer: Int, r: Int,
                                                   shift: UnsafePointer<Double>?, out: UnsafeMutablePointer<Double>, pool: ThreadPool) {
        let split = 1 << 16
        if outer < pool.threads && r >= 2 * split {
            // Few long rows (e.g. reduce-all): split each row, then merge the partial accumulators.
            for o in 0..<outer {
                let sh = shift?[o] ?? 0
                let chunks = min(pool.threads * 4, r / split)
                var partial = [Double](repeating: Op.initial, count: chunks)
                partial.withUnsafeMutableBufferPointer { pp in
                    guard let pb = pp.baseAddress else { return }
                    pool.parallelFor(chunks) { range in
                        for c in range {
                            let lo = r * c / chunks, hi = r * (c + 1) / chunks
                            pb[c] = foldRow(Op.self, x + (o &* r &+ lo), hi - lo, sh)
                        }
                    }
                }
                let acc = partial.reduce(Op.initial) { Op.combine($0, $1) }
                out[o] = Op.finish(acc, count: r, shift: sh)
            }
            return
        }
        pool.parallelFor(outer, minChunk: max(1, 32768 / max(1, r))) { range in
            for o in range {
                let sh = shift?[o] ?? 0
                out[o] = Op.finish(foldRow(Op.self, x + o &* r, r, sh), count: r, shift: sh)
            }
        }
    }

    /// Reduction over a middle axis: accumulate whole inner rows so the inner loop vectorises.
    private static func columns<A: RFFloat, Op: RFOp>(_: Op.Type, _ x: UnsafePointer<A>, outer: Int, r: Int, inner: Int,
                                                      shift: UnsafePointer<Double>?, out: UnsafeMutablePointer<Double>, pool: ThreadPool) {
        let block = 512
        let blocks = (inner + block - 1) / block
        pool.parallelFor(outer &* blocks, minChunk: max(1, 32768 / max(1, r &* min(block, inner)))) { range in
            for unit in range {
                let o = unit / blocks, b = unit % blocks
                let lo = b * block, hi = min(inner, lo + block)
                let acc = out + o &* inner
                for i in lo..<hi { acc[i] = Op.initial }
                let sh = shift.map { $0.advanced(by: o &* inner) }
                for k in 0..<r {
                    let row = x + (o &* r &+ k) &* inner
                    if let sh {
                        for i in lo..<hi { acc[i] = Op.combine(acc[i], Op.map(row[i].rfDouble - sh[i])) }
                    } else {
                        for i in lo..<hi { acc[i] = Op.combine(acc[i], Op.map(row[i].rfDouble)) }
                    }
                }
                for i in lo..<hi { acc[i] = Op.finish(acc[i], count: r, shift: sh?[i] ?? 0) }
            }
        }
    }
}
