;; The gradient of ReLU, dx = dy · step(x), in one pass with WebAssembly SIMD, four values at a time.
;; Compiled by scripts/build-wasm-kernels.ts into relu-grad.wasm.ts (the bytes, base64). The memory is
;; imported: tfjs-backend-wasm's own heap, so the kernel reads x and dy and writes dx where the
;; tensors live (relu-grad.ts).
;;
;; Semantics are tfjs's ReLU gradient, `mul(dy, cast(step(x), 'float32'))`, bit for bit: step(x) is 1
;; where x > 0, NaN where x is NaN, else 0, and the product keeps its IEEE behaviour (−0 for a negative
;; dy times 0, NaN for an infinite dy times 0).
(module
  (import "env" "memory" (memory 1))
  (func (export "reluGrad")
    (param $x i32) (param $dy i32) (param $dx i32) (param $count i32)   ;; byte offsets; count in values
    (local $end i32) (local $vectorEnd i32) (local $toDy i32) (local $toDx i32)
    (local $v v128) (local $step v128) (local $ones v128) (local $zeros v128)
    (local $value f32) (local $scalarStep f32)
    (local.set $end (i32.add (local.get $x) (i32.shl (local.get $count) (i32.const 2))))
    (local.set $vectorEnd (i32.add (local.get $x) (i32.shl (i32.and (local.get $count) (i32.const -4)) (i32.const 2))))
    (local.set $toDy (i32.sub (local.get $dy) (local.get $x)))
    (local.set $toDx (i32.sub (local.get $dx) (local.get $x)))
    (local.set $ones (f32x4.splat (f32.const 1)))
    (local.set $zeros (f32x4.splat (f32.const 0)))
    (block $vectorsDone
      (loop $vectors
        (br_if $vectorsDone (i32.ge_u (local.get $x) (local.get $vectorEnd)))
        (local.set $v (v128.load (local.get $x)))
        ;; 1 where v > 0, else 0; then v itself (NaN) where v is NaN (v ≠ v).
        (local.set $step (v128.and (f32x4.gt (local.get $v) (local.get $zeros)) (local.get $ones)))
        (local.set $step (v128.bitselect (local.get $v) (local.get $step) (f32x4.ne (local.get $v) (local.get $v))))
        (v128.store (i32.add (local.get $x) (local.get $toDx))
          (f32x4.mul (v128.load (i32.add (local.get $x) (local.get $toDy))) (local.get $step)))
        (local.set $x (i32.add (local.get $x) (i32.const 16)))
        (br $vectors)))
    (block $scalarsDone
      (loop $scalars
        (br_if $scalarsDone (i32.ge_u (local.get $x) (local.get $end)))
        (local.set $value (f32.load (local.get $x)))
        (local.set $scalarStep
          (select (local.get $value)
            (select (f32.const 1) (f32.const 0) (f32.gt (local.get $value) (f32.const 0)))
            (f32.ne (local.get $value) (local.get $value))))
        (f32.store (i32.add (local.get $x) (local.get $toDx))
          (f32.mul (f32.load (i32.add (local.get $x) (local.get $toDy))) (local.get $scalarStep)))
        (local.set $x (i32.add (local.get $x) (i32.const 4)))
        (br $scalars)))))
