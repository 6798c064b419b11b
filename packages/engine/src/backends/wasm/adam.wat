;; One Adam step (Kingma & Ba 2015) over a parameter tensor in one pass with WebAssembly SIMD, four
;; values at a time. Compiled by scripts/build-wasm-kernels.ts into adam.wasm.ts (the bytes, base64).
;; The memory is imported: tfjs-backend-wasm's own heap, so the kernel reads the value, both moments
;; and the gradient and writes the three new tensors where they live (adam.ts).
;;
;; Semantics are tfjs's AdamOptimizer.applyGradients (tfjs-core optimizers/adam_optimizer.ts), bit for
;; bit: the same f32 operations in the same order,
;;   m' = m·β1 + g·(1 − β1);  v' = v·β2 + g²·(1 − β2)
;;   value' = ((m' / (1 − β1ᵗ)) / (sqrt(v' / (1 − β2ᵗ)) + ε)) · (−lr) + value
;; with every constant passed as the f32 value tfjs's scalar tensors hold.
(module
  (import "env" "memory" (memory 1))
  (func (export "adam")
    (param $value i32) (param $m i32) (param $v i32) (param $g i32)          ;; byte offsets of the inputs
    (param $newValue i32) (param $newM i32) (param $newV i32)                 ;; and of the outputs
    (param $count i32)                                                         ;; values
    (param $beta1 f32) (param $oneMinusBeta1 f32) (param $beta2 f32) (param $oneMinusBeta2 f32)
    (param $oneMinusAccBeta1 f32) (param $oneMinusAccBeta2 f32) (param $epsilon f32) (param $negLearningRate f32)
    (local $i i32) (local $vectorEnd i32) (local $end i32)
    (local $gv v128) (local $mv v128) (local $vv v128)
    (local $gs f32) (local $ms f32) (local $vs f32)
    (local.set $end (i32.shl (local.get $count) (i32.const 2)))
    (local.set $vectorEnd (i32.shl (i32.and (local.get $count) (i32.const -4)) (i32.const 2)))
    (block $vectorsDone
      (loop $vectors
        (br_if $vectorsDone (i32.ge_u (local.get $i) (local.get $vectorEnd)))
        (local.set $gv (v128.load (i32.add (local.get $g) (local.get $i))))
        (local.set $mv (f32x4.add
          (f32x4.mul (v128.load (i32.add (local.get $m) (local.get $i))) (f32x4.splat (local.get $beta1)))
          (f32x4.mul (local.get $gv) (f32x4.splat (local.get $oneMinusBeta1)))))
        (local.set $vv (f32x4.add
          (f32x4.mul (v128.load (i32.add (local.get $v) (local.get $i))) (f32x4.splat (local.get $beta2)))
          (f32x4.mul (f32x4.mul (local.get $gv) (local.get $gv)) (f32x4.splat (local.get $oneMinusBeta2)))))
        (v128.store (i32.add (local.get $newM) (local.get $i)) (local.get $mv))
        (v128.store (i32.add (local.get $newV) (local.get $i)) (local.get $vv))
        (v128.store (i32.add (local.get $newValue) (local.get $i))
          (f32x4.add
            (f32x4.mul
              (f32x4.div
                (f32x4.div (local.get $mv) (f32x4.splat (local.get $oneMinusAccBeta1)))
                (f32x4.add
                  (f32x4.sqrt (f32x4.div (local.get $vv) (f32x4.splat (local.get $oneMinusAccBeta2))))
                  (f32x4.splat (local.get $epsilon))))
              (f32x4.splat (local.get $negLearningRate)))
            (v128.load (i32.add (local.get $value) (local.get $i)))))
        (local.set $i (i32.add (local.get $i) (i32.const 16)))
        (br $vectors)))
    (block $scalarsDone
      (loop $scalars
        (br_if $scalarsDone (i32.ge_u (local.get $i) (local.get $end)))
        (local.set $gs (f32.load (i32.add (local.get $g) (local.get $i))))
        (local.set $ms (f32.add
          (f32.mul (f32.load (i32.add (local.get $m) (local.get $i))) (local.get $beta1))
          (f32.mul (local.get $gs) (local.get $oneMinusBeta1))))
        (local.set $vs (f32.add
          (f32.mul (f32.load (i32.add (local.get $v) (local.get $i))) (local.get $beta2))
          (f32.mul (f32.mul (local.get $gs) (local.get $gs)) (local.get $oneMinusBeta2))))
        (f32.store (i32.add (local.get $newM) (local.get $i)) (local.get $ms))
        (f32.store (i32.add (local.get $newV) (local.get $i)) (local.get $vs))
        (f32.store (i32.add (local.get $newValue) (local.get $i))
          (f32.add
            (f32.mul
              (f32.div
                (f32.div (local.get $ms) (local.get $oneMinusAccBeta1))
                (f32.add (f32.sqrt (f32.div (local.get $vs) (local.get $oneMinusAccBeta2))) (local.get $epsilon)))
              (local.get $negLearningRate))
            (f32.load (i32.add (local.get $value) (local.get $i)))))
        (local.set $i (i32.add (local.get $i) (i32.const 4)))
        (br $scalars)))))
