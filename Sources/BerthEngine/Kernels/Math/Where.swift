import BerthTensor

/// ONNX Where: `condition ? x : y` elementwise, the three inputs broadcast together. `x` and `y`
/// may have any (equal) dtype, strings included.
func mathWhere(_ c: Tensor, _ x: Tensor, _ y: Tensor, pool: ThreadPool) throws -> Tensor {
    guard case let .bool(cond) = c.storage else { throw KernelError("Where condition must be bool, got \(c.dtype)") }
    guard x.dtype == y.dtype else { throw KernelError("Where X and Y must have the same dtype, got \(x.dtype) and \(y.dtype)") }
    let layout = try BroadcastLayout([c.shape, x.shape, y.shape])
    let storage: TensorStorage
    switch (x.storage, y.storage) {
    case let (.float32(a), .float32(b)): storage = .float32(mathSelect(cond, a, b, layout, pool))
    case let (.float64(a), .float64(b)): storage = .float64(mathSelect(cond, a, b, layout, pool))
    case let (.float16(a), .float16(b)): storage = .float16(mathSelect(cond, a, b, layout, pool))
    case let (.int8(a), .int8(b)): storage = .int8(mathSelect(cond, a, b, layout, pool))
    case let (.uint8(a), .uint8(b)): storage = .uint8(mathSelect(cond, a, b, layout, pool))
    case let (.int16(a), .int16(b)): storage = .int16(mathSelect(cond, a, b, layout, pool))
    case let (.uint16(a), .uint16(b)): storage = .uint16(mathSelect(cond, a, b, layout, pool))
    case let (.int32(a), .int32(b)): storage = .int32(mathSelect(cond, a, b, layout, pool))
    case let (.uint32(a), .uint32(b)): storage = .uint32(mathSelect(cond, a, b, layout, pool))
    case let (.int64(a), .int64(b)): storage = .int64(mathSelect(cond, a, b, layout, pool))
    case let (.uint64(a), .uint64(b)): storage = .uint64(mathSelect(cond, a, b, layout, pool))
    case let (.bool(a), .bool(b)): storage = .bool(mathSelect(cond, a, b, layout, pool))
    case let (.string(a), .string(b)): storage = .string(mathSelect(cond, a, b, layout, pool))
    default: throw KernelError("Where X and Y must have the same dtype, got \(x.dtype) and \(y.dtype)")
    }
    return Tensor(unchecked: layout.shape, storage: storage)
}

/// The select loops: one flat loop when nothing broadcasts, otherwise per row with each input's
/// inner stride (0 or 1).
private func mathSelect<T>(_ cond: [Bool], _ x: [T], _ y: [T], _ layout: BroadcastLayout, _ pool: ThreadPool) -> [T] {
    let n = layout.count
    guard n > 0 else { return [] }
    return [T](unsafeUninitializedCapacity: n) { buf, initialized in
        let o = buf.baseAddress!
        cond.withUnsafeBufferPointer { cb in
            x.withUnsafeBufferPointer { xb in
                y.withUnsafeBufferPointer { yb in
                    let pc = cb.baseAddress!, px = xb.baseAddress!, py = yb.baseAddress!
                    if cb.count == n && xb.count == n && yb.count == n {
                        pool.parallelFor(n, minChunk: 1 << 15) { r in
                            for i in r { (o + i).initialize(to: pc[i] ? px[i] : py[i]) }
                        }
                        return
                    }
                    let inner = layout.inner
                    let sc = layout.innerStride(0), sx = layout.innerStride(1), sy = layout.innerStride(2)
                    pool.parallelFor(layout.rows, minChunk: max(1, (1 << 15) / max(1, inner))) { rows in
                        var cursor = BroadcastRowCursor(layout, row: rows.lowerBound)
                        for row in rows {
                            let c = pc + cursor.offsets[0], a = px + cursor.offsets[1], b = py + cursor.offsets[2]
                            let xo = o + row * inner
                            if sc == 0 {
                                // One condition for the whole row: a copy or a fill.
                                if c[0] {
                                    if sx != 0 { xo.initialize(from: a, count: inner) } else { xo.initialize(repeating: a[0], count: inner) }
                                } else {
                                    if sy != 0 { xo.initialize(from: b, count: inner) } else { xo.initialize(repeating: b[0], count: inner) }
                                }
                            } else {
                                for i in 0..<inner { (xo + i).initialize(to: c[i] ? a[i * sx] : b[i * sy]) }
                            }
                            cursor.advance()
                        }
                    }
                }
            }
        }
        initialized = n
    }
}
