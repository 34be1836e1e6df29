import XCTest
@testable import BerthEval

/// Expected values were computed with the project venv's scikit-learn 1.9.1 on the same
/// inputs (`.venv/bin/python`, `from sklearn import metrics as M`, the call is written next to
/// each value) and pasted here with `repr()` precision.
final class MetricsTests: XCTestCase {
    private let tol = 1e-12
    private func s(_ v: [String]) -> [ClassLabel] { v.map(ClassLabel.string) }
    private func n(_ v: [Double]) -> [ClassLabel] { v.map(ClassLabel.number) }

    private let truth = ["cat", "dog", "bird", "cat", "dog", "bird", "cat", "cat", "dog", "bird"]
    private let predicted = ["cat", "dog", "cat", "cat", "cat", "bird", "dog", "cat", "dog", "cat"]

    func testMulticlassLabelsMatchSklearn() {
        let m = ClassificationMetrics(truth: s(truth), predicted: s(predicted))
        // M.accuracy_score(yt, yp)
        XCTAssertEqual(m.accuracy, 0.6, accuracy: tol)
        // M.confusion_matrix(yt, yp): labels sorted bird, cat, dog
        XCTAssertEqual(m.confusion.labels, s(["bird", "cat", "dog"]))
        XCTAssertEqual(m.confusion.counts, [[1, 2, 0], [0, 3, 1], [0, 1, 2]])
        // M.precision_recall_fscore_support(yt, yp, average=None)
        XCTAssertEqual(m.perClass.map(\.precision), [1.0, 0.5, 0.6666666666666666])
        XCTAssertEqual(m.perClass.map(\.recall), [0.3333333333333333, 0.75, 0.6666666666666666])
        XCTAssertEqual(m.perClass.map(\.f1), [0.5, 0.6, 0.6666666666666666])
        XCTAssertEqual(m.perClass.map(\.support), [3, 4, 3])
        // average="macro"
        XCTAssertEqual(m.macro.precision, 0.7222222222222222, accuracy: tol)
        XCTAssertEqual(m.macro.recall, 0.5833333333333334, accuracy: tol)
        XCTAssertEqual(m.macro.f1, 0.5888888888888889, accuracy: tol)
        // average="weighted"
        XCTAssertEqual(m.weighted.precision, 0.7, accuracy: tol)
        XCTAssertEqual(m.weighted.recall, 0.6, accuracy: tol)
        XCTAssertEqual(m.weighted.f1, 0.5900000000000001, accuracy: tol)
    }

    func testZeroDivisionGivesZero() {
        // M.precision_recall_fscore_support([0,0,1,1], [0,0,0,0], average=None / "macro")
        let m = ClassificationMetrics(truth: n([0, 0, 1, 1]), predicted: n([0, 0, 0, 0]))
        XCTAssertEqual(m.perClass.map(\.precision), [0.5, 0])
        XCTAssertEqual(m.perClass.map(\.recall), [1, 0])
        XCTAssertEqual(m.perClass[0].f1, 0.6666666666666666, accuracy: tol)
        XCTAssertEqual(m.perClass[1].f1, 0)
        XCTAssertEqual(m.macro.precision, 0.25, accuracy: tol)
        XCTAssertEqual(m.macro.recall, 0.5, accuracy: tol)
        XCTAssertEqual(m.macro.f1, 0.3333333333333333, accuracy: tol)
    }

    /// Rows of [bird, cat, dog] probabilities for `truth`.
    private let probabilities: [Double] = [
        0.1, 0.7, 0.2, 0.2, 0.2, 0.6, 0.3, 0.5, 0.2, 0.1, 0.8, 0.1, 0.5, 0.1, 0.4,
        0.6, 0.3, 0.1, 0.2, 0.3, 0.5, 0.3, 0.4, 0.3, 0.1, 0.1, 0.8, 0.4, 0.4, 0.2,
    ]

    func testOneVsRestROCAUCMatchesSklearn() {
        let r = ROCAUC.oneVsRest(truth: s(truth), probabilities: probabilities, classes: s(["bird", "cat", "dog"]))
        // M.roc_auc_score(yt, P, multi_class="ovr", average="macro", labels=["bird","cat","dog"])
        XCTAssertEqual(r.macro!, 0.8888888888888888, accuracy: tol)
        // average=None
        XCTAssertEqual(r.perClass[0]!, 0.8809523809523809, accuracy: tol)
        XCTAssertEqual(r.perClass[1]!, 0.8333333333333333, accuracy: tol)
        XCTAssertEqual(r.perClass[2]!, 0.9523809523809524, accuracy: tol)
    }

    func testBinaryROCAUCWithTies() {
        // M.roc_auc_score([0,0,1,1,0,1,1,0,1,0], [0.1,0.4,0.35,0.8,0.4,0.4,0.9,0.2,0.35,0.6])
        let y = [0, 0, 1, 1, 0, 1, 1, 0, 1, 0].map { $0 == 1 }
        let scores = [0.1, 0.4, 0.35, 0.8, 0.4, 0.4, 0.9, 0.2, 0.35, 0.6]
        XCTAssertEqual(ROCAUC.binary(positive: y, scores: scores)!, 0.68, accuracy: tol)
        XCTAssertNil(ROCAUC.binary(positive: [true, true], scores: [0.2, 0.3]), "one class: undefined")
        XCTAssertEqual(ROCAUC.binary(positive: [false, true], scores: [0.5, 0.5])!, 0.5, accuracy: tol)
    }

    func testLogLossMatchesSklearn() {
        let classes = s(["bird", "cat", "dog"])
        // M.log_loss(yt, P, labels=["bird","cat","dog"])
        XCTAssertEqual(LogLoss.mean(truth: s(truth), probabilities: probabilities, classes: classes)!, 0.698143109837347, accuracy: tol)
        // M.log_loss([0,1], [[1.0,0.0],[1.0,0.0]]): p = 0 is clipped to float64 eps
        XCTAssertEqual(LogLoss.mean(truth: n([0, 1]), probabilities: [1, 0, 1, 0], classes: n([0, 1]))!, 18.021826694558577, accuracy: 1e-9)
        XCTAssertNil(LogLoss.mean(truth: s(["fish"]), probabilities: [0.2, 0.3, 0.5], classes: classes))
        // M.log_loss(yb, column_stack([1-s, s])) for the binary ROC case
        let yb: [Double] = [0, 0, 1, 1, 0, 1, 1, 0, 1, 0]
        let sc = [0.1, 0.4, 0.35, 0.8, 0.4, 0.4, 0.9, 0.2, 0.35, 0.6]
        let p = sc.flatMap { [1 - $0, $0] }
        XCTAssertEqual(LogLoss.mean(truth: n(yb), probabilities: p, classes: n([0, 1]))!, 0.5610885094221719, accuracy: tol)
    }

    func testRegressionMatchesSklearn() {
        // M.mean_squared_error / root_mean_squared_error / mean_absolute_error / r2_score
        // ([3.0,-0.5,2.0,7.0,4.25], [2.5,0.0,2.0,8.0,4.0])
        let m = RegressionMetrics(truth: [3.0, -0.5, 2.0, 7.0, 4.25], predicted: [2.5, 0.0, 2.0, 8.0, 4.0])
        XCTAssertEqual(m.mse, 0.3125, accuracy: tol)
        XCTAssertEqual(m.rmse, 0.5590169943749475, accuracy: tol)
        XCTAssertEqual(m.mae, 0.45, accuracy: tol)
        XCTAssertEqual(m.r2!, 0.9491042345276873, accuracy: tol)
        // M.r2_score([1,1,1],[1,1,1]) == 1.0; M.r2_score([1,1,1],[1,2,1]) == 0.0
        XCTAssertEqual(RegressionMetrics(truth: [1, 1, 1], predicted: [1, 1, 1]).r2, 1)
        XCTAssertEqual(RegressionMetrics(truth: [1, 1, 1], predicted: [1, 2, 1]).r2, 0)
        XCTAssertNil(RegressionMetrics(truth: [1], predicted: [2]).r2)
    }

    func testLabelOrderIsSklearns() {
        XCTAssertEqual(n([10, 2, 1.5, -1]).sorted(), n([-1, 1.5, 2, 10]), "numbers by value, not as text")
        XCTAssertEqual(s(["b", "B", "a", "é", "Z"]).sorted(), s(["B", "Z", "a", "b", "é"]), "strings by code point")
        XCTAssertEqual(ClassLabel.number(3).description, "3")
        XCTAssertEqual(ClassLabel.number(2.5).description, "2.5")
    }
}
