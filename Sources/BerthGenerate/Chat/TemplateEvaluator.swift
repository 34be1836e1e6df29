/// Runs a parsed template over variables (a scope per `for` body, as Jinja scopes them).
struct TemplateEvaluator {
    var scopes: [[String: TemplateValue]]
    var steps = 0

    mutating func run(_ nodes: [TemplateNode], into out: inout String) throws {
        for n in nodes {
            steps += 1
            guard steps < 1_000_000 else { throw GenerateError.template("template runs too long") }
            switch n {
            case .text(let t): out += t
            case .output(let e): out += try eval(e).rendered
            case .set(let name, let e): scopes[scopes.count - 1][name] = try eval(e)
            case .ifBlock(let branches, let otherwise):
                var done = false
                for (c, body) in branches where try eval(c).truthy { try run(body, into: &out); done = true; break }
                if !done { try run(otherwise, into: &out) }
            case .forBlock(let vars, let iterable, let filter, let body, let otherwise):
                var items: [TemplateValue]
                switch try eval(iterable) {
                case .array(let a): items = a
                case .dict(let d): items = d.keys.sorted().map { .array([.string($0), d[$0]!]) }
                case .string(let s): items = s.map { .string(String($0)) }
                case .undefined, .none: items = []
                default: throw GenerateError.template("cannot loop over a number")
                }
                if let filter {
                    items = try items.filter { item in
                        scopes.append(bind(vars, item)); defer { scopes.removeLast() }
                        return try eval(filter).truthy
                    }
                }
                if items.isEmpty { try run(otherwise, into: &out); continue }
                for (k, item) in items.enumerated() {
                    var scope = bind(vars, item)
                    scope["loop"] = .dict([
                        "index": .int(k + 1), "index0": .int(k), "first": .bool(k == 0), "last": .bool(k == items.count - 1),
                        "length": .int(items.count), "revindex": .int(items.count - k), "revindex0": .int(items.count - k - 1),
                        "previtem": k > 0 ? items[k - 1] : .undefined, "nextitem": k + 1 < items.count ? items[k + 1] : .undefined,
                    ])
                    scopes.append(scope)
                    defer { scopes.removeLast() }
                    try run(body, into: &out)
                }
            }
        }
    }

    private func bind(_ vars: [String], _ item: TemplateValue) -> [String: TemplateValue] {
        if vars.count == 1 { return [vars[0]: item] }
        var s: [String: TemplateValue] = [:]
        if case .array(let parts) = item { for (k, v) in vars.enumerated() { s[v] = k < parts.count ? parts[k] : .undefined } }
        return s
    }

    func lookup(_ name: String) -> TemplateValue {
        for s in scopes.reversed() { if let v = s[name] { return v } }
        return .undefined
    }

    mutating func eval(_ e: TemplateExpr) throws -> TemplateValue {
        switch e {
        case .literal(let v): return v
        case .name(let n): return lookup(n)
        case .list(let items): return .array(try items.map { try eval($0) })
        case .dict(let items):
            var d: [String: TemplateValue] = [:]
            for (k, v) in items { d[try eval(k).rendered] = try eval(v) }
            return .dict(d)
        case .attribute(let base, let name):
            let b = try eval(base)
            if case .dict(let d) = b { return d[name] ?? .undefined }
            return .undefined
        case .index(let base, let index):
            let b = try eval(base), i = try eval(index)
            switch (b, i) {
            case (.dict(let d), .string(let k)): return d[k] ?? .undefined
            case (.array(let a), .int(let n)):
                let k = n < 0 ? a.count + n : n
                return a.indices.contains(k) ? a[k] : .undefined
            case (.string(let s), .int(let n)):
                let a = Array(s), k = n < 0 ? a.count + n : n
                return a.indices.contains(k) ? .string(String(a[k])) : .undefined
            default: return .undefined
            }
        case .slice(let base, let lo, let hi):
            let b = try eval(base)
            func bounds(_ n: Int) throws -> (Int, Int) {
                func clamp(_ v: TemplateValue?, _ d: Int) throws -> Int {
                    guard let v else { return d }
                    guard case .int(let x) = v else { throw GenerateError.template("slice bounds must be integers") }
                    return min(max(x < 0 ? n + x : x, 0), n)
                }
                let l = try clamp(lo.map { try eval($0) }, 0), h = try clamp(hi.map { try eval($0) }, n)
                return (l, max(l, h))
            }
            switch b {
            case .array(let a): let (l, h) = try bounds(a.count); return .array(Array(a[l..<h]))
            case .string(let s): let a = Array(s); let (l, h) = try bounds(a.count); return .string(String(a[l..<h]))
            default: return .undefined
            }
        case .call(let callee, let args, _):
            let values = try args.map { try eval($0) }
            if case .name("raise_exception") = callee {
                throw GenerateError.template(values.first?.rendered ?? "raise_exception")
            }
            if case .attribute(let base, let method) = callee { return try callMethod(try eval(base), method, values) }
            throw GenerateError.template("unsupported function call")
        case .filter(let base, let name, let args):
            return try applyFilter(name, try eval(base), try args.map { try eval($0) })
        case .test(let base, let name, let negated):
            let v = try eval(base)
            let r: Bool
            switch name {
            case "defined": if case .undefined = v { r = false } else { r = true }
            case "undefined": if case .undefined = v { r = true } else { r = false }
            case "none": r = v == .none
            case "string": if case .string = v { r = true } else { r = false }
            case "number": switch v { case .int, .double: r = true; default: r = false }
            case "mapping": if case .dict = v { r = true } else { r = false }
            case "sequence", "iterable": switch v { case .array, .string: r = true; default: r = false }
            case "true": r = v == .bool(true)
            case "false": r = v == .bool(false)
            default: throw GenerateError.template("unsupported test 'is \(name)'")
            }
            return .bool(r != negated)
        case .unary(let op, let x):
            let v = try eval(x)
            if op == "not" { return .bool(!v.truthy) }
            switch v { case .int(let i): return .int(-i); case .double(let d): return .double(-d); default: throw GenerateError.template("cannot negate \(v.rendered)") }
        case .ternary(let a, let c, let b):
            return try eval(c).truthy ? try eval(a) : try b.map { try eval($0) } ?? .undefined
        case .binary(let op, let l, let r):
            if op == "and" { let a = try eval(l); return a.truthy ? try eval(r) : a }
            if op == "or" { let a = try eval(l); return a.truthy ? a : try eval(r) }
            return try binary(op, try eval(l), try eval(r))
        }
    }

    func binary(_ op: String, _ a: TemplateValue, _ b: TemplateValue) throws -> TemplateValue {
        switch op {
        case "~": return .string(a.rendered + b.rendered)
        case "==": return .bool(equal(a, b))
        case "!=": return .bool(!equal(a, b))
        case "in":
            switch b {
            case .string(let s): return .bool(s.contains(a.rendered))
            case .array(let arr): return .bool(arr.contains { equal($0, a) })
            case .dict(let d): return .bool(d[a.rendered] != nil)
            default: return .bool(false)
            }
        default: break
        }
        switch (a, b) {
        case (.string(let x), .string(let y)):
            switch op {
            case "+": return .string(x + y)
            case "<": return .bool(x < y)
            case ">": return .bool(x > y)
            case "<=": return .bool(x <= y)
            case ">=": return .bool(x >= y)
            default: break
            }
        case (.array(let x), .array(let y)) where op == "+": return .array(x + y)
        case (.int(let x), .int(let y)):
            switch op {
            case "+": return .int(x &+ y)
            case "-": return .int(x &- y)
            case "*": return .int(x &* y)
            case "//": guard y != 0 else { throw GenerateError.template("division by zero") }; return .int(Int((Double(x) / Double(y)).rounded(.down)))
            case "%": guard y != 0 else { throw GenerateError.template("division by zero") }; return .int(((x % y) + y) % y)
            case "/": guard y != 0 else { throw GenerateError.template("division by zero") }; return .double(Double(x) / Double(y))
            case "<": return .bool(x < y)
            case ">": return .bool(x > y)
            case "<=": return .bool(x <= y)
            case ">=": return .bool(x >= y)
            default: break
            }
        default:
            if let x = number(a), let y = number(b) {
                switch op {
                case "+": return .double(x + y)
                case "-": return .double(x - y)
                case "*": return .double(x * y)
                case "/": return .double(x / y)
                case "<": return .bool(x < y)
                case ">": return .bool(x > y)
                case "<=": return .bool(x <= y)
                case ">=": return .bool(x >= y)
                default: break
                }
            }
        }
        throw GenerateError.template("unsupported operation \(a.rendered.prefix(20)) \(op) \(b.rendered.prefix(20))")
    }

    func number(_ v: TemplateValue) -> Double? {
        switch v { case .int(let i): return Double(i); case .double(let d): return d; default: return nil }
    }

    func equal(_ a: TemplateValue, _ b: TemplateValue) -> Bool {
        if let x = number(a), let y = number(b) { return x == y }
        if case .undefined = a, case .none = b { return false }
        return a == b
    }

    func callMethod(_ v: TemplateValue, _ m: String, _ args: [TemplateValue]) throws -> TemplateValue {
        if case .dict(let d) = v {
            switch m {
            case "get": return d[args.first?.rendered ?? ""] ?? (args.count > 1 ? args[1] : .none)
            case "items": return .array(d.keys.sorted().map { .array([.string($0), d[$0]!]) })
            case "keys": return .array(d.keys.sorted().map { .string($0) })
            case "values": return .array(d.keys.sorted().map { d[$0]! })
            default: throw GenerateError.template("unsupported method dict.\(m)()")
            }
        }
        guard case .string(let s) = v else { throw GenerateError.template("unsupported method .\(m)() on a non-string") }
        let chars = args.first.map { Set($0.rendered.unicodeScalars) }
        func isStrip(_ c: Unicode.Scalar) -> Bool { chars?.contains(c) ?? c.properties.isWhitespace }
        switch m {
        case "strip": return .string(s.stripping(isStrip, leading: true, trailing: true))
        case "lstrip": return .string(s.stripping(isStrip, leading: true, trailing: false))
        case "rstrip": return .string(s.stripping(isStrip, leading: false, trailing: true))
        case "upper": return .string(s.uppercased())
        case "lower": return .string(s.lowercased())
        case "title": return .string(s.capitalized)
        case "capitalize": return .string(s.prefix(1).uppercased() + s.dropFirst().lowercased())
        case "startswith": return .bool(s.hasPrefix(args.first?.rendered ?? ""))
        case "endswith": return .bool(s.hasSuffix(args.first?.rendered ?? ""))
        case "split":
            if let sep = args.first?.rendered, !sep.isEmpty { return .array(s.components(separatedBy: sep).map { .string($0) }) }
            return .array(s.split(whereSeparator: { $0.isWhitespace }).map { .string(String($0)) })
        case "replace":
            guard args.count >= 2 else { throw GenerateError.template("replace() needs two arguments") }
            return .string(s.replacingOccurrences(args[0].rendered, args[1].rendered))
        default: throw GenerateError.template("unsupported method str.\(m)()")
        }
    }

    func applyFilter(_ name: String, _ v: TemplateValue, _ args: [TemplateValue]) throws -> TemplateValue {
        switch name {
        case "trim": return .string(v.rendered.trimmingWhitespace())
        case "upper": return .string(v.rendered.uppercased())
        case "lower": return .string(v.rendered.lowercased())
        case "string": return .string(v.rendered)
        case "tojson": return .string(v.json)
        case "length", "count":
            switch v {
            case .array(let a): return .int(a.count)
            case .string(let s): return .int(s.count)
            case .dict(let d): return .int(d.count)
            default: return .int(0)
            }
        case "first": if case .array(let a) = v { return a.first ?? .undefined }; return .undefined
        case "last": if case .array(let a) = v { return a.last ?? .undefined }; return .undefined
        case "default", "d":
            if case .undefined = v { return args.first ?? .string("") }
            return v
        case "join":
            guard case .array(let a) = v else { return v }
            return .string(a.map(\.rendered).joined(separator: args.first?.rendered ?? ""))
        case "int": if let n = number(v) { return .int(Int(n)) }; return .int(Int(v.rendered) ?? 0)
        default: throw GenerateError.template("unsupported filter '| \(name)'")
        }
    }
}

extension String {
    func stripping(_ strip: (Unicode.Scalar) -> Bool, leading: Bool, trailing: Bool) -> String {
        let u = Array(unicodeScalars)
        var a = 0, b = u.count
        if leading { while a < b && strip(u[a]) { a += 1 } }
        if trailing { while b > a && strip(u[b - 1]) { b -= 1 } }
        return String(String.UnicodeScalarView(u[a..<b]))
    }
}

import Foundation
