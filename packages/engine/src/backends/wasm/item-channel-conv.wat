;; One output channel per batch item of a 2-D convolution, and its input gradient, in WebAssembly
;; SIMD: item i of x (NHWC, C channels) convolved with item i's own filter [kh, kw, C] (its channel of
;; the layer's kernel), plus item i's bias: out[i, oy, ox] (item-channel-conv.ts). A layer sweep's
;; objective (item i maximises channel i) needs this and nothing of the layer's other channels.
;; Compiled by scripts/build-wasm-kernels.ts into item-channel-conv.wasm.ts (the bytes, base64). The
;; memory is imported: tfjs-backend-wasm's own heap, so the kernels read and write where the tensors live.
;;
;; Geometry as tfjs's conv2d: input position = output position · stride − pad + tap · dilation; taps
;; outside the input contribute nothing. A kernel row's taps inside the input are, without a width
;; dilation, one contiguous run of x and of the filter (taps × C values), else each tap is a run of C:
;; a run goes sixteen values at a time (four vectors, four accumulators: one accumulator's chain of
;; additions measured 4 cycles a vector), then four, then one. Every item's sums run in the same order
;; whatever the batch, so an item's values do not depend on the items beside it.
(module
  (import "env" "memory" (memory 1))

  ;; The taps of kernel row ky inside the input for output column ox, as runs: sets $runStart and
  ;; $runEnd (taps [start, end), end ≤ start: none) for the run beginning at tap $kx, and returns the
  ;; tap after it. Without a width dilation one run holds every tap inside; else each tap is its own.
  (func $run (param $kx i32) (param $ox i32) (param $kernelWidth i32) (param $inWidth i32)
    (param $strideWidth i32) (param $dilationWidth i32) (param $padLeft i32) (result i32 i32 i32)
    (local $left i32) (local $start i32) (local $end i32) (local $ix i32)
    ;; The input column of tap 0.
    (local.set $left (i32.sub (i32.mul (local.get $ox) (local.get $strideWidth)) (local.get $padLeft)))
    (if (result i32 i32 i32) (i32.eq (local.get $dilationWidth) (i32.const 1))
      (then
        ;; Taps with 0 ≤ left + kx < inWidth, from kx on.
        (local.set $start (select (local.get $kx) (i32.sub (i32.const 0) (local.get $left))
          (i32.ge_s (local.get $kx) (i32.sub (i32.const 0) (local.get $left)))))
        (local.set $end (select (local.get $kernelWidth) (i32.sub (local.get $inWidth) (local.get $left))
          (i32.le_s (local.get $kernelWidth) (i32.sub (local.get $inWidth) (local.get $left)))))
        (local.get $start) (local.get $end) (local.get $kernelWidth))
      (else
        (local.set $ix (i32.add (local.get $left) (i32.mul (local.get $kx) (local.get $dilationWidth))))
        (local.get $kx)
        (select (i32.add (local.get $kx) (i32.const 1)) (local.get $kx) (i32.lt_u (local.get $ix) (local.get $inWidth)))
        (i32.add (local.get $kx) (i32.const 1)))))

  ;; out[i, oy, ox] = Σ_taps Σ_c x[i, iy, ix, c] · filter[i, ky, kx, c] + bias[i] (bias 0: none).
  (func (export "itemChannelConv")
    (param $x i32) (param $filter i32) (param $bias i32) (param $out i32)   ;; byte offsets
    (param $batch i32) (param $inHeight i32) (param $inWidth i32) (param $channels i32)
    (param $outHeight i32) (param $outWidth i32) (param $kernelHeight i32) (param $kernelWidth i32)
    (param $strideHeight i32) (param $strideWidth i32) (param $dilationHeight i32) (param $dilationWidth i32)
    (param $padTop i32) (param $padLeft i32)
    (local $channelBytes i32) (local $item i32) (local $xItem i32) (local $filterItem i32)
    (local $oy i32) (local $ox i32) (local $ky i32) (local $kx i32) (local $iy i32)
    (local $runStart i32) (local $runEnd i32) (local $next i32)
    (local $xp i32) (local $fp i32) (local $end i32)
    (local $acc0 v128) (local $acc1 v128) (local $acc2 v128) (local $acc3 v128) (local $tail f32) (local $itemBias f32)
    (local.set $channelBytes (i32.shl (local.get $channels) (i32.const 2)))
    (block $itemsDone (loop $items
      (br_if $itemsDone (i32.ge_u (local.get $item) (local.get $batch)))
      (local.set $xItem (i32.add (local.get $x)
        (i32.mul (local.get $item) (i32.mul (i32.mul (local.get $inHeight) (local.get $inWidth)) (local.get $channelBytes)))))
      (local.set $filterItem (i32.add (local.get $filter)
        (i32.mul (local.get $item) (i32.mul (i32.mul (local.get $kernelHeight) (local.get $kernelWidth)) (local.get $channelBytes)))))
      (local.set $itemBias (if (result f32) (local.get $bias)
        (then (f32.load (i32.add (local.get $bias) (i32.shl (local.get $item) (i32.const 2)))))
        (else (f32.const 0))))
      (local.set $oy (i32.const 0))
      (block $rowsDone (loop $rows
        (br_if $rowsDone (i32.ge_u (local.get $oy) (local.get $outHeight)))
        (local.set $ox (i32.const 0))
        (block $colsDone (loop $cols
          (br_if $colsDone (i32.ge_u (local.get $ox) (local.get $outWidth)))
          (local.set $acc0 (v128.const i32x4 0 0 0 0))
          (local.set $acc1 (v128.const i32x4 0 0 0 0))
          (local.set $acc2 (v128.const i32x4 0 0 0 0))
          (local.set $acc3 (v128.const i32x4 0 0 0 0))
          (local.set $tail (f32.const 0))
          (local.set $ky (i32.const 0))
          (block $tapRowsDone (loop $tapRows
            (br_if $tapRowsDone (i32.ge_u (local.get $ky) (local.get $kernelHeight)))
            (local.set $iy (i32.add (i32.sub (i32.mul (local.get $oy) (local.get $strideHeight)) (local.get $padTop))
              (i32.mul (local.get $ky) (local.get $dilationHeight))))
            ;; Unsigned: a negative row is a large number, outside too.
            (if (i32.lt_u (local.get $iy) (local.get $inHeight)) (then
              (local.set $kx (i32.const 0))
              (block $runsDone (loop $runs
                (br_if $runsDone (i32.ge_u (local.get $kx) (local.get $kernelWidth)))
                (call $run (local.get $kx) (local.get $ox) (local.get $kernelWidth) (local.get $inWidth)
                  (local.get $strideWidth) (local.get $dilationWidth) (local.get $padLeft))
                (local.set $next) (local.set $runEnd) (local.set $runStart)
                (if (i32.gt_s (local.get $runEnd) (local.get $runStart)) (then
                  ;; x[i, iy, left + runStart·dilation, 0] and filter[i, ky, runStart, 0], (end − start)·C values.
                  (local.set $xp (i32.add (local.get $xItem) (i32.mul (local.get $channelBytes)
                    (i32.add (i32.mul (local.get $iy) (local.get $inWidth))
                      (i32.add (i32.sub (i32.mul (local.get $ox) (local.get $strideWidth)) (local.get $padLeft))
                        (i32.mul (local.get $runStart) (local.get $dilationWidth)))))))
                  (local.set $fp (i32.add (local.get $filterItem) (i32.mul (local.get $channelBytes)
                    (i32.add (i32.mul (local.get $ky) (local.get $kernelWidth)) (local.get $runStart)))))
                  (local.set $end (i32.add (local.get $xp)
                    (i32.mul (i32.sub (local.get $runEnd) (local.get $runStart)) (local.get $channelBytes))))
                  (block $sixteensDone (loop $sixteens
                    (br_if $sixteensDone (i32.gt_u (i32.add (local.get $xp) (i32.const 64)) (local.get $end)))
                    (local.set $acc0 (f32x4.add (local.get $acc0) (f32x4.mul (v128.load (local.get $xp)) (v128.load (local.get $fp)))))
                    (local.set $acc1 (f32x4.add (local.get $acc1) (f32x4.mul (v128.load offset=16 (local.get $xp)) (v128.load offset=16 (local.get $fp)))))
                    (local.set $acc2 (f32x4.add (local.get $acc2) (f32x4.mul (v128.load offset=32 (local.get $xp)) (v128.load offset=32 (local.get $fp)))))
                    (local.set $acc3 (f32x4.add (local.get $acc3) (f32x4.mul (v128.load offset=48 (local.get $xp)) (v128.load offset=48 (local.get $fp)))))
                    (local.set $xp (i32.add (local.get $xp) (i32.const 64)))
                    (local.set $fp (i32.add (local.get $fp) (i32.const 64)))
                    (br $sixteens)))
                  (block $foursDone (loop $fours
                    (br_if $foursDone (i32.gt_u (i32.add (local.get $xp) (i32.const 16)) (local.get $end)))
                    (local.set $acc0 (f32x4.add (local.get $acc0) (f32x4.mul (v128.load (local.get $xp)) (v128.load (local.get $fp)))))
                    (local.set $xp (i32.add (local.get $xp) (i32.const 16)))
                    (local.set $fp (i32.add (local.get $fp) (i32.const 16)))
                    (br $fours)))
                  (block $onesDone (loop $ones
                    (br_if $onesDone (i32.ge_u (local.get $xp) (local.get $end)))
                    (local.set $tail (f32.add (local.get $tail) (f32.mul (f32.load (local.get $xp)) (f32.load (local.get $fp)))))
                    (local.set $xp (i32.add (local.get $xp) (i32.const 4)))
                    (local.set $fp (i32.add (local.get $fp) (i32.const 4)))
                    (br $ones)))))
                (local.set $kx (local.get $next))
                (br $runs)))))
            (local.set $ky (i32.add (local.get $ky) (i32.const 1)))
            (br $tapRows)))
          (local.set $acc0 (f32x4.add (f32x4.add (local.get $acc0) (local.get $acc1)) (f32x4.add (local.get $acc2) (local.get $acc3))))
          (f32.store (local.get $out)
            (f32.add
              (f32.add
                (f32.add (f32.add (f32x4.extract_lane 0 (local.get $acc0)) (f32x4.extract_lane 1 (local.get $acc0)))
                         (f32.add (f32x4.extract_lane 2 (local.get $acc0)) (f32x4.extract_lane 3 (local.get $acc0))))
                (local.get $tail))
              (local.get $itemBias)))
          (local.set $out (i32.add (local.get $out) (i32.const 4)))
          (local.set $ox (i32.add (local.get $ox) (i32.const 1)))
          (br $cols)))
        (local.set $oy (i32.add (local.get $oy) (i32.const 1)))
        (br $rows)))
      (local.set $item (i32.add (local.get $item) (i32.const 1)))
      (br $items))))

  ;; The gradient with respect to x: dx[i, iy, ix, c] = Σ over the (output, tap) pairs that read
  ;; (iy, ix) of dy[i, oy, ox] · filter[i, ky, kx, c]. Zeroes dx first, then adds output by output.
  (func (export "itemChannelConvBackpropInput")
    (param $dy i32) (param $filter i32) (param $dx i32)   ;; byte offsets
    (param $batch i32) (param $inHeight i32) (param $inWidth i32) (param $channels i32)
    (param $outHeight i32) (param $outWidth i32) (param $kernelHeight i32) (param $kernelWidth i32)
    (param $strideHeight i32) (param $strideWidth i32) (param $dilationHeight i32) (param $dilationWidth i32)
    (param $padTop i32) (param $padLeft i32)
    (local $channelBytes i32) (local $item i32) (local $dxItem i32) (local $filterItem i32)
    (local $oy i32) (local $ox i32) (local $ky i32) (local $kx i32) (local $iy i32)
    (local $runStart i32) (local $runEnd i32) (local $next i32)
    (local $xp i32) (local $fp i32) (local $end i32)
    (local $g v128) (local $gScalar f32)
    (local.set $channelBytes (i32.shl (local.get $channels) (i32.const 2)))
    ;; dx = 0: vectors, then the last 0–3 values.
    (local.set $end (i32.add (local.get $dx)
      (i32.mul (i32.mul (local.get $batch) (i32.mul (local.get $inHeight) (local.get $inWidth))) (local.get $channelBytes))))
    (local.set $xp (local.get $dx))
    (block $zeroVectorsDone (loop $zeroVectors
      (br_if $zeroVectorsDone (i32.gt_u (i32.add (local.get $xp) (i32.const 16)) (local.get $end)))
      (v128.store (local.get $xp) (v128.const i32x4 0 0 0 0))
      (local.set $xp (i32.add (local.get $xp) (i32.const 16)))
      (br $zeroVectors)))
    (block $zeroScalarsDone (loop $zeroScalars
      (br_if $zeroScalarsDone (i32.ge_u (local.get $xp) (local.get $end)))
      (f32.store (local.get $xp) (f32.const 0))
      (local.set $xp (i32.add (local.get $xp) (i32.const 4)))
      (br $zeroScalars)))
    (block $itemsDone (loop $items
      (br_if $itemsDone (i32.ge_u (local.get $item) (local.get $batch)))
      (local.set $dxItem (i32.add (local.get $dx)
        (i32.mul (local.get $item) (i32.mul (i32.mul (local.get $inHeight) (local.get $inWidth)) (local.get $channelBytes)))))
      (local.set $filterItem (i32.add (local.get $filter)
        (i32.mul (local.get $item) (i32.mul (i32.mul (local.get $kernelHeight) (local.get $kernelWidth)) (local.get $channelBytes)))))
      (local.set $oy (i32.const 0))
      (block $rowsDone (loop $rows
        (br_if $rowsDone (i32.ge_u (local.get $oy) (local.get $outHeight)))
        (local.set $ox (i32.const 0))
        (block $colsDone (loop $cols
          (br_if $colsDone (i32.ge_u (local.get $ox) (local.get $outWidth)))
          (local.set $gScalar (f32.load (local.get $dy)))
          (local.set $g (f32x4.splat (local.get $gScalar)))
          (local.set $ky (i32.const 0))
          (block $tapRowsDone (loop $tapRows
            (br_if $tapRowsDone (i32.ge_u (local.get $ky) (local.get $kernelHeight)))
            (local.set $iy (i32.add (i32.sub (i32.mul (local.get $oy) (local.get $strideHeight)) (local.get $padTop))
              (i32.mul (local.get $ky) (local.get $dilationHeight))))
            (if (i32.lt_u (local.get $iy) (local.get $inHeight)) (then
              (local.set $kx (i32.const 0))
              (block $runsDone (loop $runs
                (br_if $runsDone (i32.ge_u (local.get $kx) (local.get $kernelWidth)))
                (call $run (local.get $kx) (local.get $ox) (local.get $kernelWidth) (local.get $inWidth)
                  (local.get $strideWidth) (local.get $dilationWidth) (local.get $padLeft))
                (local.set $next) (local.set $runEnd) (local.set $runStart)
                (if (i32.gt_s (local.get $runEnd) (local.get $runStart)) (then
                  (local.set $xp (i32.add (local.get $dxItem) (i32.mul (local.get $channelBytes)
                    (i32.add (i32.mul (local.get $iy) (local.get $inWidth))
                      (i32.add (i32.sub (i32.mul (local.get $ox) (local.get $strideWidth)) (local.get $padLeft))
                        (i32.mul (local.get $runStart) (local.get $dilationWidth)))))))
                  (local.set $fp (i32.add (local.get $filterItem) (i32.mul (local.get $channelBytes)
                    (i32.add (i32.mul (local.get $ky) (local.get $kernelWidth)) (local.get $runStart)))))
                  (local.set $end (i32.add (local.get $xp)
                    (i32.mul (i32.sub (local.get $runEnd) (local.get $runStart)) (local.get $channelBytes))))
                  (block $sixteensDone (loop $sixteens
                    (br_if $sixteensDone (i32.gt_u (i32.add (local.get $xp) (i32.const 64)) (local.get $end)))
                    (v128.store (local.get $xp)
                      (f32x4.add (v128.load (local.get $xp)) (f32x4.mul (local.get $g) (v128.load (local.get $fp)))))
                    (v128.store offset=16 (local.get $xp)
                      (f32x4.add (v128.load offset=16 (local.get $xp)) (f32x4.mul (local.get $g) (v128.load offset=16 (local.get $fp)))))
                    (v128.store offset=32 (local.get $xp)
                      (f32x4.add (v128.load offset=32 (local.get $xp)) (f32x4.mul (local.get $g) (v128.load offset=32 (local.get $fp)))))
                    (v128.store offset=48 (local.get $xp)
                      (f32x4.add (v128.load offset=48 (local.get $xp)) (f32x4.mul (local.get $g) (v128.load offset=48 (local.get $fp)))))
                    (local.set $xp (i32.add (local.get $xp) (i32.const 64)))
                    (local.set $fp (i32.add (local.get $fp) (i32.const 64)))
                    (br $sixteens)))
                  (block $foursDone (loop $fours
                    (br_if $foursDone (i32.gt_u (i32.add (local.get $xp) (i32.const 16)) (local.get $end)))
                    (v128.store (local.get $xp)
                      (f32x4.add (v128.load (local.get $xp)) (f32x4.mul (local.get $g) (v128.load (local.get $fp)))))
                    (local.set $xp (i32.add (local.get $xp) (i32.const 16)))
                    (local.set $fp (i32.add (local.get $fp) (i32.const 16)))
                    (br $fours)))
                  (block $onesDone (loop $ones
                    (br_if $onesDone (i32.ge_u (local.get $xp) (local.get $end)))
                    (f32.store (local.get $xp)
                      (f32.add (f32.load (local.get $xp)) (f32.mul (local.get $gScalar) (f32.load (local.get $fp)))))
                    (local.set $xp (i32.add (local.get $xp) (i32.const 4)))
                    (local.set $fp (i32.add (local.get $fp) (i32.const 4)))
                    (br $ones)))))
                (local.set $kx (local.get $next))
                (br $runs)))))
            (local.set $ky (i32.add (local.get $ky) (i32.const 1)))
            (br $tapRows)))
          (local.set $dy (i32.add (local.get $dy) (i32.const 4)))
          (local.set $ox (i32.add (local.get $ox) (i32.const 1)))
          (br $cols)))
        (local.set $oy (i32.add (local.get $oy) (i32.const 1)))
        (br $rows)))
      (local.set $item (i32.add (local.get $item) (i32.const 1)))
      (br $items)))))
