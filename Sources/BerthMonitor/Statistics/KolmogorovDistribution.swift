import Foundation

/// The survival function of the two-sided Kolmogorov statistic for large samples.
///
/// SciPy's `ks_2samp` uses the finite-n distribution `kstwo.sf(d, round(en))` above 10,000
/// values; this uses its limit, Kolmogorov's `Q(√n·d) = 2 Σ (−1)^(k−1) exp(−2k²n d²)`, which
/// agrees with it to about 1e-3 at such sizes (enough for a p < 0.05 decision away from the
/// boundary, not for bit-equality).
enum KolmogorovDistribution {
    static func sf(_ d: Double, n: Int) -> Double {
        let z = Double(n).squareRoot() * d
        if z <= 0 { return 1 }
        if z < 0.1 { return 1 }   // Q(0.1) is 1 to double precision; the series would need hundreds of terms
        var sum = 0.0
        for k in 1...100 {
            let kk = Double(k)
            let term = exp(-2 * kk * kk * z * z)
            sum += (k % 2 == 1 ? 1 : -1) * term
            if term < 1e-18 { break }
        }
        return min(max(2 * sum, 0), 1)
    }
}
