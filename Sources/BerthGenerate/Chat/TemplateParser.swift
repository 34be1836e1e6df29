/// Template syntax tree.
indirect enum TemplateNode: Sendable {
    case text(String)
    case output(TemplateExpr)
    case ifBlock([(TemplateExpr, [TemplateNode])], [TemplateNode])
    case forBlock(vars: [String], iterable: TemplateExpr, filter: TemplateExpr?, body: [TemplateNode], otherwise: [TemplateNode])
    case set(String, TemplateExpr)
}

indirect enum TemplateExpr: Sendable {
    case literal(TemplateValue)
    case name(String)
    case list([TemplateExpr])
    case dict([(TemplateExpr, TemplateExpr)])
    case attribute(TemplateExpr, String)
    case index(TemplateExpr, TemplateExpr)
    case slice(TemplateExpr, TemplateExpr?, TemplateExpr?)
    case call(TemplateExpr, [TemplateExpr], [String: TemplateExpr])
    case filter(TemplateExpr, String, [TemplateExpr])
    case test(TemplateExpr, String, negated: Bool)
    case unary(String, TemplateExpr)
    case binary(String, TemplateExpr, TemplateExpr)
    case ternary(TemplateExpr, TemplateExpr, TemplateExpr?)
}

enum TemplateToken: Equatable {
    case name(String), string(String), int(Int), double(Double), op(String), end
}

/// Parses template source: splits it into text and tags (with `-` whitespace control and
/// `trim_blocks` / `lstrip_blocks`, as Hugging Face renders chat templates), then each tag.
struct TemplateParser {
    enum Segment { case text(String), expr(String), stmt(String) }
    var segments: [Segment] = []
    var pos = 0

    init(_ source: String) throws {
        segments = try Self.split(source)
    }

    static func split(_ src: String) throws -> [Segment] {
        let s = Array(src.unicodeScalars)
        var out: [Segment] = []
        var text: [Unicode.Scalar] = []
        var i = 0
        func flushText(rstrip: Bool, lstripLine: Bool) {
            var t = text
            if rstrip { while let l = t.last, l.properties.isWhitespace { t.removeLast() } }
            else if lstripLine {
                // lstrip_blocks: drop spaces/tabs between the line start and a block tag.
                var j = t.count
                while j > 0 && (t[j - 1] == " " || t[j - 1] == "\t") { j -= 1 }
                if j == 0 || t[j - 1] == "\n" { t.removeSubrange(j...) }
            }
            if !t.isEmpty { out.append(.text(String(String.UnicodeScalarView(t)))) }
            text = []
        }
        while i < s.count {
            if s[i] == "{", i + 1 < s.count, s[i + 1] == "{" || s[i + 1] == "%" || s[i + 1] == "#" {
                let kind = s[i + 1]
                let close: Unicode.Scalar = kind == "{" ? "}" : (kind == "%" ? "%" : "#")
                var j = i + 2
                let stripLeft = j < s.count && s[j] == "-"
                if stripLeft || (j < s.count && s[j] == "+") { j += 1 }
                var k = j
                var found = false
                var quote: Unicode.Scalar? = nil
                while k + 1 < s.count {
                    if let q = quote { if s[k] == q { quote = nil }; k += 1; continue }
                    if kind != "#" && (s[k] == "'" || s[k] == "\"") { quote = s[k]; k += 1; continue }
                    if s[k + 1] == "}" && s[k] == close { found = true; break }
                    k += 1
                }
                guard found else { throw GenerateError.template("unclosed tag at character \(i)") }
                var bodyEnd = k
                let stripRight = bodyEnd > j && s[bodyEnd - 1] == "-"
                if stripRight || (bodyEnd > j && s[bodyEnd - 1] == "+") { bodyEnd -= 1 }
                flushText(rstrip: stripLeft, lstripLine: kind != "{")
                let body = String(String.UnicodeScalarView(s[j..<bodyEnd])).trimmingWhitespace()
                if kind == "{" { out.append(.expr(body)) } else if kind == "%" { out.append(.stmt(body)) }
                i = k + 2
                if stripRight { while i < s.count && s[i].properties.isWhitespace { i += 1 } }
                else if kind != "{" && i < s.count && s[i] == "\n" { i += 1 }  // trim_blocks
                continue
            }
            text.append(s[i])
            i += 1
        }
        flushText(rstrip: false, lstripLine: false)
        return out
    }

    mutating func parseAll() throws -> [TemplateNode] {
        let (nodes, end) = try parseBlock(until: [])
        if let end { throw GenerateError.template("unexpected {% \(end) %}") }
        return nodes
    }

    /// Parses nodes until a statement whose first word is in `until`; returns that statement.
    mutating func parseBlock(until: Set<String>) throws -> ([TemplateNode], String?) {
        var nodes: [TemplateNode] = []
        while pos < segments.count {
            let seg = segments[pos]
            pos += 1
            switch seg {
            case .text(let t): nodes.append(.text(t))
            case .expr(let e):
                var lx = try TemplateLexer(e)
                let x = try lx.expression()
                try lx.expectEnd()
                nodes.append(.output(x))
            case .stmt(let st):
                var lx = try TemplateLexer(st)
                guard case .name(let kw) = lx.peek else { throw GenerateError.template("empty statement") }
                if until.contains(kw) { pos -= 1; return (nodes, kw) }
                lx.advance()
                switch kw {
                case "if":
                    let cond = try lx.expression(); try lx.expectEnd()
                    var branches: [(TemplateExpr, [TemplateNode])] = []
                    var otherwise: [TemplateNode] = []
                    var current = cond
                    while true {
                        let (body, end) = try parseBlock(until: ["elif", "else", "endif"])
                        branches.append((current, body))
                        guard let end else { throw GenerateError.template("{% if %} without {% endif %}") }
                        var elx = try TemplateLexer(stmtText())
                        elx.advance()
                        pos += 1
                        if end == "elif" { current = try elx.expression(); try elx.expectEnd(); continue }
                        if end == "else" {
                            try elx.expectEnd()
                            let (body, e2) = try parseBlock(until: ["endif"])
                            guard e2 == "endif" else { throw GenerateError.template("{% else %} without {% endif %}") }
                            pos += 1
                            otherwise = body
                        }
                        break
                    }
                    nodes.append(.ifBlock(branches, otherwise))
                case "for":
                    var vars: [String] = [try lx.name()]
                    while lx.peek == .op(",") { lx.advance(); vars.append(try lx.name()) }
                    guard lx.peek == .name("in") else { throw GenerateError.template("expected 'in' in {% for %}") }
                    lx.advance()
                    let iter = try lx.ternaryFree()
                    var filter: TemplateExpr? = nil
                    if lx.peek == .name("if") { lx.advance(); filter = try lx.ternaryFree() }
                    try lx.expectEnd()
                    let (body, end) = try parseBlock(until: ["else", "endfor"])
                    var otherwise: [TemplateNode] = []
                    pos += 1
                    if end == "else" {
                        let (b2, e2) = try parseBlock(until: ["endfor"])
                        guard e2 == "endfor" else { throw GenerateError.template("{% for %} without {% endfor %}") }
                        pos += 1
                        otherwise = b2
                    } else if end != "endfor" { throw GenerateError.template("{% for %} without {% endfor %}") }
                    nodes.append(.forBlock(vars: vars, iterable: iter, filter: filter, body: body, otherwise: otherwise))
                case "set":
                    let name = try lx.name()
                    guard lx.peek == .op("=") else { throw GenerateError.template("block {% set %} is not supported") }
                    lx.advance()
                    let v = try lx.expression(); try lx.expectEnd()
                    nodes.append(.set(name, v))
                default:
                    throw GenerateError.template("unsupported statement {% \(kw) %}")
                }
            }
        }
        return (nodes, nil)
    }

    private func stmtText() -> String {
        if case .stmt(let s) = segments[pos] { return s }
        return ""
    }
}

/// Tokens of one tag, and the expression grammar (Jinja's precedence).
struct TemplateLexer {
    var toks: [TemplateToken] = []
    var i = 0

    init(_ src: String) throws {
        let s = Array(src.unicodeScalars)
        var k = 0
        while k < s.count {
            let c = s[k]
            if c.properties.isWhitespace { k += 1; continue }
            if c == "'" || c == "\"" {
                var v = "", j = k + 1
                while j < s.count && s[j] != c {
                    if s[j] == "\\" && j + 1 < s.count {
                        j += 1
                        switch s[j] { case "n": v += "\n"; case "t": v += "\t"; case "r": v += "\r"; default: v.unicodeScalars.append(s[j]) }
                    } else { v.unicodeScalars.append(s[j]) }
                    j += 1
                }
                guard j < s.count else { throw GenerateError.template("unterminated string") }
                toks.append(.string(v)); k = j + 1; continue
            }
            if c.properties.numericType != nil && c.value < 128 {
                var j = k
                while j < s.count && (s[j].properties.numericType != nil && s[j].value < 128 || s[j] == ".") { j += 1 }
                let t = String(String.UnicodeScalarView(s[k..<j]))
                if t.contains("."), let d = Double(t) { toks.append(.double(d)) } else if let n = Int(t) { toks.append(.int(n)) }
                else { throw GenerateError.template("bad number \(t)") }
                k = j; continue
            }
            if c == "_" || c.properties.isAlphabetic {
                var j = k
                while j < s.count && (s[j] == "_" || s[j].properties.isAlphabetic || (s[j].value < 128 && s[j].properties.numericType != nil)) { j += 1 }
                toks.append(.name(String(String.UnicodeScalarView(s[k..<j])))); k = j; continue
            }
            let two = k + 1 < s.count ? String(String.UnicodeScalarView([c, s[k + 1]])) : ""
            if ["==", "!=", "<=", ">=", "//", "**"].contains(two) { toks.append(.op(two)); k += 2; continue }
            if "+-*/%~<>=()[]{}.,:|".unicodeScalars.contains(c) { toks.append(.op(String(c))); k += 1; continue }
            throw GenerateError.template("unexpected character '\(c)'")
        }
    }

    var peek: TemplateToken { i < toks.count ? toks[i] : .end }
    mutating func advance() { i += 1 }
    func expectEnd() throws { if i < toks.count { throw GenerateError.template("unexpected \(toks[i]) in tag") } }
    mutating func expect(_ op: String) throws {
        guard peek == .op(op) else { throw GenerateError.template("expected '\(op)', found \(peek)") }
        advance()
    }
    mutating func name() throws -> String {
        guard case .name(let n) = peek else { throw GenerateError.template("expected a name, found \(peek)") }
        advance(); return n
    }

    mutating func expression() throws -> TemplateExpr {
        let a = try or()
        if peek == .name("if") {
            advance()
            let c = try or()
            var b: TemplateExpr? = nil
            if peek == .name("else") { advance(); b = try expression() }
            return .ternary(a, c, b)
        }
        return a
    }
    /// An expression without a trailing `if` (the iterable of `for … if`).
    mutating func ternaryFree() throws -> TemplateExpr { try or() }

    mutating func or() throws -> TemplateExpr {
        var a = try and()
        while peek == .name("or") { advance(); a = .binary("or", a, try and()) }
        return a
    }
    mutating func and() throws -> TemplateExpr {
        var a = try not()
        while peek == .name("and") { advance(); a = .binary("and", a, try not()) }
        return a
    }
    mutating func not() throws -> TemplateExpr {
        if peek == .name("not") { advance(); return .unary("not", try not()) }
        return try compare()
    }
    mutating func compare() throws -> TemplateExpr {
        var a = try concat()
        while true {
            switch peek {
            case .op(let o) where ["==", "!=", "<", ">", "<=", ">="].contains(o):
                advance(); a = .binary(o, a, try concat())
            case .name("in"):
                advance(); a = .binary("in", a, try concat())
            case .name("not") where i + 1 < toks.count && toks[i + 1] == .name("in"):
                advance(); advance(); a = .unary("not", .binary("in", a, try concat()))
            case .name("is"):
                advance()
                var neg = false
                if peek == .name("not") { advance(); neg = true }
                let t = try name()
                a = .test(a, t, negated: neg)
            default: return a
            }
        }
    }
    mutating func concat() throws -> TemplateExpr {
        var a = try sum()
        while peek == .op("~") { advance(); a = .binary("~", a, try sum()) }
        return a
    }
    mutating func sum() throws -> TemplateExpr {
        var a = try product()
        while case .op(let o) = peek, o == "+" || o == "-" { advance(); a = .binary(o, a, try product()) }
        return a
    }
    mutating func product() throws -> TemplateExpr {
        var a = try unary()
        while case .op(let o) = peek, ["*", "/", "//", "%"].contains(o) { advance(); a = .binary(o, a, try unary()) }
        return a
    }
    mutating func unary() throws -> TemplateExpr {
        if peek == .op("-") { advance(); return .unary("-", try unary()) }
        if peek == .op("+") { advance(); return try unary() }
        var e = try postfix()
        while peek == .op("|") {
            advance()
            let f = try name()
            var args: [TemplateExpr] = []
            if peek == .op("(") { (args, _) = try callArgs() }
            e = .filter(e, f, args)
        }
        return e
    }
    mutating func callArgs() throws -> ([TemplateExpr], [String: TemplateExpr]) {
        try expect("(")
        var args: [TemplateExpr] = [], kwargs: [String: TemplateExpr] = [:]
        while peek != .op(")") {
            if case .name(let n) = peek, i + 1 < toks.count, toks[i + 1] == .op("=") {
                advance(); advance(); kwargs[n] = try expression()
            } else { args.append(try expression()) }
            if peek == .op(",") { advance() } else { break }
        }
        try expect(")")
        return (args, kwargs)
    }
    mutating func postfix() throws -> TemplateExpr {
        var e = try primary()
        while true {
            if peek == .op(".") { advance(); e = .attribute(e, try name()) }
            else if peek == .op("[") {
                advance()
                var lo: TemplateExpr? = nil
                if peek != .op(":") { lo = try expression() }
                if peek == .op(":") {
                    advance()
                    var hi: TemplateExpr? = nil
                    if peek != .op("]") { hi = try expression() }
                    e = .slice(e, lo, hi)
                } else { e = .index(e, lo!) }
                try expect("]")
            } else if peek == .op("(") {
                let (a, k) = try callArgs()
                e = .call(e, a, k)
            } else { return e }
        }
    }
    mutating func primary() throws -> TemplateExpr {
        let t = peek
        advance()
        switch t {
        case .string(var s):
            while case .string(let more) = peek { s += more; advance() }  // adjacent literals concatenate
            return .literal(.string(s))
        case .int(let n): return .literal(.int(n))
        case .double(let d): return .literal(.double(d))
        case .name(let n):
            switch n {
            case "true", "True": return .literal(.bool(true))
            case "false", "False": return .literal(.bool(false))
            case "none", "None": return .literal(.none)
            default: return .name(n)
            }
        case .op("("):
            let e = try expression(); try expect(")"); return e
        case .op("["):
            var items: [TemplateExpr] = []
            while peek != .op("]") { items.append(try expression()); if peek == .op(",") { advance() } else { break } }
            try expect("]")
            return .list(items)
        case .op("{"):
            var items: [(TemplateExpr, TemplateExpr)] = []
            while peek != .op("}") {
                let k = try expression(); try expect(":"); items.append((k, try expression()))
                if peek == .op(",") { advance() } else { break }
            }
            try expect("}")
            return .dict(items)
        default:
            throw GenerateError.template("unexpected \(t) in expression")
        }
    }
}

extension String {
    func trimmingWhitespace() -> String {
        let u = Array(unicodeScalars)
        var a = 0, b = u.count
        while a < b && u[a].properties.isWhitespace { a += 1 }
        while b > a && u[b - 1].properties.isWhitespace { b -= 1 }
        return String(String.UnicodeScalarView(u[a..<b]))
    }
}
