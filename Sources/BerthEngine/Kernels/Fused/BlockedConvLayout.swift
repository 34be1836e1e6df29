#if canImport(CDNNL)
import CDNNL
import Foundation

/// Which activation layout and algorithm a region's convolution asks oneDNN for.
///
/// A dense 3x3 stride-1 convolution with enough channels and pixels runs on oneDNN's Winograd
/// kernels (F(2x2,3x3) at batch 1, F(4x4,3x3) at larger batches), which need nChw16c: measured
/// 1.8–2.5× faster than the direct brgconv kernel on ResNet-50's 3x3 layers (AMD EPYC Zen 5,
/// AVX-512, one thread; batch 1 and 32) with errors against a double-precision loop of the same
/// size as the direct kernel's (~1e-6 of the output's magnitude). A convolution whose input is
/// already nChw16c stays in it when it is a 1x1 (oneDNN's jit_1x1 kernel, on par with brgconv_1x1's
/// NHWC one), so a ResNet bottleneck reorders into nChw16c and back once per stage, not around every
/// 3x3 layer.
/// `BERTH_DNNL_WINOGRAD=0` keeps oneDNN's own pick everywhere (A/B measurements).
enum BlockedConvLayout {
    /// A plain one-channel input (a grayscale image) into nChw16c directly (oneDNN's first-layer
    /// kernel, ``DNNL/ConvLayout/plainToNChw16c``) instead of brgconv's NHWC: what follows (pooling,
    /// a Winograd 3x3) is then blocked without a reorder. The MNIST CNN, three interleaved runs
    /// each: batch 1 p50 0.050–0.052 → 0.049 ms (1 thread), 0.037–0.040 → 0.034–0.035 ms (2); batch 32
    /// on 1 thread 0.94–0.98 → 0.89–0.91 ms; batch 32 on 2 threads slower (0.52–0.55 → 0.55–0.58 ms:
    /// its batch pieces), so not there. `BERTH_DNNL_FIRST_16C=0` keeps NHWC.
    static let plainFirstLayer = ProcessInfo.processInfo.environment["BERTH_DNNL_FIRST_16C"] != "0"
    static let winogradEnabled = ProcessInfo.processInfo.environment["BERTH_DNNL_WINOGRAD"] != "0"
    /// Depthwise convolutions at batch ≥ 2 in nChw16c (oneDNN's jit_dw: 0.059 vs 0.078 ms for brdgmm_dw's
    /// NHWC on MobileNetV2's 144-channel 56x56 layer); the 1x1s after them follow. MobileNetV2 at batch 32:
    /// 151 → 143 ms; at batch 1 no gain (4.21 vs 4.25 ms, the 24-channel tensors padded to 32), so NHWC
    /// stays there. `BERTH_DNNL_DEPTHWISE_16C=0` keeps NHWC.
    static let depthwiseBlocked = ProcessInfo.processInfo.environment["BERTH_DNNL_DEPTHWISE_16C"] != "0"
    /// `BERTH_DNNL_DEPTHWISE_16C=all`: at batch 1 too (measurements).
    static let depthwiseBlockedBatch1 = ProcessInfo.processInfo.environment["BERTH_DNNL_DEPTHWISE_16C"] == "all"
    /// Batch 1 on several threads, output planes of at most this many pixels (MobileNetV2's 7x7
    /// stage): depthwise convolutions in nChw16c, and the 1x1s after them follow, so each splits in
    /// output-channel pieces (``SplitConvolution``) and each thread reads half the weights. In NHWC
    /// they split in row pieces (3 and 4 rows of 7), each reading all of a 1280x320 weight.
    /// `BERTH_DNNL_SMALL_PLANE_16C=0` keeps NHWC there.
    static let smallPlaneBlockedPixels = ProcessInfo.processInfo.environment["BERTH_DNNL_SMALL_PLANE_16C"] == "0" ? 0 : 49
    /// Batch 1 on several threads whose cores are far apart (``ThreadPool/coresFarApart``): dense
    /// convolutions on small planes in nChw16c too, split by output channels so each core streams
    /// half the weights (row pieces read all of them, and far cores share no cache: ResNet-50's
    /// 7x7 stage reads 60 MB of weights per call). With the cores close, the shared cache serves
    /// both and NHWC's brgconv is faster. `BERTH_DNNL_FAR_LAYOUTS=0` turns this off.
    static let farLayouts = ProcessInfo.processInfo.environment["BERTH_DNNL_FAR_LAYOUTS"] != "0"
    /// `BERTH_DNNL_FAR_WINOGRAD=0`: no Winograd either while the cores are far apart (3x3s then take
    /// brgconv's NHWC row pieces, whose rows stay on one core from layer to layer). For measurements:
    /// all of ResNet-50 b1 2t on NHWC read 20.0–21.0 ms far against 21.4–22.5 with Winograd, but
    /// 18.6–19.6 against 17.7–18.3 close, and the switch itself is not measured yet.
    static let farWithoutWinograd = ProcessInfo.processInfo.environment["BERTH_DNNL_FAR_WINOGRAD"] == "0"

    /// Output pixels (batch × height × width) below which Winograd's tile transforms cost more
    /// than they save (ResNet-50's 512-channel 7x7 layer at batch 1: 1.12 vs 1.17 ms direct).
    static let winogradMinimumPixels = 196
    /// Input channels below which Winograd is not tried (32→32 at 56x56 gained 1.6×; fewer
    /// channels leave the transforms dominant).
    static let winogradMinimumChannels = 32
    /// Output channels below which Winograd is not tried: DenseNet's 32-channel growth layers gain
    /// per layer (0.94 → 0.77 ms at 56x56) but feed Concats, which ran 2× slower in nChw16c than in
    /// NHWC: DenseNet-121 at batch 1 went from 66 to 83 ms with them.
    static let winogradMinimumOutputChannels = 64

    /// The layout for `spec` (a blocked convolution) whose source currently has layout `input`
    /// (nil: a plain tensor). `coresFar`: the pool's cores are far apart (``ThreadPool/coresFarApart``).
    static func choice(for spec: DNNL.ConvSpec, input: dnnl_memory_desc_t?, poolThreads: Int = 1, coresFar: Bool = false) -> DNNL.ConvLayout {
        guard winogradEnabled, spec.blocked, spec.input.count == 4, spec.output.count == 4 else { return .any }
        let far = coresFar && poolThreads > 1 && spec.input[0] == 1 && farLayouts
        if !(far && farWithoutWinograd), isWinogradShape(spec) { return .winograd }
        if plainFirstLayer, input == nil, spec.input[1] == 1, spec.group == 1, spec.input[0] == 1 || poolThreads == 1 { return .plainToNChw16c }
        let smallPlane = poolThreads > 1 && spec.output[2] * spec.output[3] <= smallPlaneBlockedPixels
        if depthwiseBlocked, spec.input[0] >= 2 || depthwiseBlockedBatch1 || smallPlane, spec.group > 1, spec.group == spec.input[1], spec.group == spec.output[1], spec.weights[1] == 1 { return .nChw16c }
        if far, smallPlane, spec.group == 1 { return .nChw16c }
        // Only 1x1s follow: oneDNN's nChw16c 3x3 kernel (jit:avx512_core) is 15–35 % slower than
        // brgconv's NHWC one on ResNet-50's stride-2 and 7x7 layers, more than a reorder costs.
        // At batch 1 not when the input's channels are padded (MobileNetV2's 24 after a fused pointwise-depthwise
        // pair, ``PointwiseDepthwiseFusion``): the padded 1x1 costs more, and the NHWC depthwise after it would
        // reorder its 6x larger output; reordering the small input is cheaper.
        if let input, spec.weights.dropFirst(2).allSatisfy({ $0 == 1 }), isNChw16c(input, dims: spec.input),
           spec.input[0] >= 2 || spec.input[1] % 16 == 0 { return .nChw16c }
        return .any
    }

    /// A dense 3x3, stride 1, undilated convolution with at least the channels and pixels above.
    static func isWinogradShape(_ spec: DNNL.ConvSpec) -> Bool {
        guard spec.group == 1, spec.weights.count == 4, spec.weights[2] == 3, spec.weights[3] == 3,
              spec.strides.allSatisfy({ $0 == 1 }), spec.dilations.allSatisfy({ $0 == 1 }),
              spec.padsBegin.allSatisfy({ $0 <= 1 }), spec.padsEnd.allSatisfy({ $0 <= 1 }),
              spec.input[1] >= winogradMinimumChannels, spec.output[1] >= winogradMinimumOutputChannels else { return false }
        let plane = spec.output[2].multipliedReportingOverflow(by: spec.output[3])
        let pixels = spec.output[0].multipliedReportingOverflow(by: plane.partialValue)
        return !plane.overflow && !pixels.overflow && pixels.partialValue >= winogradMinimumPixels
    }

    /// True when `md` is the nChw16c layout of `dims`.
    static func isNChw16c(_ md: dnnl_memory_desc_t, dims: [Int]) -> Bool {
        // Plain layouts (NHWC: every MobileNet value) have no inner block: no descriptor made per call.
        guard md.format_kind == dnnl_blocked, md.format_desc.blocking.inner_nblks == 1, let d = try? DNNL.typedDesc(dims, dnnl_f32, dnnl_nChw16c) else { return false }
        return DNNL.same(d, md)
    }
}
#endif
