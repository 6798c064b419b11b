;; MaxPoolGrad for the common 2×2, stride-2 max pooling whose windows lie inside the input, NHWC,
;; float32, the channel count a multiple of 4: four channels at a time with WebAssembly SIMD.
;; Compiled by scripts/build-wasm-kernels.ts into max-pool-grad-2x2.wasm.ts (the bytes, base64).
;; The memory is imported: tfjs-backend-wasm's own heap, so the kernel reads x and dy and writes dx
;; where the tensors live (no copies), or a memory of its own where that heap cannot be had.
;;
;; Semantics are those of TensorFlow's and tfjs's CPU kernel: each window's gradient goes to the first
;; largest of its four inputs in row-major order (top-left, top-right, bottom-left, bottom-right);
;; NaN never wins, and a window with no input above −∞ gets no gradient. The pairwise tournament below
;; picks the same input as that sequential scan: strict > keeps the earlier input of a tied pair, and
;; the top pair wins a tie against the bottom pair.
;;
;; Every input position under a window is written (the gradient or 0); positions under no window
;; (a last odd row or column) are left as they are, so the caller zero-fills dx when there are any.
(module
  (import "env" "memory" (memory 1))
  (func (export "maxPoolGrad2x2")
    (param $x i32) (param $dy i32) (param $dx i32)           ;; byte offsets in the memory
    (param $batch i32) (param $inHeight i32) (param $inWidth i32) (param $channels i32)
    (param $outHeight i32) (param $outWidth i32)
    (local $channelBytes i32) (local $rowBytes i32) (local $toDx i32)
    (local $b i32) (local $outY i32) (local $outX i32) (local $c i32)
    (local $rowStart i32) (local $topLeft i32) (local $p i32) (local $q i32) (local $g i32)
    (local $a0 v128) (local $a1 v128) (local $a2 v128) (local $a3 v128)
    (local $gt1 v128) (local $gt3 v128) (local $top v128) (local $bottom v128) (local $r v128)
    (local $gradient v128) (local $negInf v128)
    (local.set $channelBytes (i32.shl (local.get $channels) (i32.const 2)))
    (local.set $rowBytes (i32.mul (local.get $inWidth) (local.get $channelBytes)))
    (local.set $toDx (i32.sub (local.get $dx) (local.get $x)))
    (local.set $negInf (f32x4.splat (f32.const -inf)))
    (local.set $g (local.get $dy))
    (local.set $b (i32.const 0))
    (block $batchDone (loop $batchLoop
      (br_if $batchDone (i32.ge_u (local.get $b) (local.get $batch)))
      (local.set $outY (i32.const 0))
      (block $rowsDone (loop $rowLoop
        (br_if $rowsDone (i32.ge_u (local.get $outY) (local.get $outHeight)))
        ;; x + ((b·inHeight + 2·outY)·inWidth)·channels·4
        (local.set $rowStart (i32.add (local.get $x)
          (i32.mul (local.get $rowBytes)
            (i32.add (i32.mul (local.get $b) (local.get $inHeight)) (i32.shl (local.get $outY) (i32.const 1))))))
        (local.set $outX (i32.const 0))
        (block $colsDone (loop $colLoop
          (br_if $colsDone (i32.ge_u (local.get $outX) (local.get $outWidth)))
          (local.set $topLeft (i32.add (local.get $rowStart)
            (i32.mul (i32.shl (local.get $outX) (i32.const 1)) (local.get $channelBytes))))
          (local.set $c (i32.const 0))
          (block $channelsDone (loop $channelLoop
            (br_if $channelsDone (i32.ge_u (local.get $c) (local.get $channelBytes)))
            (local.set $p (i32.add (local.get $topLeft) (local.get $c)))
            ;; The four taps, NaN replaced by −∞ (so it never wins a comparison).
            (local.set $a0 (v128.load (local.get $p)))
            (local.set $a1 (v128.load (i32.add (local.get $p) (local.get $channelBytes))))
            (local.set $a2 (v128.load (i32.add (local.get $p) (local.get $rowBytes))))
            (local.set $a3 (v128.load (i32.add (i32.add (local.get $p) (local.get $rowBytes)) (local.get $channelBytes))))
            (local.set $a0 (v128.bitselect (local.get $a0) (local.get $negInf) (f32x4.eq (local.get $a0) (local.get $a0))))
            (local.set $a1 (v128.bitselect (local.get $a1) (local.get $negInf) (f32x4.eq (local.get $a1) (local.get $a1))))
            (local.set $a2 (v128.bitselect (local.get $a2) (local.get $negInf) (f32x4.eq (local.get $a2) (local.get $a2))))
            (local.set $a3 (v128.bitselect (local.get $a3) (local.get $negInf) (f32x4.eq (local.get $a3) (local.get $a3))))
            (local.set $gt1 (f32x4.gt (local.get $a1) (local.get $a0)))
            (local.set $top (v128.bitselect (local.get $a1) (local.get $a0) (local.get $gt1)))
            (local.set $gt3 (f32x4.gt (local.get $a3) (local.get $a2)))
            (local.set $bottom (v128.bitselect (local.get $a3) (local.get $a2) (local.get $gt3)))
            (local.set $r (f32x4.gt (local.get $bottom) (local.get $top)))
            ;; dy, masked to the lanes whose window has a largest input (> −∞).
            (local.set $gradient (v128.and (v128.load (local.get $g))
              (f32x4.gt (v128.bitselect (local.get $bottom) (local.get $top) (local.get $r)) (local.get $negInf))))
            (local.set $q (i32.add (local.get $p) (local.get $toDx)))
            (v128.store (local.get $q)
              (v128.andnot (v128.andnot (local.get $gradient) (local.get $r)) (local.get $gt1)))
            (v128.store (i32.add (local.get $q) (local.get $channelBytes))
              (v128.and (v128.andnot (local.get $gradient) (local.get $r)) (local.get $gt1)))
            (v128.store (i32.add (local.get $q) (local.get $rowBytes))
              (v128.andnot (v128.and (local.get $gradient) (local.get $r)) (local.get $gt3)))
            (v128.store (i32.add (i32.add (local.get $q) (local.get $rowBytes)) (local.get $channelBytes))
              (v128.and (v128.and (local.get $gradient) (local.get $r)) (local.get $gt3)))
            (local.set $g (i32.add (local.get $g) (i32.const 16)))
            (local.set $c (i32.add (local.get $c) (i32.const 16)))
            (br $channelLoop)))
          (local.set $outX (i32.add (local.get $outX) (i32.const 1)))
          (br $colLoop)))
        (local.set $outY (i32.add (local.get $outY) (i32.const 1)))
        (br $rowLoop)))
      (local.set $b (i32.add (local.get $b) (i32.const 1)))
      (br $batchLoop)))))
