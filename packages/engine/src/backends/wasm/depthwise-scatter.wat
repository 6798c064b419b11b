;; The input gradient of a strided depthwise convolution (channel multiplier 1), NHWC, float32, by
;; scattering: each dy pixel adds dy · filter[tap] to the dx pixel every tap read, channels four at a
;; time with WebAssembly SIMD, then one at a time for C mod 4 (depthwise-conv2d-backprop-input.ts).
;; Compiled by scripts/build-wasm-kernels.ts into depthwise-scatter.wasm.ts (the bytes, base64). The
;; memory is imported: tfjs-backend-wasm's own heap, so the kernel reads dy and the filter and writes
;; dx where the tensors live.
;;
;; Why scatter: the gather form (a forward depthwise convolution of the stride-dilated dy) multiplies
;; s² times as many values, most of them the dilation's zeros, after a pass that writes them.
;;
;; Geometry as tfjs's: input position = output position · stride − pad + tap · dilation; taps outside
;; the input are skipped. dx is zeroed first; the sums run in a fixed order.
(module
  (import "env" "memory" (memory 1))
  (func (export "depthwiseScatter")
    (param $dy i32) (param $filter i32) (param $dx i32)   ;; byte offsets
    (param $batch i32) (param $inHeight i32) (param $inWidth i32) (param $channels i32)
    (param $outHeight i32) (param $outWidth i32) (param $kernelHeight i32) (param $kernelWidth i32)
    (param $strideHeight i32) (param $strideWidth i32) (param $dilationHeight i32) (param $dilationWidth i32)
    (param $padTop i32) (param $padLeft i32)
    (local $channelBytes i32) (local $b i32) (local $dxImage i32)
    (local $oy i32) (local $ox i32) (local $ky i32) (local $kx i32) (local $iy i32) (local $ix i32)
    (local $xp i32) (local $fp i32) (local $gp i32) (local $end i32)
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
    (block $imagesDone (loop $images
      (br_if $imagesDone (i32.ge_u (local.get $b) (local.get $batch)))
      (local.set $dxImage (i32.add (local.get $dx)
        (i32.mul (local.get $b) (i32.mul (i32.mul (local.get $inHeight) (local.get $inWidth)) (local.get $channelBytes)))))
      (local.set $oy (i32.const 0))
      (block $rowsDone (loop $rows
        (br_if $rowsDone (i32.ge_u (local.get $oy) (local.get $outHeight)))
        (local.set $ox (i32.const 0))
        (block $colsDone (loop $cols
          (br_if $colsDone (i32.ge_u (local.get $ox) (local.get $outWidth)))
          (local.set $ky (i32.const 0))
          (block $tapRowsDone (loop $tapRows
            (br_if $tapRowsDone (i32.ge_u (local.get $ky) (local.get $kernelHeight)))
            (local.set $iy (i32.add (i32.sub (i32.mul (local.get $oy) (local.get $strideHeight)) (local.get $padTop))
              (i32.mul (local.get $ky) (local.get $dilationHeight))))
            ;; Unsigned: a negative row is a large number, outside too.
            (if (i32.lt_u (local.get $iy) (local.get $inHeight)) (then
              (local.set $kx (i32.const 0))
              (block $tapsDone (loop $taps
                (br_if $tapsDone (i32.ge_u (local.get $kx) (local.get $kernelWidth)))
                (local.set $ix (i32.add (i32.sub (i32.mul (local.get $ox) (local.get $strideWidth)) (local.get $padLeft))
                  (i32.mul (local.get $kx) (local.get $dilationWidth))))
                (if (i32.lt_u (local.get $ix) (local.get $inWidth)) (then
                  ;; dx[b, iy, ix, :] += dy[b, oy, ox, :] · filter[ky, kx, :]
                  (local.set $xp (i32.add (local.get $dxImage)
                    (i32.mul (i32.add (i32.mul (local.get $iy) (local.get $inWidth)) (local.get $ix)) (local.get $channelBytes))))
                  (local.set $fp (i32.add (local.get $filter)
                    (i32.mul (i32.add (i32.mul (local.get $ky) (local.get $kernelWidth)) (local.get $kx)) (local.get $channelBytes))))
                  (local.set $gp (local.get $dy))
                  (local.set $end (i32.add (local.get $xp) (local.get $channelBytes)))
                  (block $sixteensDone (loop $sixteens
                    (br_if $sixteensDone (i32.gt_u (i32.add (local.get $xp) (i32.const 64)) (local.get $end)))
                    (v128.store (local.get $xp)
                      (f32x4.add (v128.load (local.get $xp)) (f32x4.mul (v128.load (local.get $gp)) (v128.load (local.get $fp)))))
                    (v128.store offset=16 (local.get $xp)
                      (f32x4.add (v128.load offset=16 (local.get $xp)) (f32x4.mul (v128.load offset=16 (local.get $gp)) (v128.load offset=16 (local.get $fp)))))
                    (v128.store offset=32 (local.get $xp)
                      (f32x4.add (v128.load offset=32 (local.get $xp)) (f32x4.mul (v128.load offset=32 (local.get $gp)) (v128.load offset=32 (local.get $fp)))))
                    (v128.store offset=48 (local.get $xp)
                      (f32x4.add (v128.load offset=48 (local.get $xp)) (f32x4.mul (v128.load offset=48 (local.get $gp)) (v128.load offset=48 (local.get $fp)))))
                    (local.set $xp (i32.add (local.get $xp) (i32.const 64)))
                    (local.set $fp (i32.add (local.get $fp) (i32.const 64)))
                    (local.set $gp (i32.add (local.get $gp) (i32.const 64)))
                    (br $sixteens)))
                  (block $foursDone (loop $fours
                    (br_if $foursDone (i32.gt_u (i32.add (local.get $xp) (i32.const 16)) (local.get $end)))
                    (v128.store (local.get $xp)
                      (f32x4.add (v128.load (local.get $xp)) (f32x4.mul (v128.load (local.get $gp)) (v128.load (local.get $fp)))))
                    (local.set $xp (i32.add (local.get $xp) (i32.const 16)))
                    (local.set $fp (i32.add (local.get $fp) (i32.const 16)))
                    (local.set $gp (i32.add (local.get $gp) (i32.const 16)))
                    (br $fours)))
                  (block $onesDone (loop $ones
                    (br_if $onesDone (i32.ge_u (local.get $xp) (local.get $end)))
                    (f32.store (local.get $xp)
                      (f32.add (f32.load (local.get $xp)) (f32.mul (f32.load (local.get $gp)) (f32.load (local.get $fp)))))
                    (local.set $xp (i32.add (local.get $xp) (i32.const 4)))
                    (local.set $fp (i32.add (local.get $fp) (i32.const 4)))
                    (local.set $gp (i32.add (local.get $gp) (i32.const 4)))
                    (br $ones)))))
                (local.set $kx (i32.add (local.get $kx) (i32.const 1)))
                (br $taps)))))
            (local.set $ky (i32.add (local.get $ky) (i32.const 1)))
            (br $tapRows)))
          (local.set $dy (i32.add (local.get $dy) (local.get $channelBytes)))
          (local.set $ox (i32.add (local.get $ox) (i32.const 1)))
          (br $cols)))
        (local.set $oy (i32.add (local.get $oy) (i32.const 1)))
        (br $rows)))
      (local.set $b (i32.add (local.get $b) (i32.const 1)))
      (br $images)))))
