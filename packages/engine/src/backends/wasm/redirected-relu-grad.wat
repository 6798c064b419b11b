;; Lucid's redirected ReLU gradient (optimizers/redirected-relu-gradient.ts) in two SIMD passes per
;; batch item, four values at a time. Compiled by scripts/build-wasm-kernels.ts into
;; redirected-relu-grad.wasm.ts; the memory is tfjs-backend-wasm's heap (redirected-relu-grad.ts).
;;
;; The same f32 operations in the same order as the tfjs formula it replaces, bit for bit:
;;   below    = step(−x)                     (1 where x < 0, NaN where x is NaN, else 0)
;;   ordinary = dy − dy·below
;;   stuck    = 1 − step(Σ |ordinary|)       (per item: 1 when nothing gets through)
;;   dx       = ordinary + (below·(dy − relu(dy)))·stuck,   relu(v) = v < 0 ? 0 : v
;; Only step(Σ) is used, so the sum's order does not matter (a sum of non-negative values is 0 only
;; when every value is, and NaN propagates in any order). Pass 1 stores `ordinary` in dx; pass 2 adds.
(module
  (import "env" "memory" (memory 1))
  (func $step (param $v f32) (result f32)
    (select (local.get $v)
      (select (f32.const 1) (f32.const 0) (f32.gt (local.get $v) (f32.const 0)))
      (f32.ne (local.get $v) (local.get $v))))
  (func (export "redirectedReluGrad")
    (param $x i32) (param $dy i32) (param $dx i32) (param $items i32) (param $itemSize i32)
    (local $item i32) (local $i i32) (local $itemBytes i32) (local $vectorBytes i32)
    (local $xItem i32) (local $dyItem i32) (local $dxItem i32)
    (local $zeros v128) (local $ones v128) (local $acc v128) (local $v v128) (local $g v128) (local $below v128)
    (local $ordinary v128) (local $stuckV v128)
    (local $sum f32) (local $stuck f32) (local $xs f32) (local $gs f32) (local $bs f32) (local $os f32)
    (local.set $zeros (f32x4.splat (f32.const 0)))
    (local.set $ones (f32x4.splat (f32.const 1)))
    (local.set $itemBytes (i32.shl (local.get $itemSize) (i32.const 2)))
    (local.set $vectorBytes (i32.shl (i32.and (local.get $itemSize) (i32.const -4)) (i32.const 2)))
    (block $itemsDone (loop $itemLoop
      (br_if $itemsDone (i32.ge_u (local.get $item) (local.get $items)))
      (local.set $xItem (i32.add (local.get $x) (i32.mul (local.get $item) (local.get $itemBytes))))
      (local.set $dyItem (i32.add (local.get $dy) (i32.mul (local.get $item) (local.get $itemBytes))))
      (local.set $dxItem (i32.add (local.get $dx) (i32.mul (local.get $item) (local.get $itemBytes))))
      ;; Pass 1: ordinary into dx, Σ|ordinary| into acc (lanes) and sum (tail).
      (local.set $acc (local.get $zeros))
      (local.set $sum (f32.const 0))
      (local.set $i (i32.const 0))
      (block $v1Done (loop $v1
        (br_if $v1Done (i32.ge_u (local.get $i) (local.get $vectorBytes)))
        (local.set $v (f32x4.neg (v128.load (i32.add (local.get $xItem) (local.get $i)))))
        (local.set $below (v128.bitselect (local.get $v)
          (v128.and (f32x4.gt (local.get $v) (local.get $zeros)) (local.get $ones))
          (f32x4.ne (local.get $v) (local.get $v))))
        (local.set $g (v128.load (i32.add (local.get $dyItem) (local.get $i))))
        (local.set $ordinary (f32x4.sub (local.get $g) (f32x4.mul (local.get $g) (local.get $below))))
        (v128.store (i32.add (local.get $dxItem) (local.get $i)) (local.get $ordinary))
        (local.set $acc (f32x4.add (local.get $acc) (f32x4.abs (local.get $ordinary))))
        (local.set $i (i32.add (local.get $i) (i32.const 16)))
        (br $v1)))
      (block $s1Done (loop $s1
        (br_if $s1Done (i32.ge_u (local.get $i) (local.get $itemBytes)))
        (local.set $bs (call $step (f32.neg (f32.load (i32.add (local.get $xItem) (local.get $i))))))
        (local.set $gs (f32.load (i32.add (local.get $dyItem) (local.get $i))))
        (local.set $os (f32.sub (local.get $gs) (f32.mul (local.get $gs) (local.get $bs))))
        (f32.store (i32.add (local.get $dxItem) (local.get $i)) (local.get $os))
        (local.set $sum (f32.add (local.get $sum) (f32.abs (local.get $os))))
        (local.set $i (i32.add (local.get $i) (i32.const 4)))
        (br $s1)))
      (local.set $sum (f32.add (local.get $sum)
        (f32.add
          (f32.add (f32x4.extract_lane 0 (local.get $acc)) (f32x4.extract_lane 1 (local.get $acc)))
          (f32.add (f32x4.extract_lane 2 (local.get $acc)) (f32x4.extract_lane 3 (local.get $acc))))))
      (local.set $stuck (f32.sub (f32.const 1) (call $step (local.get $sum))))
      (local.set $stuckV (f32x4.splat (local.get $stuck)))
      ;; Pass 2: dx = ordinary + (below·(dy − relu(dy)))·stuck.
      (local.set $i (i32.const 0))
      (block $v2Done (loop $v2
        (br_if $v2Done (i32.ge_u (local.get $i) (local.get $vectorBytes)))
        (local.set $v (f32x4.neg (v128.load (i32.add (local.get $xItem) (local.get $i)))))
        (local.set $below (v128.bitselect (local.get $v)
          (v128.and (f32x4.gt (local.get $v) (local.get $zeros)) (local.get $ones))
          (f32x4.ne (local.get $v) (local.get $v))))
        (local.set $g (v128.load (i32.add (local.get $dyItem) (local.get $i))))
        (v128.store (i32.add (local.get $dxItem) (local.get $i))
          (f32x4.add (v128.load (i32.add (local.get $dxItem) (local.get $i)))
            (f32x4.mul
              (f32x4.mul (local.get $below)
                (f32x4.sub (local.get $g) (v128.bitselect (local.get $zeros) (local.get $g) (f32x4.lt (local.get $g) (local.get $zeros)))))
              (local.get $stuckV))))
        (local.set $i (i32.add (local.get $i) (i32.const 16)))
        (br $v2)))
      (block $s2Done (loop $s2
        (br_if $s2Done (i32.ge_u (local.get $i) (local.get $itemBytes)))
        (local.set $bs (call $step (f32.neg (f32.load (i32.add (local.get $xItem) (local.get $i))))))
        (local.set $gs (f32.load (i32.add (local.get $dyItem) (local.get $i))))
        (f32.store (i32.add (local.get $dxItem) (local.get $i))
          (f32.add (f32.load (i32.add (local.get $dxItem) (local.get $i)))
            (f32.mul
              (f32.mul (local.get $bs)
                (f32.sub (local.get $gs) (select (f32.const 0) (local.get $gs) (f32.lt (local.get $gs) (f32.const 0)))))
              (local.get $stuck))))
        (local.set $i (i32.add (local.get $i) (i32.const 4)))
        (br $s2)))
      (local.set $item (i32.add (local.get $item) (i32.const 1)))
      (br $itemLoop)))))
